package eventd_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/clienttest"
	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/eventd"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
)

// node starts one node with the event service on dir and returns a
// client of it.
func startNode(t *testing.T, addr, dir string, tun config.Tunables, env ...string) *client.Client {
	t.Helper()
	cl := clienttest.Start(t, clienttest.Options{
		Addrs:    []string{addr},
		Port:     14479,
		Tunables: &tun,
		Gates:    []string{node.GateSetup, node.GateStartup},
		Services: func(uint32) []service.Service {
			return []service.Service{eventd.New(eventd.Options{Dir: dir, Env: env})}
		},
		LivenessPort: 14480,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.Socket(0))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func fastTunables() config.Tunables {
	tun := config.DefaultTunables()
	tun.MonitorInterval = 1
	tun.EventScriptTimeout = 5
	return tun
}

func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".script"), []byte("#!/bin/sh\n"+body), mode))
}

func runstate(t *testing.T, c *client.Client) proto.Runstate {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rs, err := c.Runstate(ctx, client.Local)
	require.NoError(t, err)
	return rs
}

func ownFlags(t *testing.T, c *client.Client) uint32 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := c.NodeMap(ctx, client.Local)
	require.NoError(t, err)
	return m.Nodes[0].Flags
}

// TestZeroScripts is eventscripts.001: a node without any event script
// (not even the directory) starts and runs.
func TestZeroScripts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "events", "legacy")
	c := startNode(t, "127.106.1.1", dir, fastTunables())
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateRunning }, 10*time.Second, 10*time.Millisecond)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		_, err := c.EventStatus(ctx, client.Local, "legacy", "monitor")
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "monitor runs with no scripts")
	scripts, err := c.EventScripts(ctx, client.Local, "legacy")
	require.NoError(t, err)
	assert.Empty(t, scripts)
	assert.Zero(t, ownFlags(t, c))
}

// TestMonitorHealth: a failing monitor event makes the node UNHEALTHY
// and a passing one makes it healthy again.
func TestMonitorHealth(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "legacy")
	fail := filepath.Join(base, "fail")
	writeScript(t, dir, "10.health", `[ "$1" = monitor ] && [ -e "$FAILFILE" ] && { echo "health check failed" ; exit 3 ; }
exit 0
`, 0o755)
	c := startNode(t, "127.106.1.2", dir, fastTunables(), "FAILFILE="+fail)
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateRunning }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(fail, nil, 0o644))
	require.Eventually(t, func() bool { return ownFlags(t, c)&proto.NodeFlagUnhealthy != 0 }, 5*time.Second, 20*time.Millisecond)
	res, err := c.EventStatus(context.Background(), client.Local, "legacy", "monitor")
	require.NoError(t, err)
	require.Len(t, res.Scripts, 1)
	assert.Equal(t, proto.ScriptError, res.Scripts[0].Status)
	assert.Equal(t, int32(3), res.Scripts[0].ExitCode)
	assert.Equal(t, int32(3), res.Summary)
	assert.Equal(t, "health check failed\n", res.Scripts[0].Output)

	require.NoError(t, os.Remove(fail))
	require.Eventually(t, func() bool { return ownFlags(t, c) == 0 }, 5*time.Second, 20*time.Millisecond)
}

// TestEventControls covers run, status, script list, enable and disable.
func TestEventControls(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "legacy")
	out := filepath.Join(base, "args")
	writeScript(t, dir, "00.first", `echo "$@" >> "$OUT"`, 0o755)
	writeScript(t, dir, "50.off", "exit 1\n", 0o644)
	c := startNode(t, "127.106.1.3", dir, fastTunables(), "OUT="+out)
	ctx := context.Background()
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateRunning }, 10*time.Second, 10*time.Millisecond)

	res, err := c.EventRun(ctx, client.Local, "legacy", "takeip", 0, "eth0", "10.0.0.1", "24")
	require.NoError(t, err)
	assert.Equal(t, proto.EventResultOK, res.Result)
	require.Len(t, res.Scripts, 2)
	assert.Equal(t, proto.ScriptDisabled, res.Scripts[1].Status)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(data), "takeip eth0 10.0.0.1 24\n")

	st, err := c.EventStatus(ctx, client.Local, "legacy", "takeip")
	require.NoError(t, err)
	assert.Equal(t, []string{"eth0", "10.0.0.1", "24"}, st.Args)
	_, err = c.EventStatus(ctx, client.Local, "legacy", "updateip")
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))

	// Wrong arguments and unknown events are refused; an unknown
	// component is "no such directory", as CTDB reports it.
	_, err = c.EventRun(ctx, client.Local, "legacy", "takeip", 0, "eth0")
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err))
	_, err = c.EventRun(ctx, client.Local, "legacy", "nosuch", 0)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err))
	res, err = c.EventRun(ctx, client.Local, "nosuch", "monitor", 0)
	require.NoError(t, err)
	assert.Equal(t, proto.EventResultNoDir, res.Result)

	require.NoError(t, c.EventScriptEnable(ctx, client.Local, "legacy", "50.off", true))
	scripts, err := c.EventScripts(ctx, client.Local, "legacy")
	require.NoError(t, err)
	assert.Equal(t, []proto.ScriptInfo{{Name: "00.first", Enabled: true}, {Name: "50.off", Enabled: true}}, scripts)
	res, err = c.EventRun(ctx, client.Local, "legacy", "ipreallocated", 0)
	require.NoError(t, err)
	assert.Equal(t, proto.EventResultFailed, res.Result)
	assert.Equal(t, int32(1), res.Summary)

	require.NoError(t, c.EventScriptEnable(ctx, client.Local, "legacy", "50.off", false))
	err = c.EventScriptEnable(ctx, client.Local, "legacy", "70.missing", true)
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))
	assert.Contains(t, err.Error(), "Script 70.missing does not exist in legacy")
	assert.NoError(t, c.EventScriptEnable(ctx, client.Local, "legacy", "70.missing", false), "disabling a missing script succeeds, as in ctdb")
}

// TestHungScriptTimesOut is eventscripts.090: a monitor event that hangs
// is timed out, reported as TIMEDOUT with its output, and shown to the
// debug script with its PID.
func TestHungScriptTimesOut(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "legacy")
	hang := filepath.Join(base, "hang")
	debugOut := filepath.Join(base, "debug.out")
	writeScript(t, dir, "00.test", `if [ "$1" = monitor ] && [ -e "$HANGFILE" ] ; then echo "Sleeping for 60 seconds..." ; exec sleep 60 ; fi
`, 0o755)
	debug := filepath.Join(base, "debug.sh")
	require.NoError(t, os.WriteFile(debug, []byte("#!/bin/sh\necho \"pid=$1 event=$2\" > \"$DEBUGOUT\"\n"), 0o755))
	tun := fastTunables()
	tun.EventScriptTimeout = 1
	tun.MonitorTimeoutCount = 2
	cl := clienttest.Start(t, clienttest.Options{
		Addrs: []string{"127.106.1.4"}, Port: 14479, LivenessPort: 14480, Tunables: &tun,
		Gates: []string{node.GateSetup, node.GateStartup},
		Services: func(uint32) []service.Service {
			return []service.Service{eventd.New(eventd.Options{Dir: dir, DebugScript: debug, Env: []string{"HANGFILE=" + hang, "DEBUGOUT=" + debugOut}})}
		},
	})
	ctx := context.Background()
	c, err := client.Connect(ctx, cl.Socket(0))
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateRunning }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, os.WriteFile(hang, nil, 0o644))
	var st *proto.EventResult
	require.Eventually(t, func() bool {
		st, err = c.EventStatus(ctx, client.Local, "legacy", "monitor")
		return err == nil && len(st.Scripts) == 1 && st.Scripts[0].Status == proto.ScriptTimedOut
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "Sleeping for 60 seconds...\n", st.Scripts[0].Output)
	assert.Equal(t, proto.EventResultTimedOut, st.Summary)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(debugOut)
		return err == nil && len(b) > 0 && string(b[len(b)-len("event=monitor\n"):]) == "event=monitor\n"
	}, 10*time.Second, 20*time.Millisecond, "debug script ran")
	// A single timeout is forgiven; MonitorTimeoutCount of them is not.
	require.Eventually(t, func() bool { return ownFlags(t, c)&proto.NodeFlagUnhealthy != 0 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, os.Remove(hang))
	require.Eventually(t, func() bool { return ownFlags(t, c) == 0 }, 10*time.Second, 20*time.Millisecond)
}

// TestStartupRetried: a failing startup event holds the node in STARTUP
// and is retried until it succeeds.
func TestStartupRetried(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "legacy")
	ready := filepath.Join(base, "ready")
	writeScript(t, dir, "00.start", `[ "$1" = startup ] && [ ! -e "$READY" ] && exit 1
exit 0
`, 0o755)
	c := startNode(t, "127.106.1.5", dir, fastTunables(), "READY="+ready)
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateStartup }, 10*time.Second, 10*time.Millisecond)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		st, err := c.EventStatus(ctx, client.Local, "legacy", "startup")
		return err == nil && st.Summary == 1
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, proto.RunstateStartup, runstate(t, c))
	require.NoError(t, os.WriteFile(ready, nil, 0o644))
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateRunning }, 5*time.Second, 10*time.Millisecond)
}
