// Package logging builds the daemon's *slog.Logger from CTDB's
// [logging] settings: where the log goes (a file, stderr or syslog in
// its three CTDB flavours), CTDB's debug levels, and CTDB's line
// format, with runtime level changes (ctdb setdebug) and log file
// reopening for rotation.
package logging

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Level is a CTDB debug level: an integer from 0 to 10 of which five
// values have names (ERROR=0, WARNING=1, NOTICE=3, INFO=5, DEBUG=10).
// The other numbers are accepted wherever CTDB accepts them and behave
// like the next named level below them (2 is WARNING, 4 is NOTICE, 6 to
// 9 are INFO), which is also how CTDB prints them.
type Level int

// CTDB's named debug levels.
const (
	LevelError   Level = 0
	LevelWarning Level = 1
	LevelNotice  Level = 3
	LevelInfo    Level = 5
	LevelDebug   Level = 10
)

// maxLevel is the highest debug level CTDB accepts.
const maxLevel = 10

// SlogNotice is the slog level of CTDB's NOTICE, between slog's INFO and
// WARN, so that the messages an operator sees at CTDB's default level
// (NOTICE) are the ones a component logs with Log(ctx, SlogNotice, ...).
const SlogNotice = slog.Level(2)

// levelNames lists the names in the order CTDB matches abbreviations
// against them: "E" is ERROR, "N" NOTICE, "ERR" (CTDB's old spelling)
// ERROR.
var levelNames = [...]struct {
	name  string
	level Level
}{
	{"ERROR", LevelError},
	{"WARNING", LevelWarning},
	{"NOTICE", LevelNotice},
	{"INFO", LevelInfo},
	{"DEBUG", LevelDebug},
}

// ParseLevel parses a debug level as CTDB does: a number from 0 to 10,
// or a level name or any leading part of one, in any case ("info",
// "ERR", "W"). Unlike CTDB, trailing garbage after a number ("3x") is an
// error rather than ignored.
func ParseLevel(s string) (Level, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrBadLevel)
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil || n > maxLevel {
			return 0, fmt.Errorf("%w: numeric levels are 0 to %d", ErrBadLevel, maxLevel)
		}
		return Level(n), nil
	}
	for _, n := range levelNames {
		if len(s) <= len(n.name) && strings.EqualFold(n.name[:len(s)], s) {
			return n.level, nil
		}
	}
	return 0, fmt.Errorf("%w: want ERROR, WARNING, NOTICE, INFO, DEBUG or 0 to %d", ErrBadLevel, maxLevel)
}

// Valid reports whether l is a level CTDB accepts.
func (l Level) Valid() bool { return l >= 0 && l <= maxLevel }

// String returns the name CTDB prints for l (ctdb getdebug): the named
// level at or below it, or "UNKNOWN" outside 0..10.
func (l Level) String() string {
	if !l.Valid() {
		return "UNKNOWN"
	}
	return levelNames[l.rank()].name
}

// rank is the index in levelNames of the named level at or below l.
func (l Level) rank() int {
	switch {
	case l >= LevelDebug:
		return 4
	case l >= LevelInfo:
		return 3
	case l >= LevelNotice:
		return 2
	case l >= LevelWarning:
		return 1
	default:
		return 0
	}
}

// Slog returns the slog level at which records pass a CTDB level l:
// ERROR is slog's Error, WARNING Warn, NOTICE SlogNotice, INFO Info and
// DEBUG Debug.
func (l Level) Slog() slog.Level {
	return [...]slog.Level{slog.LevelError, slog.LevelWarn, SlogNotice, slog.LevelInfo, slog.LevelDebug}[l.rank()]
}

// LevelFromSlog returns the named CTDB level of a record logged at s.
func LevelFromSlog(s slog.Level) Level {
	switch {
	case s >= slog.LevelError:
		return LevelError
	case s >= slog.LevelWarn:
		return LevelWarning
	case s >= SlogNotice:
		return LevelNotice
	case s >= slog.LevelInfo:
		return LevelInfo
	default:
		return LevelDebug
	}
}

// syslogSeverity maps a CTDB level to a syslog severity the way CTDB's
// logging does (0 err, 1 warning, 2-5 notice, 6-9 info, above debug).
func (l Level) syslogSeverity() int {
	const (
		sevErr     = 3
		sevWarning = 4
		sevNotice  = 5
		sevInfo    = 6
		sevDebug   = 7
	)
	switch {
	case l <= LevelError:
		return sevErr
	case l == LevelWarning:
		return sevWarning
	case l <= LevelInfo:
		return sevNotice
	case l < LevelDebug:
		return sevInfo
	default:
		return sevDebug
	}
}
