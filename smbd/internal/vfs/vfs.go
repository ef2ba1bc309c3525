// Package vfs is smbd's file-system layer. Every path a client names is
// resolved beneath the share root: with openat2(RESOLVE_BENEATH) where the
// kernel has it, otherwise with a component walk that refuses symlinks.
// Names are matched case-insensitively as Windows clients expect, and DOS
// attributes and creation times are kept in an extended attribute.
package vfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Errors returned for client-supplied names.
var (
	ErrPathSyntax   = errors.New("vfs: bad path syntax")
	ErrNameInvalid  = errors.New("vfs: invalid name")
	ErrPathNotFound = errors.New("vfs: path not found")
	ErrNotFound     = errors.New("vfs: name not found")
	ErrEscape       = errors.New("vfs: path leaves the share")
)

// MaxComponent is the longest name component accepted (bytes).
const MaxComponent = 255

// FS is one share root.
type FS struct {
	root      *os.File
	rootPath  string
	noOpenat2 atomic.Bool
}

// Open opens the share root directory.
func Open(root string) (*FS, error) {
	f, err := os.OpenFile(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open share root: %w", err)
	}
	return &FS{root: f, rootPath: root}, nil
}

// Close releases the root.
func (fs *FS) Close() error { return fs.root.Close() }

// CleanName converts a client path ("dir\file") into a slash-separated
// relative path with no empty, "." or ".." components. "" is the root.
func CleanName(win string) (string, error) {
	if strings.HasPrefix(win, "\\") || strings.HasPrefix(win, "/") {
		return "", ErrNameInvalid
	}
	if strings.ContainsRune(win, 0) || strings.ContainsRune(win, '/') {
		return "", ErrNameInvalid
	}
	win = strings.TrimSuffix(win, "\\")
	if win == "" {
		return "", nil
	}
	parts := strings.Split(win, "\\")
	for _, p := range parts {
		switch {
		case p == "":
			return "", ErrNameInvalid
		case p == "..":
			return "", ErrPathSyntax
		case p == ".":
			return "", ErrNameInvalid
		case len(p) > MaxComponent:
			return "", ErrNameInvalid
		case strings.ContainsAny(p, "<>\"|*?"):
			return "", ErrNameInvalid
		}
	}
	return strings.Join(parts, "/"), nil
}

func (fs *FS) rootFd() int { return int(fs.root.Fd()) }

// openBeneath opens rel beneath the root. rel must come from CleanName or
// Lookup. Symlinks are followed only while they stay inside the share.
func (fs *FS) openBeneath(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		rel = "."
	}
	if !fs.noOpenat2.Load() {
		how := unix.OpenHow{
			Flags:   uint64(flags | unix.O_CLOEXEC),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		}
		for {
			fd, err := unix.Openat2(fs.rootFd(), rel, &how)
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			if err == unix.ENOSYS {
				fs.noOpenat2.Store(true)
				break
			}
			if err == unix.EXDEV {
				return -1, ErrEscape
			}
			return fd, err
		}
	}
	return fs.walkOpen(rel, flags, mode)
}

// walkOpen is the fallback without openat2: one component at a time,
// never following a symlink.
func (fs *FS) walkOpen(rel string, flags int, mode uint32) (int, error) {
	dir, err := unix.Dup(fs.rootFd())
	if err != nil {
		return -1, err
	}
	if rel == "." {
		defer unix.Close(dir)
		return unix.Openat(dir, ".", flags|unix.O_CLOEXEC, mode)
	}
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		if p == ".." || p == "" || p == "." {
			unix.Close(dir)
			return -1, ErrPathSyntax
		}
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW
		m := uint32(0)
		if i == len(parts)-1 {
			f, m = flags|unix.O_NOFOLLOW, mode
		}
		next, err := unix.Openat(dir, p, f|unix.O_CLOEXEC, m)
		unix.Close(dir)
		if err == unix.ELOOP {
			return -1, ErrEscape
		}
		if err != nil {
			return -1, err
		}
		dir = next
	}
	return dir, nil
}

// OpenFile opens rel (beneath the root) with open(2) flags.
func (fs *FS) OpenFile(rel string, flags int, mode uint32) (*os.File, error) {
	fd, err := fs.openBeneath(rel, flags, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(fs.rootPath, rel)), nil
}

// openParent opens the directory holding rel and returns it with the
// final component.
func (fs *FS) openParent(rel string) (int, string, error) {
	dir, name := path.Split(rel)
	if name == "" {
		return -1, "", ErrNameInvalid
	}
	fd, err := fs.openBeneath(strings.TrimSuffix(dir, "/"), unix.O_PATH|unix.O_DIRECTORY, 0)
	return fd, name, err
}

// Mkdir creates directory rel.
func (fs *FS) Mkdir(rel string, mode uint32) error {
	pfd, name, err := fs.openParent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return unix.Mkdirat(pfd, name, mode)
}

// CreateFile creates rel exclusively and opens it read-write.
func (fs *FS) CreateFile(rel string, mode uint32) (*os.File, error) {
	pfd, name, err := fs.openParent(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(fs.rootPath, rel)), nil
}

// Remove unlinks a file or removes an empty directory.
func (fs *FS) Remove(rel string, dir bool) error {
	pfd, name, err := fs.openParent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	flags := 0
	if dir {
		flags = unix.AT_REMOVEDIR
	}
	return unix.Unlinkat(pfd, name, flags)
}

// Rename moves oldRel to newRel; without replace an existing target fails
// with EEXIST.
func (fs *FS) Rename(oldRel, newRel string, replace bool) error {
	ofd, oname, err := fs.openParent(oldRel)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	nfd, nname, err := fs.openParent(newRel)
	if err != nil {
		return err
	}
	defer unix.Close(nfd)
	flags := uint(unix.RENAME_NOREPLACE)
	if replace {
		flags = 0
	}
	return unix.Renameat2(ofd, oname, nfd, nname, flags)
}

// Lookup resolves a cleaned relative path case-insensitively. It returns
// the path with the on-disk spelling of every existing component; when
// the last component does not exist it keeps the client's spelling and
// returns ErrNotFound, and when a directory on the way is missing it
// returns ErrPathNotFound.
func (fs *FS) Lookup(rel string) (string, error) {
	if rel == "" {
		return "", nil
	}
	if fd, err := fs.openBeneath(rel, unix.O_PATH|unix.O_NOFOLLOW, 0); err == nil {
		unix.Close(fd)
		return rel, nil
	} else if err == ErrEscape {
		return "", err
	}
	parts := strings.Split(rel, "/")
	cur := ""
	for i, p := range parts {
		next := path.Join(cur, p)
		fd, err := fs.openBeneath(next, unix.O_PATH|unix.O_NOFOLLOW, 0)
		if err == nil {
			unix.Close(fd)
			cur = next
			continue
		}
		if err == ErrEscape {
			return "", err
		}
		match, merr := fs.matchFold(cur, p)
		if merr != nil {
			if i == len(parts)-1 {
				return path.Join(cur, p), ErrNotFound
			}
			return "", ErrPathNotFound
		}
		cur = path.Join(cur, match)
	}
	return cur, nil
}

// matchFold finds a name in dir that equals want ignoring case.
func (fs *FS) matchFold(dir, want string) (string, error) {
	f, err := fs.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, n := range names {
			if strings.EqualFold(n, want) {
				return n, nil
			}
		}
		if err != nil || len(names) == 0 {
			return "", ErrNotFound
		}
	}
}

// StatFS reports capacity of the share's file system in bytes.
func (fs *FS) StatFS() (total, free, avail uint64, bsize uint32, err error) {
	var s unix.Statfs_t
	if err = unix.Fstatfs(fs.rootFd(), &s); err != nil {
		return
	}
	bs := uint64(s.Bsize)
	return s.Blocks * bs, s.Bfree * bs, s.Bavail * bs, uint32(s.Bsize), nil
}

// FsID identifies the file system (the volume serial number source).
func (fs *FS) FsID() uint64 {
	var st unix.Stat_t
	if unix.Fstat(fs.rootFd(), &st) != nil {
		return 0
	}
	return st.Dev
}
