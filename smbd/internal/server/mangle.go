package server

import (
	"hash/fnv"
	"strings"
)

// legal83 reports whether r may appear in an 8.3 name.
func legal83(r rune) bool {
	if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'()-@^_`{}~", r)
}

// is83 reports whether name already is a valid upper-case 8.3 name.
func is83(name string) bool {
	base, ext, _ := strings.Cut(name, ".")
	if base == "" || len(base) > 8 || len(ext) > 3 || strings.Contains(ext, ".") {
		return false
	}
	for _, r := range base + ext {
		if !legal83(r) {
			return false
		}
	}
	return true
}

// shortName returns the 8.3 alternate name of a long name, or "" when the
// name is a valid 8.3 name itself (then it has no alternate name). The
// mangled form is PREFIX~HH.EXT with a hash of the full name, stable for
// the name so every node reports the same one.
func shortName(name string) string {
	if is83(name) {
		return ""
	}
	up := strings.ToUpper(name)
	base, ext := up, ""
	if i := strings.LastIndexByte(up, '.'); i > 0 {
		base, ext = up[:i], up[i+1:]
	}
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range s {
			if b.Len() >= n {
				break
			}
			if legal83(r) {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	prefix := clean(base, 5)
	if prefix == "" {
		prefix = "_"
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	v := h.Sum32()
	sum := string([]byte{digits[v%36], digits[v/36%36]})
	out := prefix + "~" + sum
	if e := clean(ext, 3); e != "" {
		out += "." + e
	}
	return out
}
