//go:build integration

// Package simple holds the integration tests of CTDB's
// INTEGRATION/simple group against real local daemons: start-up,
// membership, failure detection, protocol versions and hostile input.
package simple

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

func disconnected(f uint32) bool { return f&proto.NodeFlagDisconnected != 0 }
func ok(f uint32) bool           { return f == 0 }

// TestClusterStartsQuickly mirrors simple.basics: a fresh 3-node cluster
// is all OK within 5 s (CTDB 4.17 needs 8.2 s here; the target is 2 s).
func TestClusterStartsQuickly(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.1"})
	start := time.Now()
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("start -> all nodes OK: %v", took)
	assert.Less(t, took, 2*time.Second, "start-up must stay under 2 s")
}

// TestKillDetectedWithinOneSecond: kill -9 of one ctdbd is seen as
// DISCONNECTED by the others within 1 s, and a restart is OK again
// within 3 s.
func TestKillDetectedWithinOneSecond(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.2"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)

	c.Kill(2)
	took, err := c.WaitFlags([]int{0, 1}, 2, 5*time.Second, disconnected)
	require.NoError(t, err)
	t.Logf("kill -9 -> DISCONNECTED: %v", took)
	assert.Less(t, took, time.Second)

	start := time.Now()
	c.Start(2)
	_, err = c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)
	t.Logf("restart -> OK: %v", time.Since(start))
	assert.Less(t, time.Since(start), 3*time.Second)
}

// TestSilentNodeDetected: a SIGSTOPped ctdbd keeps its TCP connections
// open, so only liveness can tell; it must be DISCONNECTED within 3 s
// (CTDB 4.17: 26.5 s) and OK again within 3 s of SIGCONT.
func TestSilentNodeDetected(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.3"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)

	c.Signal(1, syscall.SIGSTOP)
	took, err := c.WaitFlags([]int{0, 2}, 1, 10*time.Second, disconnected)
	c.Signal(1, syscall.SIGCONT)
	require.NoError(t, err)
	t.Logf("SIGSTOP -> DISCONNECTED: %v", took)
	assert.Less(t, took, 3*time.Second)

	took, err = c.WaitAllOK(10 * time.Second)
	require.NoError(t, err)
	t.Logf("SIGCONT -> OK: %v", took)
	assert.Less(t, took, 3*time.Second)
}

// TestVersionMismatchRefused: a node offering only an unsupported
// protocol version is refused, both sides log both versions, and the rest
// of the cluster stays OK.
func TestVersionMismatchRefused(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{
		Prefix:  "127.101.4",
		NodeEnv: map[int][]string{2: {"GCTDB_TEST_PROTOCOL_VERSIONS=2-2"}},
	})
	c.StartAll()
	_, err := c.WaitFlags([]int{0, 1}, 0, 5*time.Second, ok)
	require.NoError(t, err)
	_, err = c.WaitFlags([]int{0, 1}, 1, 5*time.Second, ok)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		return logHas(c, 0, "peer_versions=2..2") && logHas(c, 2, "peer_versions=1..1") && logHas(c, 2, "our_versions=2..2")
	}, 5*time.Second, 50*time.Millisecond, "both sides must log the refusal with both versions")
	for _, by := range []int{0, 1} {
		f, err := c.FlagsSeenBy(by, 2)
		require.NoError(t, err)
		assert.True(t, disconnected(f), "node %d must not accept node 2", by)
	}
	f, err := c.FlagsSeenBy(0, 1)
	require.NoError(t, err)
	assert.Equal(t, uint32(0), f, "the rest of the cluster stays OK")
}

func logHas(c *localdaemons.Cluster, node int, s string) bool {
	b, _ := os.ReadFile(c.Base(node) + "/log.ctdb")
	return strings.Contains(string(b), s)
}
