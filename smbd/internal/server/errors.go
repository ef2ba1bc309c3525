package server

import (
	"errors"
	"io/fs"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// statusOf maps a file-system error to an NT status.
func statusOf(err error) wire.Status {
	if err == nil {
		return wire.StatusOK
	}
	var st wire.Status
	if errors.As(err, &st) {
		return st
	}
	switch {
	case errors.Is(err, vfs.ErrPathSyntax):
		return wire.StatusObjectPathSyntaxBad
	case errors.Is(err, vfs.ErrNameInvalid):
		return wire.StatusObjectNameInvalid
	case errors.Is(err, vfs.ErrPathNotFound):
		return wire.StatusObjectPathNotFound
	case errors.Is(err, vfs.ErrNotFound):
		return wire.StatusObjectNameNotFound
	case errors.Is(err, vfs.ErrEscape):
		return wire.StatusAccessDenied
	}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		if errors.Is(err, fs.ErrNotExist) {
			return wire.StatusObjectNameNotFound
		}
		return wire.StatusUnsuccessful
	}
	switch errno {
	case unix.ENOENT:
		return wire.StatusObjectNameNotFound
	case unix.EEXIST:
		return wire.StatusObjectNameCollision
	case unix.EACCES, unix.EPERM:
		return wire.StatusAccessDenied
	case unix.ENOTDIR:
		return wire.StatusObjectPathNotFound
	case unix.EISDIR:
		return wire.StatusFileIsADirectory
	case unix.ENOTEMPTY:
		return wire.StatusDirectoryNotEmpty
	case unix.ENOSPC, unix.EDQUOT:
		return wire.StatusDiskFull
	case unix.ENAMETOOLONG:
		return wire.StatusObjectNameInvalid
	case unix.EXDEV:
		return wire.StatusNotSameDevice
	case unix.EROFS:
		return wire.StatusMediaWriteProtected
	case unix.ELOOP:
		return wire.StatusStoppedOnSymlink
	case unix.EINVAL:
		return wire.StatusInvalidParameter
	case unix.EFBIG:
		return wire.StatusDiskFull
	case unix.EBUSY:
		return wire.StatusSharingViolation
	}
	return wire.StatusUnsuccessful
}
