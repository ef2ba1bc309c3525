//go:build integration

package failover

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// eventscripts.001.zero_scripts: nodes without any event script start
// and run.
func TestEventscripts001ZeroScripts(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.106.31"})
	for i := 0; i < c.Nodes; i++ {
		require.NoError(t, os.RemoveAll(filepath.Join(c.Base(i), "events")))
	}
	c.StartAll()
	waitHealthy(t, c)
	assert.Equal(t, "", c.CtdbOK(t, 0, "event", "script", "list", "legacy"))
	require.Eventually(t, func() bool { return c.Ctdb(1, "scriptstatus").Exit == 0 }, 20*time.Second, 50*time.Millisecond)
	selectTestNode(t, c)
}

// eventscripts.090.debug_hung: a monitor event that hangs is timed out,
// reported by scriptstatus, and shown to the debug script, whose report
// has CTDB's form.
func TestEventscripts090DebugHung(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.32", 3)
	node := 1
	base := c.Base(node)
	debugOut := filepath.Join(base, "debug-hung-script.log")
	writeFile(t, filepath.Join(base, "script.options"), "CTDB_RUN_TIMEOUT_MONITOR=yes\n"+
		"CTDB_DEBUG_HUNG_SCRIPT_LOGFILE=\""+debugOut+"\"\n"+
		"CTDB_DEBUG_HUNG_SCRIPT_STACKPAT='exportfs|rpcinfo|sleep'\n")
	// CTDB's test event script, in our own words: with
	// CTDB_RUN_TIMEOUT_MONITOR set it sleeps through the monitor event.
	writeScript(t, c, node, "00.test", `[ -r "$CTDB_BASE/script.options" ] && . "$CTDB_BASE/script.options"
if [ "$1" = monitor ] && [ "$CTDB_RUN_TIMEOUT_MONITOR" = yes ] ; then
	timeout=$(ctdb getvar EventScriptTimeout | awk '{print $3}')
	echo "Sleeping for $((timeout * 2)) seconds..."
	sleep $((timeout * 2))
fi
exit 0
`)
	c.CtdbOK(t, node, "setvar", "EventScriptTimeout", "2")
	c.CtdbOK(t, node, "setvar", "MonitorInterval", "1")

	require.Eventually(t, func() bool {
		b, err := os.ReadFile(debugOut)
		return err == nil && strings.Contains(string(b), "===== End of hung script debug")
	}, 30*time.Second, 50*time.Millisecond, "debug script output")
	b, err := os.ReadFile(debugOut)
	require.NoError(t, err)
	for _, pattern := range []string{
		`===== Start of hung script debug for PID=".*", event="monitor" =====`,
		`===== End of hung script debug for PID=".*", event="monitor" =====`,
		`pstree -p -a .*:`,
		`00\.test\.script,.*`,
		` *` + "`" + `-sleep,.*`,
		`---- ctdb scriptstatus monitor: ----`,
		`00\.test *TIMEDOUT.*`,
		` *OUTPUT: Sleeping for [0-9]* seconds\.\.\.`,
	} {
		assert.Regexp(t, regexp.MustCompile(`(?m)^`+pattern+`$`), string(b))
	}
	st := c.Ctdb(node, "scriptstatus")
	assert.Equal(t, 110, st.Exit, "ETIMEDOUT: %s", st.Stdout)
	assert.Regexp(t, `(?m)^00\.test +TIMEDOUT +\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n  OUTPUT: Sleeping for 4 seconds\.\.\.$`, st.Stdout)
}

// A failing monitor event makes the node UNHEALTHY and its addresses
// move away; once the script passes again they come back, unless
// NoIPFailback is set.
func TestMonitorFailureMovesAddresses(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.33", 3)
	node, _ := selectTestNode(t, c)
	before := hostedBy(t, c, node)
	require.NotEmpty(t, before)
	fail := filepath.Join(c.Base(node), "fail-monitor")
	writeScript(t, c, node, "20.health", `[ "$1" = monitor ] && [ -e "$CTDB_BASE/fail-monitor" ] && { echo "service check failed" ; exit 1 ; }
exit 0
`)
	c.CtdbOK(t, node, "setvar", "MonitorInterval", "1")

	writeFile(t, fail, "")
	_, err := c.WaitFlags(c.All(), node, 20*time.Second, func(f uint32) bool { return f&proto.NodeFlagUnhealthy != 0 })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) == 0 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return allHostedOnce(t, c, c.All(), before) }, 10*time.Second, 20*time.Millisecond)
	st := c.Ctdb(node, "scriptstatus")
	assert.Equal(t, 1, st.Exit)
	assert.Contains(t, st.Stdout, "20.health            ERROR")
	assert.Contains(t, st.Stdout, "  OUTPUT: service check failed\n")
	assert.Contains(t, c.CtdbOK(t, 0, "status"), "UNHEALTHY")

	require.NoError(t, os.Remove(fail))
	_, err = c.WaitFlags(c.All(), node, 20*time.Second, func(f uint32) bool { return f == 0 })
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) > 0 }, 10*time.Second, 20*time.Millisecond, "addresses come back")

	// With NoIPFailback they stay where they went.
	for i := 0; i < c.Nodes; i++ {
		c.CtdbOK(t, i, "setvar", "NoIPFailback", "1")
	}
	writeFile(t, fail, "")
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) == 0 }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, os.Remove(fail))
	_, err = c.WaitFlags(c.All(), node, 20*time.Second, func(f uint32) bool { return f == 0 })
	require.NoError(t, err)
	c.CtdbOK(t, node, "ipreallocate")
	assert.Empty(t, hostedBy(t, c, node), "NoIPFailback keeps addresses away from a node that recovered")
}

// `ctdb event` and `ctdb scriptstatus` behave as CTDB's.
func TestEventCommands(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.34", 2)
	assert.Equal(t, "* 00.ctdb\n* 01.reclock\n* 05.system\n  10.interface\n  50.smbd\n", c.CtdbOK(t, 0, "event", "script", "list", "legacy"))
	c.CtdbOK(t, 0, "event", "script", "enable", "legacy", "50.smbd")
	assert.Contains(t, c.CtdbOK(t, 0, "event", "script", "list", "legacy"), "* 50.smbd\n")
	c.CtdbOK(t, 0, "event", "script", "disable", "legacy", "50.smbd")
	r := c.Ctdb(0, "event", "script", "enable", "legacy", "99.nosuch")
	assert.Equal(t, 2, r.Exit)
	assert.Equal(t, "Script 99.nosuch does not exist in legacy\n", r.Stdout)

	r = c.Ctdb(0, "event", "run", "10", "legacy", "ipreallocated")
	assert.Equal(t, 0, r.Exit, r.Stdout+r.Stderr)
	st := c.CtdbOK(t, 0, "event", "status", "legacy", "ipreallocated")
	assert.Regexp(t, `(?m)^00\.ctdb +OK +\d\.\d{3} `, st)
	r = c.Ctdb(0, "event", "status", "legacy", "updateip")
	assert.Equal(t, 22, r.Exit)
	assert.Equal(t, "Event updateip has never run in legacy\n", r.Stdout)
	r = c.Ctdb(0, "event", "run", "10", "other", "monitor")
	assert.Equal(t, 2, r.Exit)
	assert.Equal(t, "Event dir for other does not exist\n", r.Stdout)

	writeScript(t, c, 0, "30.fail", "[ \"$1\" = ipreallocated ] && exit 7\nexit 0\n")
	r = c.Ctdb(0, "event", "run", "10", "legacy", "ipreallocated")
	assert.Equal(t, 8, r.Exit)
	assert.Equal(t, "Event ipreallocated in legacy failed\n", r.Stdout)
	r = c.Ctdb(0, "scriptstatus", "ipreallocated")
	assert.Equal(t, 7, r.Exit)
	r = c.Ctdb(0, "-n", "1", "scriptstatus")
	assert.Equal(t, 1, r.Exit)
	assert.Equal(t, "Cannot specify node for command scriptstatus\n", r.Stderr)
}

// The startrecovery and recovered events run on every node around each
// recovery, in that order, as CTDB runs them.
func TestRecoveryEvents(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.35", 3)
	logs := make([]string, c.Nodes)
	for n := 0; n < c.Nodes; n++ {
		logs[n] = filepath.Join(c.Base(n), "recovery-events.log")
		writeScript(t, c, n, "00.recevents", `case "$1" in startrecovery|recovered) echo "$1" >> "`+logs[n]+`" ;; esac
exit 0
`)
	}
	c.CtdbOK(t, 0, "recover")
	for n := 0; n < c.Nodes; n++ {
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(logs[n])
			return strings.HasSuffix(string(b), "startrecovery\nrecovered\n")
		}, 20*time.Second, 50*time.Millisecond, "node %d runs startrecovery then recovered", n)
	}
}
