package vfs

import (
	"encoding/binary"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// metaXattr holds DOS attributes, the creation time and the owner SID
// (ours): version byte 1, attributes u32 LE, creation FILETIME u64 LE,
// then optionally the owner SID in wire form.
const metaXattr = "user.gctdb.dosinfo"

// DOS attribute bits used here (same values as [MS-FSCC] §2.6).
const (
	attrReadonly  = 0x01
	attrHidden    = 0x02
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrNormal    = 0x80
)

// Meta is what the xattr stores.
type Meta struct {
	Attrs    uint32
	Creation uint64 // FILETIME; 0 = not stored
	Owner    []byte // owner SID of files created over SMB; nil if unknown
	Valid    bool   // the xattr was present
}

// Info describes a file the way SMB reports it.
type Info struct {
	Creation, LastAccess, LastWrite, Change uint64 // FILETIME
	Size, Allocation                        uint64
	Attrs                                   uint32
	Dev, Ino                                uint64
	Nlink                                   uint32
	IsDir                                   bool
	Mode                                    uint32
}

// FileTime converts t to FILETIME.
func FileTime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()/100 + 116444736000000000)
}

// TimeFromFileTime converts a FILETIME to time.Time.
func TimeFromFileTime(ft uint64) time.Time {
	ns := (int64(ft) - 116444736000000000) * 100
	return time.Unix(0, ns)
}

func tsTime(ts unix.StatxTimestamp) time.Time { return time.Unix(ts.Sec, int64(ts.Nsec)) }

func decodeMeta(b []byte) Meta {
	if len(b) < 13 || b[0] != 1 {
		return Meta{}
	}
	m := Meta{Attrs: binary.LittleEndian.Uint32(b[1:]), Creation: binary.LittleEndian.Uint64(b[5:]), Valid: true}
	if len(b) > 13 {
		m.Owner = append([]byte(nil), b[13:]...)
	}
	return m
}

func encodeMeta(m Meta) []byte {
	b := []byte{1}
	b = binary.LittleEndian.AppendUint32(b, m.Attrs)
	b = binary.LittleEndian.AppendUint64(b, m.Creation)
	return append(b, m.Owner...)
}

// GetMeta reads the DOS xattr of an open file.
func GetMeta(f *os.File) Meta {
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(int(f.Fd()), metaXattr, buf)
	if err != nil {
		return Meta{}
	}
	return decodeMeta(buf[:n])
}

// SetMeta writes the DOS xattr of an open file.
func SetMeta(f *os.File, m Meta) error {
	return unix.Fsetxattr(int(f.Fd()), metaXattr, encodeMeta(m), 0)
}

func statxFd(fd int, name string, flags int) (unix.Statx_t, error) {
	var st unix.Statx_t
	err := unix.Statx(fd, name, flags|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	return st, err
}

func infoFrom(st *unix.Statx_t, m Meta, name string) Info {
	in := Info{
		LastAccess: FileTime(tsTime(st.Atime)),
		LastWrite:  FileTime(tsTime(st.Mtime)),
		Change:     FileTime(tsTime(st.Ctime)),
		Size:       st.Size,
		Allocation: st.Blocks * 512,
		Dev:        uint64(st.Dev_major)<<32 | uint64(st.Dev_minor),
		Ino:        st.Ino,
		Nlink:      st.Nlink,
		IsDir:      st.Mode&unix.S_IFMT == unix.S_IFDIR,
		Mode:       uint32(st.Mode),
	}
	switch {
	case m.Creation != 0:
		in.Creation = m.Creation
	case st.Mask&unix.STATX_BTIME != 0:
		in.Creation = FileTime(tsTime(st.Btime))
	default:
		in.Creation = min(in.LastWrite, in.Change)
	}
	if in.IsDir {
		in.Size = 0
	}
	if m.Valid {
		in.Attrs = m.Attrs &^ (attrDirectory | attrNormal)
	} else {
		if !in.IsDir {
			in.Attrs = attrArchive
		}
		if strings.HasPrefix(name, ".") && name != "." && name != ".." {
			in.Attrs |= attrHidden
		}
	}
	if in.IsDir {
		in.Attrs |= attrDirectory
	}
	if in.Attrs == 0 {
		in.Attrs = attrNormal
	}
	return in
}

// Stat describes an open file.
func Stat(f *os.File) (Info, error) {
	st, err := statxFd(int(f.Fd()), "", unix.AT_EMPTY_PATH)
	if err != nil {
		return Info{}, err
	}
	name := f.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return infoFrom(&st, GetMeta(f), name), nil
}

// DirEntry is one directory entry with its metadata.
type DirEntry struct {
	Name string
	Info Info
}

// ReadDirNames lists an open directory: "." and ".." first, then the
// entries sorted by name.
func ReadDirNames(dir *os.File) ([]string, error) {
	d, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(dir.Fd())))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return append([]string{".", ".."}, names...), nil
}

// StatAt describes the entry name of an open directory without following
// symlinks; "." is the directory itself.
func StatAt(dir *os.File, name string) (Info, error) {
	if name == "." {
		return Stat(dir)
	}
	dfd := int(dir.Fd())
	st, err := statxFd(dfd, name, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return Info{}, err
	}
	var m Meta
	if name != ".." {
		buf := make([]byte, 128)
		if n, err := unix.Lgetxattr("/proc/self/fd/"+strconv.Itoa(dfd)+"/"+name, metaXattr, buf); err == nil {
			m = decodeMeta(buf[:n])
		}
	}
	return infoFrom(&st, m, name), nil
}

// SetTimes sets access and modification times of an open file; zero
// values leave a time unchanged.
func SetTimes(f *os.File, atime, mtime uint64) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	if atime != 0 {
		ts[0] = unix.NsecToTimespec(TimeFromFileTime(atime).UnixNano())
	}
	if mtime != 0 {
		ts[1] = unix.NsecToTimespec(TimeFromFileTime(mtime).UnixNano())
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), ts, 0)
}

// StatPath describes rel (beneath the root) without following a final
// symlink and without opening it for I/O.
func (fs *FS) StatPath(rel string) (Info, error) {
	fd, err := fs.openBeneath(rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return Info{}, err
	}
	defer unix.Close(fd)
	st, err := statxFd(fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return Info{}, err
	}
	return infoFrom(&st, Meta{}, path.Base(rel)), nil
}
