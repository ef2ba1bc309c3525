package vfs

import (
	"bytes"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Prefixes namespace SMB extended attributes and named streams among the
// user xattrs of a file.
const (
	eaPrefix     = "user.smbea."
	streamPrefix = "user.smbstream."
)

// EA is one SMB extended attribute.
type EA struct {
	Name  string
	Value []byte
}

// ListEAs returns the SMB extended attributes of an open file.
func ListEAs(f *os.File) ([]EA, error) { return listPrefixed(f, eaPrefix) }

func listPrefixed(f *os.File, prefix string) ([]EA, error) {
	fd := int(f.Fd())
	sz, err := unix.Flistxattr(fd, nil)
	if err != nil || sz == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return nil, err
	}
	buf := make([]byte, sz)
	sz, err = unix.Flistxattr(fd, buf)
	if err != nil {
		return nil, err
	}
	var out []EA
	for _, n := range bytes.Split(buf[:sz], []byte{0}) {
		name := string(n)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		vsz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			continue
		}
		v := make([]byte, vsz)
		if vsz, err = unix.Fgetxattr(fd, name, v); err != nil {
			continue
		}
		out = append(out, EA{Name: name[len(prefix):], Value: v[:vsz]})
	}
	return out, nil
}

// SetEA stores an extended attribute; an empty value removes it. Names
// are matched case-insensitively, as Windows does.
func SetEA(f *os.File, name string, value []byte) error {
	fd := int(f.Fd())
	existing, err := ListEAs(f)
	if err != nil {
		return err
	}
	for _, e := range existing {
		if strings.EqualFold(e.Name, name) && e.Name != name {
			unix.Fremovexattr(fd, eaPrefix+e.Name)
		}
	}
	if len(value) == 0 {
		err := unix.Fremovexattr(fd, eaPrefix+name)
		if err == unix.ENODATA {
			return nil
		}
		return err
	}
	return unix.Fsetxattr(fd, eaPrefix+name, value, 0)
}

// Named streams ("file:name:$DATA") are kept in xattrs, like Samba's
// streams_xattr, so their size is limited by the file system's xattr
// space.

// ListStreams returns the named streams of an open file or directory.
func ListStreams(f *os.File) ([]EA, error) { return listPrefixed(f, streamPrefix) }

// GetStream returns the contents and on-disk name of the stream matching
// name case-insensitively; ok is false if there is none.
func GetStream(f *os.File, name string) (data []byte, stored string, ok bool, err error) {
	streams, err := ListStreams(f)
	if err != nil {
		return nil, "", false, err
	}
	for _, s := range streams {
		if strings.EqualFold(s.Name, name) {
			return s.Value, s.Name, true, nil
		}
	}
	return nil, "", false, nil
}

// PutStream writes a stream's whole contents (empty is allowed).
func PutStream(f *os.File, stored string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	err := unix.Fsetxattr(int(f.Fd()), streamPrefix+stored, data, 0)
	if err == unix.E2BIG || err == unix.ERANGE {
		return unix.ENOSPC
	}
	return err
}

// RemoveStream deletes a stream.
func RemoveStream(f *os.File, stored string) error {
	err := unix.Fremovexattr(int(f.Fd()), streamPrefix+stored)
	if err == unix.ENODATA {
		return nil
	}
	return err
}
