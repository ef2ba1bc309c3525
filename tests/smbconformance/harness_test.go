// Package smbconformance drives gctdb's smbd with Samba's own clients:
// smbclient for file transfers and smbtorture for protocol conformance.
// The tests skip when the Samba tools are not installed. Until the gctdb
// cluster harness exists they start smbd directly with its development
// in-memory state store.
package smbconformance

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testUser = "tester"
	testPass = "Secret-42"
)

var (
	buildOnce sync.Once
	smbdPath  string
	buildErr  error
)

// smbdBinary builds smbd once per test binary.
func smbdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gctdb-smbd-bin")
		if err != nil {
			buildErr = err
			return
		}
		smbdPath = filepath.Join(dir, "smbd")
		out, err := exec.Command("go", "build", "-o", smbdPath, "gctdb/smbd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build smbd: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return smbdPath
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

// server is a running smbd.
type server struct {
	host, port string
	share      string // directory of [share]
	log        *bytes.Buffer
}

func freePort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return port
}

// startServer runs smbd on 127.0.0.1 with one share named "share"; extra
// lines go into [global].
func startServer(t *testing.T, extraGlobal ...string) *server {
	t.Helper()
	bin := smbdBinary(t)
	dir := t.TempDir()
	s := &server{host: "127.0.0.1", share: filepath.Join(dir, "share"), log: &bytes.Buffer{}}
	require.NoError(t, os.Mkdir(s.share, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "users"), []byte(testUser+":"+testPass+"\n"), 0o600))
	s.port = freePort(t, s.host)
	conf := "[global]\n\tinterfaces = " + s.host + "\n\tbind interfaces only = yes\n\tsmb ports = " + s.port + "\n"
	for _, l := range extraGlobal {
		conf += "\t" + l + "\n"
	}
	conf += "[share]\n\tpath = " + s.share + "\n\tread only = no\n"
	conf += "[tmpenc]\n\tpath = " + s.share + "\n\tread only = no\n\tsmb encrypt = required\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "smb.conf"), []byte(conf), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-s", filepath.Join(dir, "smb.conf"), "-F",
		"--dev-memory-state", "--dev-users", filepath.Join(dir, "users"))
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("smbd log:\n%s", s.log.String())
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(s.host, s.port), 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, 20*time.Second, 20*time.Millisecond, "smbd did not start listening")
	return s
}

func (s *server) unc(share string) string { return "//" + s.host + "/" + share }

func (s *server) portNum() int {
	n, _ := strconv.Atoi(s.port)
	return n
}
