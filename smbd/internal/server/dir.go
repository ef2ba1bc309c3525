package server

import (
	"encoding/binary"
	"strings"

	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// dirCursor is the enumeration state of a directory open: the matching
// names, read once per scan; their metadata is read as they are returned
// so entries removed meanwhile are skipped.
type dirCursor struct {
	pattern string
	names   []string
	pos     int
	matched bool // at least one entry was returned since the last restart
}

// dirFixedSize is the fixed part of each directory information class.
var dirFixedSize = map[uint8]int{
	wire.FileDirectoryInformation:       64,
	wire.FileFullDirectoryInformation:   68,
	wire.FileBothDirectoryInformation:   94,
	wire.FileNamesInformation:           12,
	wire.FileIDBothDirectoryInformation: 104,
	wire.FileIDFullDirectoryInformation: 80,
}

func (c *conn) handleQueryDirectory(r *request) wire.Status {
	req, err := wire.ParseQueryDirectory(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupDirOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	fixed, ok := dirFixedSize[req.InfoClass]
	if !ok {
		return wire.StatusInvalidInfoClass
	}
	if o.access&wire.FileReadData == 0 {
		return wire.StatusAccessDenied
	}
	if req.OutputBufferLength > c.srv.cfg.MaxIOSize {
		return wire.StatusInvalidParameter
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	cur := o.dir
	restart := req.Flags&(wire.QDRestartScans|wire.QDReopen) != 0
	if cur == nil || restart {
		pattern := req.Pattern
		if pattern == "" {
			if cur != nil {
				pattern = cur.pattern
			} else {
				pattern = "*"
			}
		}
		names, err := vfs.ReadDirNames(o.f)
		if err != nil {
			return statusOf(err)
		}
		cur = &dirCursor{pattern: pattern}
		for _, n := range names {
			if matchPattern(pattern, n) {
				cur.names = append(cur.names, n)
			}
		}
		o.dir = cur
	}
	if req.Flags&wire.QDIndexSpecified != 0 && !restart && req.FileIndex > 0 {
		// FileIndex values are 1-based positions in this scan; resume
		// after the named entry.
		cur.pos = min(int(req.FileIndex), len(cur.names))
	}
	if cur.pos >= len(cur.names) {
		if !cur.matched {
			cur.matched = true
			return wire.StatusNoSuchFile
		}
		return wire.StatusNoMoreFiles
	}
	limit := int(req.OutputBufferLength)
	if limit < fixed {
		return wire.StatusInfoLengthMismatch
	}
	out := make([]byte, 0, min(limit, 64<<10))
	lastStart := -1
	for cur.pos < len(cur.names) {
		name := cur.names[cur.pos]
		info, err := vfs.StatAt(o.f, name)
		if err != nil {
			cur.pos++
			continue
		}
		e := &vfs.DirEntry{Name: name, Info: info}
		start := (len(out) + 7) &^ 7
		entry := appendDirEntry(nil, req.InfoClass, e, uint32(cur.pos))
		if start+len(entry) > limit {
			break
		}
		for len(out) < start {
			out = append(out, 0)
		}
		if lastStart >= 0 {
			binary.LittleEndian.PutUint32(out[lastStart:], uint32(start-lastStart))
		}
		out = append(out, entry...)
		lastStart = start
		cur.pos++
		cur.matched = true
		if req.Flags&wire.QDReturnSingleEntry != 0 {
			break
		}
	}
	if lastStart < 0 {
		if cur.pos >= len(cur.names) {
			if !cur.matched {
				cur.matched = true
				return wire.StatusNoSuchFile
			}
			return wire.StatusNoMoreFiles
		}
		return wire.StatusInfoLengthMismatch
	}
	r.out = wire.AppendBufferResponse(r.out, out)
	return wire.StatusOK
}

// appendDirEntry encodes one entry with NextEntryOffset 0.
func appendDirEntry(b []byte, class uint8, e *vfs.DirEntry, index uint32) []byte {
	name := wire.AppendUTF16(nil, e.Name)
	le := binary.LittleEndian
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(b, index+1) // FileIndex: the 1-based position in the scan
	if class == wire.FileNamesInformation {
		b = le.AppendUint32(b, uint32(len(name)))
		return append(b, name...)
	}
	in := &e.Info
	b = le.AppendUint64(b, in.Creation)
	b = le.AppendUint64(b, in.LastAccess)
	b = le.AppendUint64(b, in.LastWrite)
	b = le.AppendUint64(b, in.Change)
	b = le.AppendUint64(b, in.Size)
	b = le.AppendUint64(b, in.Allocation)
	b = le.AppendUint32(b, in.Attrs)
	b = le.AppendUint32(b, uint32(len(name)))
	switch class {
	case wire.FileFullDirectoryInformation:
		b = le.AppendUint32(b, 0)
	case wire.FileIDFullDirectoryInformation:
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, in.Ino)
	case wire.FileBothDirectoryInformation, wire.FileIDBothDirectoryInformation:
		b = le.AppendUint32(b, 0) // EaSize
		short := make([]byte, 24)
		n := 0
		if e.Name != "." && e.Name != ".." {
			if sn := shortName(e.Name); sn != "" {
				n = copy(short, wire.AppendUTF16(nil, sn))
			}
		}
		b = append(b, byte(n), 0)
		b = append(b, short...)
		if class == wire.FileIDBothDirectoryInformation {
			b = le.AppendUint16(b, 0)
			b = le.AppendUint64(b, in.Ino)
		}
	}
	return append(b, name...)
}

// matchPattern implements the Windows wildcard match, case-insensitively:
// * and ? with the DOS forms < (DOS_STAR), > (DOS_QM) and " (DOS_DOT).
func matchPattern(pattern, name string) bool {
	if pattern == "*" || pattern == "*.*" && name != "" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?<>\"") {
		return strings.EqualFold(pattern, name)
	}
	return wildMatch([]rune(strings.ToUpper(pattern)), []rune(strings.ToUpper(name)))
}

// wildMatch matches with memoisation so hostile patterns ("***...a")
// stay polynomial.
func wildMatch(p, n []rune) bool {
	if len(p) > 1024 {
		return false
	}
	memo := make([]int8, (len(p)+1)*(len(n)+1))
	var m func(i, j int) bool
	m = func(i, j int) bool {
		k := i*(len(n)+1) + j
		if memo[k] != 0 {
			return memo[k] > 0
		}
		res := matchAt(p, n, i, j, m)
		memo[k] = -1
		if res {
			memo[k] = 1
		}
		return res
	}
	return m(0, 0)
}

func matchAt(p, n []rune, i, j int, m func(i, j int) bool) bool {
	if i == len(p) {
		return j == len(n)
	}
	switch p[i] {
	case '*':
		return m(i+1, j) || j < len(n) && m(i, j+1)
	case '<':
		// DOS_STAR: any characters, but not past the last dot.
		if m(i+1, j) {
			return true
		}
		if j < len(n) && !(n[j] == '.' && !containsRune(n[j+1:], '.')) {
			return m(i, j+1)
		}
		return false
	case '?':
		return j < len(n) && m(i+1, j+1)
	case '>':
		// DOS_QM: one character, or none at a dot or the end.
		if j == len(n) || n[j] == '.' {
			return m(i+1, j)
		}
		return m(i+1, j+1)
	case '"':
		// DOS_DOT: a dot, or nothing at the end.
		if j == len(n) {
			return m(i+1, j)
		}
		return n[j] == '.' && m(i+1, j+1)
	}
	return j < len(n) && n[j] == p[i] && m(i+1, j+1)
}

func containsRune(s []rune, r rune) bool {
	for _, v := range s {
		if v == r {
			return true
		}
	}
	return false
}
