package smbconformance

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smbclient runs one smbclient command line and returns its output.
func smbclient(t *testing.T, s *server, args ...string) (string, error) {
	t.Helper()
	bin := needTool(t, "smbclient")
	full := append([]string{"-p", s.port, "-U", testUser + "%" + testPass}, args...)
	out, err := exec.Command(bin, full...).CombinedOutput()
	return string(out), err
}

func sha256File(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// TestSmbclientFileOperations puts a 100 MiB file through node 0, gets it
// back through node 1 and runs the namespace operations on every dialect,
// plain (the sendfile and streamed-write paths), signed, and encrypted on
// 3.x.
func TestSmbclientFileOperations(t *testing.T) {
	needTool(t, "smbclient")
	if testing.Short() {
		t.Skip("transfers 100 MiB per dialect")
	}
	s := startServer(t)
	src := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(src)
	require.NoError(t, err)
	_, err = io.CopyN(f, rand.Reader, 100<<20)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	want := sha256File(t, src)
	node1 := "//" + s.cluster.Addr(1) + "/share"

	cases := []struct{ dialect, protection string }{
		{"SMB2_02", "off"},
		{"SMB2_10", "off"},
		{"SMB3_00", "off"},
		{"SMB3_11", "off"},
		{"SMB2_02", "sign"},
		{"SMB2_10", "sign"},
		{"SMB3_00", "sign"},
		{"SMB3_11", "sign"},
		{"SMB3_11", "encrypt"},
		{"SMB3_00", "encrypt"},
	}
	for _, tc := range cases {
		t.Run(tc.dialect+"-"+tc.protection, func(t *testing.T) {
			back := filepath.Join(t.TempDir(), "back.bin")
			prot := []string{"-m", tc.dialect, "--client-protection=" + tc.protection}
			out, err := smbclient(t, s, append([]string{s.unc("share")}, append(prot, "-c", "put "+src+" big.bin")...)...)
			require.NoError(t, err, out)
			out, err = smbclient(t, s, append([]string{node1}, append(prot, "-c", "get big.bin "+back)...)...)
			require.NoError(t, err, out)
			assert.Equal(t, want, sha256File(t, back), "the file got through node 1 differs from the one put through node 0")
			script := strings.Join([]string{
				"get big.bin " + back,
				"mkdir dir1",
				"rename big.bin dir1\\moved.bin",
				"ls dir1\\*",
				"rm dir1\\moved.bin",
				"rmdir dir1",
				"ls",
			}, "; ")
			out, err = smbclient(t, s, append([]string{s.unc("share")}, append(prot, "-c", script)...)...)
			require.NoError(t, err, out)
			assert.NotContains(t, out, "NT_STATUS_")
			assert.Contains(t, out, "moved.bin")
			assert.Equal(t, want, sha256File(t, back), "downloaded file differs")
			entries, err := os.ReadDir(s.share)
			require.NoError(t, err)
			assert.Empty(t, entries, "rm and rmdir left files behind")
		})
	}
}

func TestSmbclientListShares(t *testing.T) {
	needTool(t, "smbclient")
	s := startServer(t)
	out, err := smbclient(t, s, "-L", "//"+s.host)
	require.NoError(t, err, out)
	assert.Contains(t, out, "share")
	assert.Contains(t, out, "IPC$")
}

func TestSmbclientWrongPassword(t *testing.T) {
	bin := needTool(t, "smbclient")
	s := startServer(t)
	out, err := exec.Command(bin, "-p", s.port, "-U", testUser+"%wrong", s.unc("share"), "-c", "ls").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "NT_STATUS_LOGON_FAILURE")
	out, err = exec.Command(bin, "-p", s.port, "-U", "nobody%"+testPass, s.unc("share"), "-c", "ls").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "NT_STATUS_LOGON_FAILURE")
}

func TestSmbclientEncryptedShareRefusesPlainAccess(t *testing.T) {
	needTool(t, "smbclient")
	s := startServer(t)
	out, err := smbclient(t, s, s.unc("tmpenc"), "-m", "SMB2_10", "-c", "ls")
	require.Error(t, err, out)
	assert.Contains(t, out, "NT_STATUS_ACCESS_DENIED")
	out, err = smbclient(t, s, s.unc("tmpenc"), "-m", "SMB3_11", "-c", "ls")
	require.NoError(t, err, out)
}

// TestPathsCannotEscapeTheShare tries symlinks and ".." through a real
// client; none may reach a file outside the share.
func TestPathsCannotEscapeTheShare(t *testing.T) {
	needTool(t, "smbclient")
	s := startServer(t)
	outside := filepath.Join(filepath.Dir(s.share), "outside.txt")
	require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(s.share, "abs-link")))
	require.NoError(t, os.Symlink("../outside.txt", filepath.Join(s.share, "rel-link")))
	require.NoError(t, os.Symlink("..", filepath.Join(s.share, "up")))
	for _, name := range []string{"abs-link", "rel-link", "up\\outside.txt", "..\\outside.txt", "sub\\..\\..\\outside.txt"} {
		dst := filepath.Join(t.TempDir(), "got")
		out, _ := smbclient(t, s, s.unc("share"), "-c", "get \""+name+"\" "+dst)
		assert.Contains(t, out, "NT_STATUS_", "%s: %s", name, out)
		_, err := os.Stat(dst)
		assert.True(t, os.IsNotExist(err), "%s was fetched from outside the share", name)
	}
}

// TestServerWideSigningAndEncryption runs with "server signing =
// mandatory" and "server smb encrypt = required".
func TestServerWideSigningAndEncryption(t *testing.T) {
	needTool(t, "smbclient")
	signed := startServer(t, "server signing = mandatory")
	for _, d := range []string{"SMB2_02", "SMB2_10", "SMB3_00", "SMB3_11"} {
		out, err := smbclient(t, signed, signed.unc("share"), "-m", d, "-c", "ls")
		assert.NoError(t, err, "%s: %s", d, out)
	}
	enc := startServer(t, "server smb encrypt = required")
	out, err := smbclient(t, enc, enc.unc("share"), "-m", "SMB3_11", "-c", "mkdir x; ls; rmdir x")
	assert.NoError(t, err, out)
	out, err = smbclient(t, enc, enc.unc("share"), "-m", "SMB2_10", "-c", "ls")
	assert.Error(t, err, "SMB 2.1 cannot encrypt: %s", out)
	assert.Contains(t, out, "NT_STATUS_ACCESS_DENIED")
}
