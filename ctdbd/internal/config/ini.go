package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// iniKind says what a logical line of an INI file is.
type iniKind int

const (
	iniSection    iniKind = iota // "[name]..."
	iniBadSection                // "[name" without "]"
	iniOption                    // "name = value" or a line without "="
)

// iniLine is one logical line of a file in Samba's "tini" syntax, the
// one ctdb.conf and ctdb.tunables use.
type iniLine struct {
	num     int // line on which it starts, from 1
	kind    iniKind
	name    string
	value   string
	equals  bool   // iniOption: the line has a "="
	trailer string // iniSection: what follows "]"
}

// isSpace is C's isspace in the C locale, which tini uses.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// scanINI splits data into logical lines exactly as tini does: leading
// white space is skipped; lines whose first other character is '#' or
// ';' are comments (there are no trailing comments: a '#' later in a
// line is part of the value); a line ending in '\' (or '\' and one
// space) continues on the next; every run of white space becomes its
// first character; and one white-space character is trimmed from each
// side of a name and of a value.
func scanINI(data []byte, emit func(iniLine)) {
	num := 1
	i := 0
	buf := make([]byte, 0, 128)
	for i < len(data) {
		for i < len(data) && data[i] != '\n' && isSpace(data[i]) {
			i++
		}
		if i == len(data) {
			return
		}
		if c := data[i]; c == '#' || c == ';' || c == '\n' {
			if end := bytes.IndexByte(data[i:], '\n'); end >= 0 {
				i += end + 1
				num++
				continue
			}
			return
		}
		start := num
		buf = buf[:0]
		for i < len(data) {
			c := data[i]
			i++
			if c == '\n' {
				num++
				if cut, ok := continuation(buf); ok {
					buf = cut
					continue
				}
				break
			}
			if n := len(buf); n > 0 && isSpace(buf[n-1]) && isSpace(c) {
				continue
			}
			buf = append(buf, c)
		}
		if i == len(data) {
			// A continuation at the end of the file continues into
			// nothing, as if empty lines followed, so that no value ends
			// in a backslash (which Dump could not write back).
			for cut, ok := continuation(buf); ok; cut, ok = continuation(buf) {
				buf = cut
			}
		}
		if len(buf) > 0 { // a lone continuation can leave nothing
			emit(parseINILine(start, buf))
		}
	}
}

// continuation strips the '\' (or '\' and one space) that continues a
// line onto the next.
func continuation(buf []byte) ([]byte, bool) {
	n := len(buf)
	if n > 0 && buf[n-1] == '\\' {
		return buf[:n-1], true
	}
	if n > 1 && buf[n-2] == '\\' && isSpace(buf[n-1]) {
		return buf[:n-2], true
	}
	return buf, false
}

func parseINILine(num int, buf []byte) iniLine {
	if buf[0] == '[' {
		end := bytes.IndexByte(buf, ']')
		if end < 0 {
			return iniLine{num: num, kind: iniBadSection, name: string(buf[1:])}
		}
		return iniLine{num: num, kind: iniSection, name: string(buf[1:end]), trailer: string(buf[end+1:])}
	}
	name, value, equals := bytes.Cut(buf, []byte("="))
	return iniLine{
		num:    num,
		kind:   iniOption,
		name:   string(trimOneSpace(name)),
		value:  string(trimOneSpace(value)),
		equals: equals,
	}
}

func trimOneSpace(b []byte) []byte {
	if len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	if len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// isTrailingComment reports whether the text after a section header is
// nothing or a comment, which CTDB ignores.
func isTrailingComment(s string) bool {
	s = string(trimOneSpace([]byte(s)))
	return s == "" || s[0] == '#' || s[0] == ';'
}

// readSmallFile reads a configuration file, refusing absurd sizes. A
// missing file is reported with fs.ErrNotExist for callers to which
// that means "defaults".
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read %s: %w (more than %d bytes)", path, ErrTooLarge, maxFileSize)
	}
	return data, nil
}

// readOptionalFile is readSmallFile where a missing file reads as empty.
func readOptionalFile(path string) ([]byte, error) {
	data, err := readSmallFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
