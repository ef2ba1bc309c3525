package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// helperPath is gctdb's helper, built once for the package's tests.
var helperPath string

// debianHelper is CTDB's own helper, tested when installed.
const debianHelper = "/usr/libexec/ctdb/ctdb_mutex_fcntl_helper"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helperPath = filepath.Join(dir, HelperName)
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", helperPath, "gctdb/ctdbd/mutexhelper")
	cmd.Dir = filepath.Dir(file)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build helper: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOptions(lease time.Duration) lockOptions {
	return lockOptions{Lease: lease, Timeout: 5 * time.Second, Log: quietLog()}
}

func builtin(t *testing.T, file string) lockSpec {
	t.Helper()
	spec, err := parseLockSpec(file, helperPath)
	require.NoError(t, err)
	return spec
}

func take(t *testing.T, spec lockSpec, o lockOptions) (*heldLock, lockResult) {
	t.Helper()
	h, res, err := acquire(context.Background(), spec, o)
	if res == lockTaken {
		require.NoError(t, err)
		t.Cleanup(h.release)
	}
	return h, res
}

// script writes an executable shell script and returns its spec.
func script(t *testing.T, body string) lockSpec {
	t.Helper()
	p := filepath.Join(t.TempDir(), "helper.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	spec, err := parseLockSpec("!"+p, helperPath)
	require.NoError(t, err)
	return spec
}

func TestParseLockSpec(t *testing.T) {
	tests := []struct {
		raw  string
		argv []string
		err  bool
	}{
		{"", nil, false},
		{"/shared/.ctdb/cluster.lock", []string{"/h", "/shared/.ctdb/cluster.lock"}, false},
		{"!/usr/libexec/ctdb/ctdb_mutex_fcntl_helper /shared/lock 5", []string{"/usr/libexec/ctdb/ctdb_mutex_fcntl_helper", "/shared/lock", "5"}, false},
		{"!  helper\targ ", []string{"helper", "arg"}, false},
		{"!", nil, true},
		{"!   ", nil, true},
	}
	for _, tc := range tests {
		spec, err := parseLockSpec(tc.raw, "/h")
		if tc.err {
			assert.ErrorIs(t, err, ErrBadLockSpec, tc.raw)
			continue
		}
		require.NoError(t, err, tc.raw)
		assert.Equal(t, tc.argv, spec.argv, tc.raw)
		assert.Equal(t, tc.raw != "", spec.configured())
	}
	_, res, err := acquire(context.Background(), lockSpec{}, testOptions(time.Second))
	assert.Equal(t, lockError, res)
	assert.ErrorIs(t, err, ErrNoLock)
}

func TestBuiltinLockExcludesAndAdvancesTerm(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.lock")
	spec := builtin(t, file)
	o := testOptions(5 * time.Second)
	o.MinTerm = 3

	a, res := take(t, spec, o)
	require.Equal(t, lockTaken, res)
	assert.True(t, a.leased, "gctdb's helper speaks the lease protocol")
	assert.Equal(t, uint64(3), a.term)
	assert.True(t, a.Held(time.Now()))

	_, res = take(t, spec, o)
	assert.Equal(t, lockContended, res)

	a.release()
	assert.False(t, a.Held(time.Now()))
	<-a.Lost()

	b, res := take(t, spec, o)
	require.Equal(t, lockTaken, res)
	assert.Equal(t, uint64(4), b.term, "the term recorded in the lock file grows")
}

func TestLeaseKeptByRenewalAndLostWithout(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.lock")
	h, res := take(t, builtin(t, file), testOptions(400*time.Millisecond))
	require.Equal(t, lockTaken, res)

	deadline := time.Now().Add(1200 * time.Millisecond)
	for time.Now().Before(deadline) {
		require.NoError(t, h.Renew())
		time.Sleep(100 * time.Millisecond)
		require.True(t, h.Held(time.Now()), "a renewed lease holds")
	}
	d, err := h.Verify(context.Background())
	require.NoError(t, err)
	assert.Greater(t, d, 200*time.Millisecond)

	// ctdbd "stalls": no renewals. Its own view expires with the lease,
	// and the helper releases the lock by itself.
	stall := time.Now()
	require.Eventually(t, func() bool { return !h.Held(time.Now()) }, 2*time.Second, 10*time.Millisecond)
	assert.Less(t, time.Since(stall), 600*time.Millisecond)
	select {
	case <-h.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("the helper must give up an unrenewed lease")
	}
	_, res = take(t, builtin(t, file), testOptions(time.Second))
	assert.Equal(t, lockTaken, res, "another node can take the lock")
}

func TestVerifyNoticesRemovedLockFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cluster.lock")
	h, res := take(t, builtin(t, file), testOptions(5*time.Second))
	require.Equal(t, lockTaken, res)
	_, err := h.Verify(context.Background())
	require.NoError(t, err)

	require.NoError(t, os.Remove(file))
	_, err = h.Verify(context.Background())
	assert.ErrorIs(t, err, ErrLockLost)
	select {
	case <-h.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("a failed verify loses the lock")
	}
	assert.False(t, h.Held(time.Now()))
}

func TestPlainContractHelpers(t *testing.T) {
	tests := []struct {
		name string
		body string
		res  lockResult
	}{
		{"taken", "printf 0; exec sleep 60", lockTaken},
		{"contended", "printf 1", lockContended},
		{"timeout", "printf 2", lockTimeout},
		{"error", "printf 3", lockError},
		{"garbage", "printf x", lockError},
		{"silent exit", "exit 0", lockError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, res := take(t, script(t, tc.body), testOptions(time.Second))
			assert.Equal(t, tc.res, res)
			if res == lockTaken {
				assert.False(t, h.leased, "a plain helper has no lease")
				assert.True(t, h.Held(time.Now().Add(time.Hour)), "a plain helper holds while it lives")
				d, err := h.Verify(context.Background())
				require.NoError(t, err)
				assert.Zero(t, d)
			}
		})
	}
}

func TestSilentHelperTimesOut(t *testing.T) {
	o := testOptions(time.Second)
	o.Timeout = 200 * time.Millisecond
	start := time.Now()
	_, res, err := acquire(context.Background(), script(t, "exec sleep 60"), o)
	assert.Equal(t, lockTimeout, res)
	assert.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second, "the silent helper is killed")
}

func TestPlainHelperDeathLosesLock(t *testing.T) {
	h, res := take(t, script(t, "printf 0; exec sleep 60"), testOptions(time.Second))
	require.Equal(t, lockTaken, res)
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-h.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("the helper's death must be noticed")
	}
	_, err := h.Verify(context.Background())
	assert.ErrorIs(t, err, ErrLockLost)
}

// TestDebianHelperInteroperates runs CTDB 4.17's helper unchanged, and
// checks that its classic fcntl lock and gctdb's OFD lock exclude each
// other on the same file.
func TestDebianHelperInteroperates(t *testing.T) {
	if _, err := os.Stat(debianHelper); err != nil {
		t.Skip("CTDB's helper is not installed")
	}
	file := filepath.Join(t.TempDir(), "cluster.lock")
	debian, err := parseLockSpec("!"+debianHelper+" "+file+" 1", helperPath)
	require.NoError(t, err)

	d, res := take(t, debian, testOptions(time.Second))
	require.Equal(t, lockTaken, res)
	assert.False(t, d.leased)
	_, res = take(t, builtin(t, file), testOptions(time.Second))
	assert.Equal(t, lockContended, res, "gctdb's helper must see CTDB's lock")
	d.release()

	g, res := take(t, builtin(t, file), testOptions(5*time.Second))
	require.Equal(t, lockTaken, res)
	_, res = take(t, debian, testOptions(time.Second))
	assert.Equal(t, lockContended, res, "CTDB's helper must see gctdb's lock")
	g.release()

	// CTDB's helper notices a removed lock file within its recheck
	// interval and exits, which loses the lock.
	d, res = take(t, debian, testOptions(time.Second))
	require.Equal(t, lockTaken, res)
	require.NoError(t, os.Remove(file))
	select {
	case <-d.Lost():
	case <-time.After(4 * time.Second):
		t.Fatal("CTDB's helper must give up a removed lock file")
	}
}
