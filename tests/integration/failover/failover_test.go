//go:build integration

package failover

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// killTarget is the budget from kill -9 to the node's addresses being
// hosted elsewhere, in local daemons (bookkeeping only).
const killTarget = 500 * time.Millisecond

// everyAddress lists the public addresses of the cluster.
func everyAddress(t *testing.T, c *localdaemons.Cluster, by int) []string {
	var out []string
	for a := range ips(t, c, by, true) {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// killAndTime kills node n and returns how long until every address is
// hosted exactly once by the others.
func killAndTime(t *testing.T, c *localdaemons.Cluster, n int, up []int, addrs []string) time.Duration {
	t.Helper()
	require.True(t, allHostedOnce(t, c, up, addrs), "addresses not settled before the kill")
	require.NotEmpty(t, holdersFrom(t, c, []int{n}), "node %d hosts nothing", n)
	survivors := without(up, n)
	start := time.Now()
	c.Kill(n)
	for !allHostedOnce(t, c, survivors, addrs) {
		require.Less(t, time.Since(start), 20*time.Second, "addresses of node %d never moved", n)
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// A killed node's addresses are hosted elsewhere within 0.5 s, also
// right after start and right after an earlier failover (CTDB 4.17 waits
// out RerecoveryTimeout there: 5-7 s).
func TestKillFailsOverFast(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.41", 3)
	addrs := everyAddress(t, c, 0)
	require.Len(t, addrs, 4)
	nodes := c.All()
	require.Eventually(t, func() bool { return allHostedOnce(t, c, nodes, addrs) }, 10*time.Second, 5*time.Millisecond)

	var times []time.Duration
	// Kill the nodes hosting addresses in turn (the leader, node 0, when
	// it hosts any), restarting each and killing the next at once.
	for round := 0; round < 4; round++ {
		var hosts []int
		for _, n := range nodes {
			if len(hostedBy(t, c, n)) > 0 {
				hosts = append(hosts, n)
			}
		}
		require.NotEmpty(t, hosts)
		victim := hosts[round%len(hosts)]
		took := killAndTime(t, c, victim, nodes, addrs)
		times = append(times, took)
		t.Logf("round %d: kill -9 of node %d -> addresses hosted elsewhere in %v", round, victim, took)
		c.Start(victim)
		waitHealthy(t, c)
		waitPlaced(t, c)
	}
	assert.Less(t, slices.Max(times), killTarget, "times: %v", times)
}

// Stopping a node moves its addresses to the others before the daemon
// exits, so clients never find them unhosted.
func TestShutdownMovesAddressesFirst(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.42", 3)
	addrs := everyAddress(t, c, 0)
	nodes := c.All()
	require.Eventually(t, func() bool { return allHostedOnce(t, c, nodes, addrs) }, 10*time.Second, 5*time.Millisecond)
	victim := 2
	if len(holdersFrom(t, c, []int{2})) == 0 {
		victim = 1
	}
	c.Stop(victim)
	assert.True(t, allHostedOnce(t, c, without(nodes, victim), addrs), "addresses were unhosted after the shutdown returned: %v", holdersFrom(t, c, nodes))
	assert.Contains(t, string(mustRead(t, c.Base(victim)+"/log.ctdb")), "addresses moved away before shutdown")
}
