package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		err     error
	}{
		{"", "", nil},
		{"a", "a", nil},
		{"dir\\file.txt", "dir/file.txt", nil},
		{"dir\\", "dir", nil},
		{"..", "", ErrPathSyntax},
		{"a\\..\\..\\etc", "", ErrPathSyntax},
		{"\\abs", "", ErrNameInvalid},
		{"a/b", "", ErrNameInvalid},
		{"a\\\\b", "", ErrNameInvalid},
		{".", "", ErrNameInvalid},
		{"a*", "", ErrNameInvalid},
		{"nul\x00", "", ErrNameInvalid},
		{string(make([]byte, 300)), "", ErrNameInvalid},
	} {
		got, err := CleanName(tc.in)
		if tc.err != nil {
			assert.ErrorIs(t, err, tc.err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.out, got)
	}
}

func newShare(t *testing.T) (*FS, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "share")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "Dir", "Sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "Dir", "File.TXT"), []byte("data"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(base, "secret"), []byte("outside"), 0o644))
	require.NoError(t, os.Symlink("../secret", filepath.Join(root, "escape")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "abs")))
	require.NoError(t, os.Symlink("Dir/File.TXT", filepath.Join(root, "inside")))
	fs, err := Open(root)
	require.NoError(t, err)
	t.Cleanup(func() { fs.Close() })
	return fs, root
}

func TestLookupIsCaseInsensitive(t *testing.T) {
	fs, _ := newShare(t)
	got, err := fs.Lookup("dir/file.txt")
	require.NoError(t, err)
	assert.Equal(t, "Dir/File.TXT", got)
	got, err = fs.Lookup("DIR/sub/newfile")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, "Dir/Sub/newfile", got)
	_, err = fs.Lookup("nodir/x")
	assert.ErrorIs(t, err, ErrPathNotFound)
}

func TestSymlinksCannotEscape(t *testing.T) {
	for _, walk := range []bool{false, true} {
		fs, _ := newShare(t)
		fs.noOpenat2.Store(walk)
		for _, name := range []string{"escape", "abs"} {
			_, err := fs.OpenFile(name, unix.O_RDONLY, 0)
			require.Error(t, err, "%s (walk=%v)", name, walk)
			_, err = fs.Lookup(name)
			if err == nil {
				_, err = fs.OpenFile(name, unix.O_RDONLY, 0)
				assert.Error(t, err)
			}
		}
		f, err := fs.OpenFile("inside", unix.O_RDONLY, 0)
		if walk {
			// The fallback walk refuses every symlink.
			assert.Error(t, err)
		} else {
			require.NoError(t, err)
			f.Close()
		}
	}
}

func TestCreateRenameRemove(t *testing.T) {
	fs, root := newShare(t)
	f, err := fs.CreateFile("Dir/new.txt", 0o644)
	require.NoError(t, err)
	f.Close()
	_, err = fs.CreateFile("Dir/new.txt", 0o644)
	assert.True(t, errors.Is(err, unix.EEXIST))
	require.NoError(t, fs.Rename("Dir/new.txt", "Dir/Sub/moved.txt", false))
	assert.FileExists(t, filepath.Join(root, "Dir", "Sub", "moved.txt"))
	assert.Error(t, fs.Rename("Dir/File.TXT", "Dir/Sub/moved.txt", false), "no replace")
	require.NoError(t, fs.Rename("Dir/File.TXT", "Dir/Sub/moved.txt", true))
	require.NoError(t, fs.Remove("Dir/Sub/moved.txt", false))
	require.NoError(t, fs.Mkdir("Dir/Sub/x", 0o755))
	require.NoError(t, fs.Remove("Dir/Sub/x", true))
}

func TestMetaAndInfo(t *testing.T) {
	fs, _ := newShare(t)
	f, err := fs.OpenFile("Dir/File.TXT", unix.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	in, err := Stat(f)
	require.NoError(t, err)
	assert.Equal(t, uint32(attrArchive), in.Attrs)
	assert.Equal(t, uint64(4), in.Size)
	require.NoError(t, SetMeta(f, Meta{Attrs: attrReadonly | attrHidden, Creation: 123456789}))
	in, err = Stat(f)
	require.NoError(t, err)
	assert.Equal(t, uint32(attrReadonly|attrHidden), in.Attrs)
	assert.Equal(t, uint64(123456789), in.Creation)

	dir, err := fs.OpenFile("Dir", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer dir.Close()
	names, err := ReadDirNames(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{".", "..", "File.TXT", "Sub"}, names)
	e, err := StatAt(dir, "File.TXT")
	require.NoError(t, err)
	assert.Equal(t, in.Attrs, e.Attrs)
	d, err := StatAt(dir, "Sub")
	require.NoError(t, err)
	assert.True(t, d.IsDir)
	assert.Equal(t, uint32(attrDirectory), d.Attrs)
}

func TestEAs(t *testing.T) {
	fs, _ := newShare(t)
	f, err := fs.OpenFile("Dir/File.TXT", unix.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, SetEA(f, "One", []byte("1")))
	require.NoError(t, SetEA(f, "ONE", []byte("2")))
	eas, err := ListEAs(f)
	require.NoError(t, err)
	require.Len(t, eas, 1)
	assert.Equal(t, EA{Name: "ONE", Value: []byte("2")}, eas[0])
	require.NoError(t, SetEA(f, "ONE", nil))
	eas, err = ListEAs(f)
	require.NoError(t, err)
	assert.Empty(t, eas)
}

func TestFileTimeRoundTrip(t *testing.T) {
	ft := uint64(133000000000000000)
	assert.Equal(t, ft, FileTime(TimeFromFileTime(ft)))
}
