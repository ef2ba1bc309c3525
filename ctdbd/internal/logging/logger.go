package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultSyslogSocket = "/dev/log"
	DefaultSyslogUDP    = "127.0.0.1:514"
)

// Options says how New builds a Logger.
type Options struct {
	// Location is where lines go ([logging] location).
	Location Location
	// Level is the initial debug level ([logging] log level).
	Level Level
	// App names the program in line headers, e.g. "ctdbd".
	App string
	// Hostname is written in file and RFC 5424 headers. Empty means the
	// system's host name; CTDB in test mode uses the base name of
	// CTDB_BASE so that local daemons can be told apart.
	Hostname string
	// PID is written in headers; 0 means this process.
	PID int
	// Stderr receives KindStderr lines; nil means os.Stderr.
	Stderr io.Writer
	// SyslogSocket and SyslogUDP override the syslog endpoints (tests);
	// empty means DefaultSyslogSocket and DefaultSyslogUDP.
	SyslogSocket string
	SyslogUDP    string
	// Now, if set, replaces the records' time (tests).
	Now func() time.Time
}

// Logger is a *slog.Logger writing CTDB-style lines, with the handle to
// change its level at run time and to reopen its file. It is safe for
// concurrent use.
type Logger struct {
	*slog.Logger
	out   *output
	mu    sync.Mutex // keeps level and slogL in step across SetLevel calls
	slogL *slog.LevelVar
	level atomic.Int64
}

// New builds a Logger. Opening the log file or (except for plain
// syslog, which waits for a logger to appear) connecting to syslog must
// succeed.
func New(opts Options) (*Logger, error) {
	if !opts.Level.Valid() {
		return nil, fmt.Errorf("%w %d", ErrBadLevel, int(opts.Level))
	}
	id := ident{app: opts.App, host: opts.Hostname, pid: opts.PID}
	if id.pid == 0 {
		id.pid = os.Getpid()
	}
	if id.host == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "unknown"
		}
		id.host = h
	}
	var (
		s   sink
		err error
	)
	switch opts.Location.Kind {
	case KindFile:
		s, err = openFileSink(opts.Location.Path, id)
	case KindStderr:
		w := opts.Stderr
		if w == nil {
			w = os.Stderr
		}
		s = &stderrSink{w: w}
	case KindSyslog:
		s, err = newSyslogSink(opts.Location.Method,
			orDefault(opts.SyslogSocket, DefaultSyslogSocket),
			orDefault(opts.SyslogUDP, DefaultSyslogUDP), id)
	default:
		err = fmt.Errorf("%w: kind %d", ErrBadLocation, opts.Location.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("logging to %s: %w", opts.Location, err)
	}
	l := &Logger{out: &output{sink: s, now: opts.Now}, slogL: new(slog.LevelVar)}
	l.setLevel(opts.Level)
	l.Logger = slog.New(&handler{out: l.out, level: l.slogL})
	return l, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Level returns the current CTDB debug level (ctdb getdebug).
func (l *Logger) Level() Level { return Level(l.level.Load()) }

// SetLevel changes the debug level of every logger derived from l
// (ctdb setdebug).
func (l *Logger) SetLevel(lv Level) error {
	if !lv.Valid() {
		return fmt.Errorf("%w %d", ErrBadLevel, int(lv))
	}
	l.setLevel(lv)
	return nil
}

func (l *Logger) setLevel(lv Level) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.level.Store(int64(lv))
	l.slogL.Set(lv.Slog())
}

// Reopen reopens the log file by name (after rotation) or reconnects to
// syslog; for stderr it does nothing. The daemon calls it on SIGHUP.
func (l *Logger) Reopen() error { return l.out.reopen() }

// Close closes the destination; later records are dropped with an error.
func (l *Logger) Close() error { return l.out.close() }
