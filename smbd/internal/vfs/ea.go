package vfs

import (
	"bytes"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// eaPrefix namespaces SMB extended attributes among user xattrs.
const eaPrefix = "user.smbea."

// EA is one SMB extended attribute.
type EA struct {
	Name  string
	Value []byte
}

// ListEAs returns the SMB extended attributes of an open file.
func ListEAs(f *os.File) ([]EA, error) {
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
		if !strings.HasPrefix(name, eaPrefix) {
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
		out = append(out, EA{Name: name[len(eaPrefix):], Value: v[:vsz]})
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
