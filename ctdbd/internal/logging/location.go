package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Errors of this package.
var (
	ErrBadLevel    = errors.New("invalid debug level")
	ErrBadLocation = errors.New("invalid log location")
)

// Kind says where log lines go.
type Kind int

// The destinations CTDB's [logging] location can name.
const (
	// KindFile appends to a file ("file:PATH").
	KindFile Kind = iota
	// KindStderr writes to standard error ("file:" or "file:-", CTDB's
	// spellings for foreground daemons and tests).
	KindStderr
	// KindSyslog sends to the system logger ("syslog[:METHOD]").
	KindSyslog
)

// SyslogMethod is how messages reach syslog.
type SyslogMethod string

// CTDB's syslog methods.
const (
	// SyslogBlocking writes to the local syslog socket and waits when it
	// is full, as syslog(3) does ("syslog").
	SyslogBlocking SyslogMethod = ""
	// SyslogNonblocking drops messages rather than wait when the local
	// socket is full, and later logs how many it dropped.
	SyslogNonblocking SyslogMethod = "nonblocking"
	// SyslogUDP sends RFC 3164 datagrams to localhost:514.
	SyslogUDP SyslogMethod = "udp"
	// SyslogUDPRFC5424 sends RFC 5424 datagrams to localhost:514.
	SyslogUDPRFC5424 SyslogMethod = "udp-rfc5424"
)

// Location is a parsed [logging] location.
type Location struct {
	Kind   Kind
	Path   string       // KindFile only
	Method SyslogMethod // KindSyslog only
}

// ParseLocation parses a CTDB log location: "file:PATH", "file:" or
// "file:-" (stderr), "syslog", "syslog:nonblocking", "syslog:udp" or
// "syslog:udp-rfc5424". It checks the syntax only; Validate also checks
// the file system.
func ParseLocation(s string) (Location, error) {
	name, option, _ := strings.Cut(s, ":")
	switch name {
	case "file":
		if option == "" || option == "-" {
			return Location{Kind: KindStderr}, nil
		}
		return Location{Kind: KindFile, Path: option}, nil
	case "syslog":
		switch m := SyslogMethod(option); m {
		case SyslogBlocking, SyslogNonblocking, SyslogUDP, SyslogUDPRFC5424:
			return Location{Kind: KindSyslog, Method: m}, nil
		}
		return Location{}, fmt.Errorf("%w: syslog method must be nonblocking, udp or udp-rfc5424", ErrBadLocation)
	}
	return Location{}, fmt.Errorf("%w: want file:PATH, file:-, syslog or syslog:METHOD", ErrBadLocation)
}

// Validate parses s and, as CTDB does, requires the directory of a log
// file to exist, so that a typo is reported when the configuration is
// read rather than when the daemon first logs.
func Validate(s string) (Location, error) {
	loc, err := ParseLocation(s)
	if err != nil {
		return Location{}, err
	}
	if loc.Kind == KindFile {
		dir := filepath.Dir(loc.Path)
		st, err := os.Stat(dir)
		if err != nil {
			return Location{}, fmt.Errorf("%w: log directory: %w", ErrBadLocation, err)
		}
		if !st.IsDir() {
			return Location{}, fmt.Errorf("%w: log directory %s is not a directory", ErrBadLocation, dir)
		}
	}
	return loc, nil
}

// String returns the location in ctdb.conf syntax.
func (l Location) String() string {
	switch l.Kind {
	case KindStderr:
		return "file:-"
	case KindSyslog:
		if l.Method == SyslogBlocking {
			return "syslog"
		}
		return "syslog:" + string(l.Method)
	default:
		return "file:" + l.Path
	}
}
