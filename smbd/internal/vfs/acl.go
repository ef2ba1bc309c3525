package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// ntACLXattr holds a file's NT security descriptor (self-relative form).
// It lives in the security namespace, like Samba's security.NTACL, so
// local users cannot rewrite it.
const ntACLXattr = "security.gctdb.ntacl"

// GetSD returns the stored security descriptor of an open file, or nil.
func GetSD(f *os.File) []byte {
	fd := int(f.Fd())
	n, err := unix.Fgetxattr(fd, ntACLXattr, nil)
	if err != nil || n == 0 {
		return nil
	}
	buf := make([]byte, n)
	n, err = unix.Fgetxattr(fd, ntACLXattr, buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// SetSD stores a security descriptor on an open file.
func SetSD(f *os.File, sd []byte) error {
	return unix.Fsetxattr(int(f.Fd()), ntACLXattr, sd, 0)
}
