//go:build integration

package simple

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// TestOnnodeAllPnn mirrors the first check and CTDB's
// simple.basics: within 5 s of `start all`, `onnode all ctdb pnn` prints
// 0, 1, 2, and `ctdb status` and `ctdb -X status` on every node show
// three nodes OK.
func TestOnnodeAllPnn(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.7"})
	start := time.Now()
	c.StartAll()

	var out string
	require.Eventually(t, func() bool {
		o, err := c.Script("onnode", "all", "ctdb", "pnn")
		out = o
		return err == nil && strings.Count(o, ">> NODE:") == 3 &&
			strings.Contains(o, "\n0\n") && strings.Contains(o, "\n1\n") && strings.HasSuffix(o, "\n2\n")
	}, 5*time.Second, 20*time.Millisecond, "onnode all ctdb pnn: %s", out)

	for n := 0; n < 3; n++ {
		var st string
		require.Eventually(t, func() bool {
			r := c.Ctdb(n, "status")
			st = r.Stdout
			return r.Exit == 0 && strings.Count(r.Stdout, " OK") == 3
		}, 5*time.Second-time.Since(start), 20*time.Millisecond, "status on node %d:\n%s", n, st)
		assert.Contains(t, st, "Number of nodes:3\n")
		assert.Contains(t, st, fmt.Sprintf("pnn:%d %-16s OK (THIS NODE)\n", n, c.Addr(n)))

		x := c.Ctdb(n, "-X", "status")
		require.Equal(t, 0, x.Exit, x.Stderr)
		lines := strings.Split(strings.TrimSpace(x.Stdout), "\n")
		require.GreaterOrEqual(t, len(lines), 4)
		assert.Equal(t, "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|", lines[0])
		for i := 0; i < 3; i++ {
			this := "N"
			if i == n {
				this = "Y"
			}
			assert.Equal(t, fmt.Sprintf("|%d|%s|0|0|0|0|0|0|0|0|%s|", i, c.Addr(i), this), lines[1+i])
		}
	}
	t.Logf("start -> onnode/status all OK: %v", time.Since(start))
}

// TestStatusAnswersAtOnce: ctdb status answers from the node's current
// view; it never waits for a broadcast or a peer (CTDB 4.17 blocks up to
// 1 s). Even with a node stopped it answers quickly and shows it.
func TestStatusAnswersAtOnce(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.8"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		start := time.Now()
		r := c.Ctdb(0, "status")
		require.Equal(t, 0, r.Exit, r.Stderr)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "ctdb status must not wait")
	}
	c.Kill(2)
	_, err = c.WaitFlags([]int{0}, 2, 5*time.Second, disconnected)
	require.NoError(t, err)
	start := time.Now()
	r := c.Ctdb(0, "status")
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	assert.Contains(t, r.Stdout, "DISCONNECTED|INACTIVE")
}

// TestTunablesOnEveryNode: getvar, setvar and listvars against every node
// (through -n) and bad input as usage errors.
func TestTunablesOnEveryNode(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.9"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)
	for n := 0; n < 3; n++ {
		node := fmt.Sprint(n)
		r := c.Ctdb(0, "-n", node, "getvar", "MonitorInterval")
		require.Equal(t, 0, r.Exit, r.Stderr)
		assert.Equal(t, "MonitorInterval            = 15\n", r.Stdout)
		r = c.Ctdb(0, "-n", node, "setvar", "MonitorInterval", fmt.Sprint(20+n))
		require.Equal(t, 0, r.Exit, r.Stderr)
		r = c.Ctdb(n, "getvar", "monitorinterval")
		assert.Equal(t, fmt.Sprintf("monitorinterval            = %d\n", 20+n), r.Stdout)
		r = c.Ctdb(n, "listvars")
		require.Equal(t, 0, r.Exit)
		assert.Contains(t, r.Stdout, fmt.Sprintf("\nMonitorInterval            = %d\n", 20+n))
		assert.Equal(t, 49, strings.Count(r.Stdout, "\n"), "all of CTDB 4.17's tunables")
	}
	bad := [][]string{
		{"getvar", "NoSuchTunable"},
		{"setvar", "MonitorInterval", "abc"},
		{"setvar", "MonitorInterval"},
		{"nosuchcommand"},
		{"--nosuchoption", "status"},
		{"-n", "banana", "pnn"},
	}
	for _, args := range bad {
		r := c.Ctdb(0, args...)
		assert.NotEqual(t, 0, r.Exit, "ctdb %v must fail", args)
		assert.NotEmpty(t, r.Stderr, "ctdb %v must say why on stderr", args)
		assert.Empty(t, r.Stdout, "ctdb %v", args)
	}
}

// TestStopAndShutdown: local_daemons.sh stop (ctdb shutdown) stops the
// daemons in order; the others see them leave at once.
func TestStopAndShutdown(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.10"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)
	c.Stop(1)
	took, err := c.WaitFlags([]int{0, 2}, 1, 5*time.Second, disconnected)
	require.NoError(t, err)
	assert.Less(t, took, time.Second)
	out, err := c.Script("stop", "all")
	assert.Error(t, err, "node 1 is already stopped: its ctdb shutdown fails")
	assert.Contains(t, out, "")
	for n := 0; n < 3; n++ {
		require.Eventually(t, func() bool { return c.PID(n) == 0 }, 10*time.Second, 20*time.Millisecond)
	}
}
