package eventscripts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCallingConvention(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.interface", 0o755, "")
	d.add("00.ctdb", 0o755, `env > "$CTDB_BASE/env.out"`)
	d.add("50.samba", 0o644, "") // not executable: disabled
	d.add("05.system", 0o755, `echo "warning from $0" >&2`)
	// Not scripts by CTDB's naming rules: never run or listed.
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "README"), []byte("x"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "1.short.script"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "20.noext"), []byte("#!/bin/sh\nexit 1\n"), 0o755))

	r := d.runner()
	res, err := r.Run(context.Background(), TakeIP, 10*time.Second, "eth1", "198.18.0.10", "24")
	require.NoError(t, err)
	assert.Equal(t, []string{"00.ctdb:OK", "05.system:OK", "10.interface:OK", "50.samba:DISABLED"}, names(res))
	assert.Equal(t, []string{
		"00.ctdb takeip eth1 198.18.0.10 24",
		"05.system takeip eth1 198.18.0.10 24",
		"10.interface takeip eth1 198.18.0.10 24",
	}, d.runLog())
	assert.Equal(t, StatusOK, res.Status())
	assert.NoError(t, res.Err())
	assert.Contains(t, res.Scripts[1].Output, "warning from")
	assert.Equal(t, []string{"eth1", "198.18.0.10", "24"}, res.Args)

	// A clean environment: PATH and what the caller gave, nothing of ours.
	env, err := os.ReadFile(filepath.Join(d.base, "env.out"))
	require.NoError(t, err)
	assert.Contains(t, string(env), "PATH="+DefaultPath+"\n")
	assert.Contains(t, string(env), "CTDB_BASE="+d.base+"\n")
	require.NoError(t, os.Setenv("GCTDB_TEST_LEAK", "1"))
	defer os.Unsetenv("GCTDB_TEST_LEAK")
	_, err = r.Run(context.Background(), Monitor, 10*time.Second)
	require.NoError(t, err)
	env, err = os.ReadFile(filepath.Join(d.base, "env.out"))
	require.NoError(t, err)
	assert.NotContains(t, string(env), "GCTDB_TEST_LEAK")

	st, err := r.Status(TakeIP)
	require.NoError(t, err)
	assert.Equal(t, names(res), names(st))
}

// eventscripts.001: a node with no scripts at all runs its events fine.
func TestRunWithoutScripts(t *testing.T) {
	d := newScriptDir(t)
	r := d.runner()
	for _, ev := range []Event{Init, Setup, Startup, Monitor} {
		res, err := r.Run(context.Background(), ev, time.Second)
		require.NoError(t, err, ev)
		assert.Empty(t, res.Scripts)
	}
	st, err := r.Status(Monitor)
	require.NoError(t, err)
	assert.Equal(t, StatusOK, st.Status())
}

func TestRunStopsAtFailure(t *testing.T) {
	d := newScriptDir(t)
	d.add("00.ok", 0o755, "")
	d.add("10.bad", 0o755, "echo 'interface eth9 is down'; exit 3")
	d.add("20.never", 0o755, "")
	r := d.runner()

	res, err := r.Run(context.Background(), Monitor, 10*time.Second)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "10.bad")
	assert.Equal(t, []string{"00.ok:OK", "10.bad:ERROR"}, names(res), "scripts after the failure are neither run nor listed")
	assert.Equal(t, 3, res.Scripts[1].ExitCode)
	assert.Equal(t, "interface eth9 is down\n", res.Scripts[1].Output)
	assert.Equal(t, StatusError, res.Status())
	assert.Equal(t, []string{"00.ok monitor", "10.bad monitor"}, d.runLog())

	st, err := r.Status(Monitor)
	require.NoError(t, err)
	assert.Equal(t, StatusError, st.Status())
}

func TestRunScriptStatuses(t *testing.T) {
	d := newScriptDir(t)
	// Executable but not a valid executable: CTDB shows it as DISABLED.
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "00.noshebang.script"), []byte("exit 1\n"), 0o755))
	// A link to nowhere is not executable.
	require.NoError(t, os.Symlink(filepath.Join(d.dir, "gone"), filepath.Join(d.dir, "01.dangling.script")))
	d.add("02.killed", 0o755, "kill -KILL $$")
	r := d.runner()
	res, err := r.Run(context.Background(), Monitor, 10*time.Second)
	require.ErrorIs(t, err, ErrFailed)
	assert.Equal(t, []string{"00.noshebang:DISABLED", "01.dangling:DISABLED", "02.killed:CANNOT RUN"}, names(res))
	assert.ErrorContains(t, res.Scripts[2].Err, "killed")
}

func TestRunBoundsOutput(t *testing.T) {
	d := newScriptDir(t)
	d.add("00.chatty", 0o755, `i=0; while [ $i -lt 3000 ]; do echo "line $i of noise"; i=$((i+1)); done; echo LAST; exit 1`)
	r := d.runner(func(c *Config) { c.MaxOutput = 1024 })
	res, err := r.Run(context.Background(), Monitor, 10*time.Second)
	require.ErrorIs(t, err, ErrFailed)
	out := res.Scripts[0]
	assert.Len(t, out.Output, 1024)
	assert.True(t, out.OutputTruncated)
	assert.True(t, strings.HasSuffix(out.Output, "LAST\n"), "the tail is kept")
}

func TestRunRejectsBadRequests(t *testing.T) {
	r := newScriptDir(t).runner()
	_, err := r.Run(context.Background(), Event("reconfigure"), time.Second)
	assert.ErrorIs(t, err, ErrUnknownEvent)
	_, err = r.Run(context.Background(), TakeIP, time.Second, "eth0")
	assert.ErrorIs(t, err, ErrBadArgs)
	_, err = r.Run(context.Background(), Monitor, time.Second, "extra")
	assert.ErrorIs(t, err, ErrBadArgs)
	_, err = r.Run(context.Background(), UpdateIP, time.Second, "eth0", "eth1", "198.18.0.10")
	assert.ErrorIs(t, err, ErrBadArgs)
	_, err = r.Status(Monitor)
	assert.ErrorIs(t, err, ErrNeverRun)
	assert.EqualError(t, err, "event has never run: monitor in legacy")
	_, err = r.Status(Event("bogus"))
	assert.ErrorIs(t, err, ErrUnknownEvent)

	for _, ev := range Events() {
		got, err := ParseEvent(string(ev))
		require.NoError(t, err)
		assert.Equal(t, ev, got)
	}
	_, err = ParseEvent("tickle")
	assert.EqualError(t, err, `unknown event "tickle"`)
}

func TestNewChecksConfig(t *testing.T) {
	d := newScriptDir(t)
	_, err := New(Config{Dir: filepath.Join(d.dir, "missing")})
	assert.ErrorIs(t, err, os.ErrNotExist)
	file := d.add("00.x", 0o755, "")
	_, err = New(Config{Dir: file})
	assert.ErrorIs(t, err, syscall.ENOTDIR)
	_, err = New(Config{Dir: d.dir, Env: []string{"NOEQUALS"}})
	assert.Error(t, err)
	_, err = New(Config{Dir: d.dir, DebugScript: filepath.Join(d.dir, "no-debug")})
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "no pid in %s", path)
	return pid
}

// eventscripts.090: a hung script is timed out and reported; the debug
// script sees the hung process; then the whole process group is killed.
func TestRunHungScript(t *testing.T) {
	d := newScriptDir(t)
	d.add("00.ok", 0o755, "")
	d.add("10.hung", 0o755, `sleep 1000 & echo $! > "$CTDB_BASE/child.pid"; echo $$ > "$CTDB_BASE/hung.pid"; echo "started"; wait`)
	d.add("20.never", 0o755, "")
	release := filepath.Join(d.base, "release-debug")
	debug := filepath.Join(d.base, "debug.sh")
	require.NoError(t, os.WriteFile(debug, []byte(`#!/bin/sh
# The hung script must still be there while we look at it.
if kill -0 "$1" 2>/dev/null; then state=alive; else state=gone; fi
echo "$1 $2 $state" > "$CTDB_BASE/debug.out"
echo "debugging pid $1"
while [ ! -e "`+release+`" ]; do sleep 0.01; done
`), 0o755))

	r := d.runner(func(c *Config) { c.DebugScript = debug; c.KillGrace = 100 * time.Millisecond })
	start := time.Now()
	res, err := r.Run(context.Background(), Monitor, 300*time.Millisecond)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, ErrTimedOut)
	assert.Contains(t, err.Error(), "10.hung")
	assert.Less(t, elapsed, 3*time.Second, "the event does not wait for the debug script")
	assert.Equal(t, []string{"00.ok:OK", "10.hung:TIMEDOUT"}, names(res))
	assert.Equal(t, "started\n", res.Scripts[1].Output)
	assert.Equal(t, StatusTimedOut, res.Status())

	hung := readPID(t, filepath.Join(d.base, "hung.pid"))
	child := readPID(t, filepath.Join(d.base, "child.pid"))
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(d.base, "debug.out"))
		return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(hung)+" monitor alive"
	}, 5*time.Second, 10*time.Millisecond, "debug script not run with the hung PID")
	assert.True(t, alive(hung), "the hung script lives while it is being debugged")

	require.NoError(t, os.WriteFile(release, nil, 0o644))
	require.Eventually(t, func() bool { return !alive(hung) && !alive(child) },
		5*time.Second, 10*time.Millisecond, "hung script or its child survived")

	st, err := r.Status(Monitor)
	require.NoError(t, err)
	assert.Equal(t, StatusTimedOut, st.Status())
}

// Without a debug script the hung group is terminated straight away.
func TestRunHungScriptWithoutDebug(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.hung", 0o755, `trap '' TERM; echo $$ > "$CTDB_BASE/hung.pid"; while :; do sleep 0.05; done`)
	r := d.runner(func(c *Config) { c.KillGrace = 100 * time.Millisecond })
	_, err := r.Run(context.Background(), Monitor, 200*time.Millisecond)
	require.ErrorIs(t, err, ErrTimedOut)
	hung := readPID(t, filepath.Join(d.base, "hung.pid"))
	require.Eventually(t, func() bool { return !alive(hung) }, 5*time.Second, 10*time.Millisecond,
		"a script ignoring SIGTERM is killed after the grace period")
}

func TestRunCancelledByContext(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.slow", 0o755, `echo $$ > "$CTDB_BASE/slow.pid"; sleep 1000`)
	r := d.runner()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, Startup, 0)
		done <- err
	}()
	pid := readPID(t, filepath.Join(d.base, "slow.pid"))
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrCancelled)
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled run did not return")
	}
	// Killed with its run, and reaped in the background.
	assert.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 10*time.Millisecond, "the script is killed with its run")
	_, err := r.Status(Startup)
	assert.ErrorIs(t, err, ErrNeverRun, "a cancelled run leaves no status")
}

// waitFor blocks a script until the named file exists.
func waitFor(path string) string {
	return `while [ ! -e "` + path + `" ]; do sleep 0.01; done`
}

// A monitor requested while one runs waits for it instead of running the
// scripts a second time.
func TestMonitorNotStartedTwice(t *testing.T) {
	d := newScriptDir(t)
	gate := filepath.Join(d.base, "gate")
	d.add("10.slow", 0o755, waitFor(gate))
	r := d.runner()

	const callers = 4
	var wg sync.WaitGroup
	results := make([]*Result, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Run(context.Background(), Monitor, 10*time.Second)
		}()
	}
	require.Eventually(t, func() bool { return len(d.runLog()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, results[0].Start, results[i].Start, "caller %d got another run", i)
	}
	assert.Len(t, d.runLog(), 1, "monitor ran more than once")
}

// Any other event cancels a running monitor and runs; the monitor's
// stored status is untouched.
func TestMonitorPreempted(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.slow", 0o755, `if [ "$1" = monitor ]; then echo $$ > "$CTDB_BASE/monitor.pid"; sleep 1000; fi`)
	r := d.runner()

	monitorDone := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), Monitor, 0)
		monitorDone <- err
	}()
	pid := readPID(t, filepath.Join(d.base, "monitor.pid"))

	res, err := r.Run(context.Background(), ReleaseIP, 10*time.Second, "eth1", "198.18.0.10", "24")
	require.NoError(t, err)
	assert.Equal(t, []string{"10.slow:OK"}, names(res))
	select {
	case err := <-monitorDone:
		assert.ErrorIs(t, err, ErrCancelled)
		assert.ErrorIs(t, err, errPreempted)
	case <-time.After(5 * time.Second):
		t.Fatal("monitor not cancelled")
	}
	assert.False(t, alive(pid))
	_, err = r.Status(Monitor)
	assert.ErrorIs(t, err, ErrNeverRun)
}

// A monitor requested while another event runs is refused at once.
func TestMonitorRefusedWhileOtherEventRuns(t *testing.T) {
	d := newScriptDir(t)
	gate := filepath.Join(d.base, "gate")
	d.add("10.slow", 0o755, `[ "$1" = startup ] && `+waitFor(gate)+`; true`)
	r := d.runner()
	startupDone := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), Startup, 10*time.Second)
		startupDone <- err
	}()
	require.Eventually(t, func() bool { return len(d.runLog()) == 1 }, 5*time.Second, 10*time.Millisecond)

	_, err := r.Run(context.Background(), Monitor, 10*time.Second)
	assert.ErrorIs(t, err, ErrCancelled)

	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	require.NoError(t, <-startupDone)
	_, err = r.Run(context.Background(), Monitor, 10*time.Second)
	assert.NoError(t, err, "monitor runs again once the other event is done")
}

// Events run one at a time, in the order they were requested.
func TestEventsAreSerialised(t *testing.T) {
	d := newScriptDir(t)
	gate := filepath.Join(d.base, "gate")
	d.add("10.slow", 0o755, `[ "$1" = startup ] && `+waitFor(gate)+`; true`)
	r := d.runner()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := r.Run(context.Background(), Startup, 10*time.Second)
		assert.NoError(t, err)
	}()
	require.Eventually(t, func() bool { return len(d.runLog()) == 1 }, 5*time.Second, 10*time.Millisecond)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := r.Run(context.Background(), IPReallocated, 10*time.Second)
		assert.NoError(t, err)
	}()
	// ipreallocated waits for startup.
	assert.Never(t, func() bool { return len(d.runLog()) > 1 }, 200*time.Millisecond, 20*time.Millisecond)
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	wg.Wait()
	assert.Equal(t, []string{"10.slow startup", "10.slow ipreallocated"}, d.runLog())
}

// Close cancels running events and kills hung scripts being debugged.
func TestClose(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.hung", 0o755, `echo $$ > "$CTDB_BASE/hung.pid"; sleep 1000`)
	debug := filepath.Join(d.base, "debug.sh")
	require.NoError(t, os.WriteFile(debug, []byte("#!/bin/sh\nsleep 1000\n"), 0o755))
	r, err := New(Config{Dir: d.dir, Env: []string{"CTDB_BASE=" + d.base, "RUN_LOG=" + d.log}, DebugScript: debug})
	require.NoError(t, err)
	_, err = r.Run(context.Background(), Monitor, 100*time.Millisecond)
	require.ErrorIs(t, err, ErrTimedOut)
	hung := readPID(t, filepath.Join(d.base, "hung.pid"))
	require.True(t, alive(hung), "being debugged")

	closed := make(chan struct{})
	go func() {
		r.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	assert.False(t, alive(hung))
	_, err = r.Run(context.Background(), Monitor, time.Second)
	assert.ErrorIs(t, err, ErrClosed)
}

func TestResultErrWording(t *testing.T) {
	res := &Result{Event: TakeIP, Args: []string{"eth1", "198.18.0.10", "24"}, Scripts: []ScriptResult{
		{Name: "00.ctdb", Status: StatusOK},
		{Name: "10.interface", Status: StatusError, ExitCode: 1},
	}}
	assert.EqualError(t, res.Err(), "event failed: takeip [eth1 198.18.0.10 24]: script 10.interface exited with status 1")
	assert.True(t, errors.Is(res.Err(), ErrFailed))
	assert.Equal(t, "CANNOT RUN", StatusCannotRun.String())
	assert.Equal(t, "TIMEDOUT", StatusTimedOut.String())
}
