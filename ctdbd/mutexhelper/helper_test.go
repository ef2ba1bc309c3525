package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// helperRun is one in-process run of the helper with pipes for its
// standard input and output.
type helperRun struct {
	t      *testing.T
	stdin  *io.PipeWriter
	out    *bufio.Reader
	stderr *lockedBuffer
	sigs   chan os.Signal
	done   chan int
}

func startHelper(t *testing.T, env map[string]string, args ...string) *helperRun {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &helperRun{t: t, stdin: inW, out: bufio.NewReader(outR), stderr: &lockedBuffer{}, sigs: make(chan os.Signal, 1), done: make(chan int, 1)}
	go func() {
		code, lock := run(append([]string{"ctdb_mutex_fcntl_helper"}, args...), envOf(env), inR, outW, h.stderr, h.sigs)
		// What the process exit does for the real helper.
		if lock != nil {
			lock.Close()
		}
		outW.Close()
		h.done <- code
	}()
	t.Cleanup(func() {
		select {
		case h.sigs <- syscall.SIGTERM:
		default:
		}
		inW.Close()
		<-h.done
		h.done <- 0
	})
	return h
}

// lockedBuffer lets the test read what the helper logs while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (h *helperRun) result() byte {
	h.t.Helper()
	c, err := h.out.ReadByte()
	require.NoError(h.t, err)
	return c
}

func (h *helperRun) line() string {
	h.t.Helper()
	s, err := h.out.ReadString('\n')
	require.NoError(h.t, err)
	return s
}

func (h *helperRun) send(s string) {
	h.t.Helper()
	_, err := io.WriteString(h.stdin, s)
	require.NoError(h.t, err)
}

// exited waits for the helper to return.
func (h *helperRun) exited(within time.Duration) bool {
	select {
	case code := <-h.done:
		h.done <- code
		return true
	case <-time.After(within):
		return false
	}
}

func lockPath(t *testing.T) string { return filepath.Join(t.TempDir(), "cluster.lock") }

// canLock reports whether the lock is free, by taking and dropping it.
func canLock(t *testing.T, path string) bool {
	lk, res := takeLock(path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if res == resultTaken {
		lk.f.Close()
		return true
	}
	return false
}

func TestParseArgs(t *testing.T) {
	none := envOf(nil)
	tests := []struct {
		args    []string
		recheck time.Duration
		err     bool
	}{
		{[]string{"h", "/f"}, 5 * time.Second, false},
		{[]string{"h", "/f", "0"}, 0, false},
		{[]string{"h", "/f", "2", "10"}, 2 * time.Second, false},
		{[]string{"h"}, 0, true},
		{[]string{"h", ""}, 0, true},
		{[]string{"h", "/f", "x"}, 0, true},
		{[]string{"h", "/f", "1", "y"}, 0, true},
		{[]string{"h", "/f", "1", "2", "3"}, 0, true},
	}
	for _, tc := range tests {
		cfg, err := parseArgs(tc.args, none)
		if tc.err {
			assert.ErrorIs(t, err, errUsage, "%v", tc.args)
			continue
		}
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.recheck, cfg.recheck, "%v", tc.args)
		assert.False(t, cfg.lease.enabled())
	}
	_, err := parseArgs([]string{"h", "/f"}, envOf(map[string]string{"GCTDB_MUTEX_LEASE_MS": "0"}))
	assert.Error(t, err)
	_, err = parseArgs([]string{"h", "/f"}, envOf(map[string]string{"GCTDB_MUTEX_MIN_TERM": "x"}))
	assert.Error(t, err)
	cfg, err := parseArgs([]string{"h", "/f"}, envOf(map[string]string{"GCTDB_MUTEX_LEASE_MS": "1500", "GCTDB_MUTEX_MIN_TERM": "7", "GCTDB_MUTEX_PNN": "2"}))
	require.NoError(t, err)
	assert.Equal(t, leaseConfig{lease: 1500 * time.Millisecond, minTerm: 7, pnn: "2"}, cfg.lease)
}

func TestParseRequest(t *testing.T) {
	good := map[string]request{"r 1": {'r', 1}, "v 99\n": {'v', 99}}
	for in, want := range good {
		got, err := parseRequest(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"", "r", "r 0", "x 1", "rr 1", "r -1", "r 1 2"} {
		_, err := parseRequest(in)
		assert.ErrorIs(t, err, errBadRequest, in)
	}
	assert.Equal(t, "a 3\n", ackLine(3, nil))
	assert.Equal(t, "x 4 gone away\n", ackLine(4, fmt.Errorf("gone\naway")))
}

func TestParseTermRecord(t *testing.T) {
	assert.Equal(t, uint64(0), parseTermRecord(""))
	assert.Equal(t, uint64(0), parseTermRecord("junk"))
	assert.Equal(t, uint64(12), parseTermRecord("gctdb-cluster-lock term=12 pnn=1\n"))
	assert.Equal(t, uint64(12), parseTermRecord("gctdb-cluster-lock term=12\n"))
	assert.Equal(t, uint64(0), parseTermRecord("gctdb-cluster-lock term=x"))
}

func TestUsageExitsWithoutResult(t *testing.T) {
	var out, errb bytes.Buffer
	code, _ := run([]string{"ctdb_mutex_fcntl_helper"}, envOf(nil), strings.NewReader(""), &out, &errb, nil)
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String())
	assert.Contains(t, errb.String(), "usage")
}

func TestPlainContract(t *testing.T) {
	path := lockPath(t)
	h := startHelper(t, nil, path, "0")
	assert.Equal(t, byte('0'), h.result())
	assert.False(t, canLock(t, path), "the lock is held")

	// A second helper finds the lock contended and exits at once.
	var out bytes.Buffer
	code, _ := run([]string{"h", path}, envOf(nil), strings.NewReader(""), &out, io.Discard, nil)
	assert.Equal(t, 0, code)
	assert.Equal(t, "1", out.String())

	h.sigs <- syscall.SIGTERM
	require.True(t, h.exited(5*time.Second))
	assert.True(t, canLock(t, path), "the lock is free once the helper is gone")
}

func TestErrorResult(t *testing.T) {
	var out bytes.Buffer
	run([]string{"h", filepath.Join(t.TempDir(), "no", "such", "dir", "lock")}, envOf(nil), strings.NewReader(""), &out, io.Discard, nil)
	assert.Equal(t, "3", out.String())
}

func TestLeaseRenewedAndExpired(t *testing.T) {
	path := lockPath(t)
	h := startHelper(t, map[string]string{"GCTDB_MUTEX_LEASE_MS": "300", "GCTDB_MUTEX_MIN_TERM": "4", "GCTDB_MUTEX_PNN": "1"}, path, "0")
	assert.Equal(t, byte('0'), h.result())
	assert.Equal(t, "gctdb term=4 lease=300\n", h.line())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "gctdb-cluster-lock term=4 pnn=1\n", string(b))

	// Renewals keep the lock well past the lease.
	for i := uint64(1); i <= 8; i++ {
		h.send(fmt.Sprintf("r %d\n", i))
		assert.Equal(t, fmt.Sprintf("a %d\n", i), h.line())
		time.Sleep(100 * time.Millisecond)
	}
	assert.False(t, canLock(t, path))

	// Silence: the helper gives the lock up by itself.
	start := time.Now()
	require.True(t, h.exited(3*time.Second), "the helper must give up an unrenewed lease")
	assert.Less(t, time.Since(start), time.Second)
	assert.True(t, canLock(t, path))
	assert.Contains(t, h.stderr.String(), "lease of 300ms expired")
}

func TestTermAdvances(t *testing.T) {
	path := lockPath(t)
	env := map[string]string{"GCTDB_MUTEX_LEASE_MS": "5000"}
	for want := 1; want <= 3; want++ {
		h := startHelper(t, env, path, "0")
		assert.Equal(t, byte('0'), h.result())
		assert.Equal(t, fmt.Sprintf("gctdb term=%d lease=5000\n", want), h.line())
		h.stdin.Close()
		require.True(t, h.exited(5*time.Second), "end of input means the parent is gone")
	}
}

func TestVerifyDetectsRemovedFile(t *testing.T) {
	path := lockPath(t)
	h := startHelper(t, map[string]string{"GCTDB_MUTEX_LEASE_MS": "5000"}, path, "0")
	assert.Equal(t, byte('0'), h.result())
	h.line()
	h.send("v 1\n")
	assert.Equal(t, "a 1\n", h.line())

	require.NoError(t, os.Remove(path))
	h.send("v 2\n")
	assert.Contains(t, h.line(), "x 2 lock file")
	require.True(t, h.exited(5*time.Second))
}

func TestRecheckDetectsReplacedFile(t *testing.T) {
	path := lockPath(t)
	h := startHelper(t, nil, path, "1")
	assert.Equal(t, byte('0'), h.result())
	require.NoError(t, os.Rename(path, path+".old"))
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	start := time.Now()
	require.True(t, h.exited(3*time.Second), "a replaced lock file must be noticed within the recheck interval")
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
	assert.Contains(t, h.stderr.String(), "was replaced")
}
