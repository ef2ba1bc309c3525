// Package config reads CTDB 4.17's configuration so that an operator's
// existing files work unchanged: ctdb.conf (a typed registry modelled on
// CTDB's conf layer), the nodes file, ctdb.tunables and the tunables
// table, and the CTDB_BASE/CTDB_TEST_MODE path conventions.
//
// Where CTDB 4.17 silently ignores a mistake (a line without "=", text
// after a section header, an option of an unknown section), this package
// reports it; every error of a file names the file, the line and the
// option.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors; the errors returned wrap them (errors.Is).
var (
	ErrSyntax          = errors.New("syntax error")
	ErrUnknownSection  = errors.New("unknown section")
	ErrUnknownOption   = errors.New("unknown option")
	ErrInvalidValue    = errors.New("invalid value")
	ErrNotReloadable   = errors.New("cannot be changed by a reload, restart ctdbd to apply")
	ErrUnknownTunable  = errors.New("unknown tunable")
	ErrObsoleteTunable = errors.New("obsolete tunable")
	ErrDuplicateNode   = errors.New("duplicate node address")
	ErrNoNodes         = errors.New("no nodes")
	ErrNodeNotFound    = errors.New("this node is not in the nodes file")
	ErrNoBase          = errors.New("config: CTDB_BASE not set in test mode")
	ErrTooLarge        = errors.New("file too large")
)

// maxFileSize bounds what is read of any configuration file; the real
// ones are a few kilobytes.
const maxFileSize = 1 << 20

// ParseError is one problem of a configuration file, at a line (0 when
// the problem is not at one line, such as a value that changed by
// disappearing from the file).
type ParseError struct {
	File    string
	Line    int
	Section string // ctdb.conf section, "" if none
	Option  string // option, tunable or node address, "" if none
	Err     error
}

// Error renders CTDB's way of naming an option, prefixed by the place:
// `ctdb.conf:3: [cluster] -> "leader timeout": invalid value "0": ...`.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	switch {
	case e.Section != "" && e.Option != "":
		fmt.Fprintf(&b, "[%s] -> %q: ", e.Section, e.Option)
	case e.Section != "":
		fmt.Fprintf(&b, "[%s]: ", e.Section)
	case e.Option != "":
		fmt.Fprintf(&b, "%q: ", e.Option)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// parseCNumber parses an unsigned number the way CTDB's strtoul(...,
// 0) callers do: decimal, 0x hexadecimal or 0-prefixed octal, but (unlike
// CTDB) the whole string must be the number and it must not exceed max.
func parseCNumber(s string, max uint64) (uint64, error) {
	digits, base := s, 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		digits, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		digits, base = s[1:], 8
	}
	n, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: not a non-negative integer", ErrInvalidValue, s)
	}
	if n > max {
		return 0, fmt.Errorf("%w %q: larger than %d", ErrInvalidValue, s, max)
	}
	return n, nil
}
