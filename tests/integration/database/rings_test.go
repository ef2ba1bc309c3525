//go:build integration

package database

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// ringTime is how long the ring tests run: CTDB's 30 seconds, or less
// with GCTDB_RING_SECONDS for quick runs.
func ringTime() string {
	if s := os.Getenv("GCTDB_RING_SECONDS"); s != "" {
		return s
	}
	return "30"
}

func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

var (
	fetchLine   = regexp.MustCompile(`(?m)^Fetch\[(\d+)\]: (\d+(\.\d+)?) msgs/sec$`)
	updatesLine = regexp.MustCompile(`(?m)^Updates\[\d+\]: (\d+)$`)
)

// runFetchRing runs fetch_ring on every node for key and checks CTDB's
// output; it returns the number of updates the nodes made.
func runFetchRing(t *testing.T, c *localdaemons.Cluster, seconds, key string) int {
	t.Helper()
	res := onAll(t, c, "fetch_ring", "-n", strconv.Itoa(c.Nodes), "-t", seconds, "-D", "fetch_ring.tdb", "-k", key, "-i")
	updates := 0
	for i, r := range res {
		require.Zero(t, r.Exit, "node %d: %s%s", i, r.Stdout, r.Stderr)
		m := fetchLine.FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, "node %d output: %s", i, r.Stdout)
		rate, _ := strconv.ParseFloat(m[2], 64)
		assert.GreaterOrEqual(t, rate, 10.0, "node %d: CTDB's fetch tests want at least 10 msgs/sec", i)
		u := updatesLine.FindStringSubmatch(r.Stdout)
		require.NotNil(t, u)
		n, _ := strconv.Atoi(u[1])
		updates += n
		if i == 0 {
			assert.True(t, strings.HasPrefix(r.Stdout, "Waiting for cluster\n"), r.Stdout)
		}
	}
	return updates
}

// recordUpdates reads fetch_ring's record and returns the updates it
// counts (see tests/src/fetch_ring).
func recordUpdates(t *testing.T, c *localdaemons.Cluster, key string) int {
	t.Helper()
	rec := catdb(t, c, 0, "catdb", "fetch_ring.tdb")[key]
	data := strings.TrimRight(string(rec.data()), "\x00")
	n := strings.Count(data, "msg_count=")
	first, _, _ := strings.Cut(data, "\n")
	if rest, ok := strings.CutPrefix(first, "Test data after "); ok {
		before, err := strconv.Atoi(strings.TrimSuffix(rest, " updates"))
		require.NoError(t, err)
		n += before
	}
	return n
}

// TestFetch001Ring is fetch.001: fetch_ring over 3 nodes for 30 s; every
// update made is in the record at the end (no lost update).
func TestFetch001Ring(t *testing.T) {
	t.Parallel()
	c := cluster(t, 20, 3)
	updates := runFetchRing(t, c, ringTime(), "testkey")
	t.Logf("%d updates", updates)
	assert.Greater(t, updates, 100)
	assert.Equal(t, updates, recordUpdates(t, c, "testkey"))
}

var hotKeyLine = regexp.MustCompile(`(?m)^\s+Count:(\d+) Key:([0-9a-f]+)$`)

// TestFetch002RingHotkeys is fetch.002: fetch_ring on several keys in
// turn; each key's updates all arrive, and every node lists the keys as
// hot keys, in CTDB's order.
func TestFetch002RingHotkeys(t *testing.T) {
	t.Parallel()
	c := cluster(t, 21, 3)
	const keys = 3
	for k := 1; k <= keys; k++ {
		key := fmt.Sprintf("testkey%d", k)
		updates := runFetchRing(t, c, "5", key)
		assert.Equal(t, updates, recordUpdates(t, c, key), key)
		for i := 0; i < c.Nodes; i++ {
			out := c.CtdbOK(t, i, "dbstatistics", "fetch_ring.tdb")
			hot := hotKeyLine.FindAllStringSubmatch(out, -1)
			require.Len(t, hot, k, "node %d:\n%s", i, out)
			counts := make([]int, len(hot))
			found := map[string]bool{}
			for j, h := range hot {
				counts[j], _ = strconv.Atoi(h[1])
				found[h[2]] = true
			}
			for j := 1; j < len(counts); j++ {
				assert.LessOrEqual(t, counts[j-1], counts[j], "hot keys sorted as CTDB sorts them, coldest first")
			}
			for j := 1; j <= k; j++ {
				assert.True(t, found[fmt.Sprintf("%x", fmt.Sprintf("testkey%d", j))], "node %d: testkey%d hot", i, j)
			}
		}
	}
}

var ringLine = regexp.MustCompile(`(?m)^Ring: (\d+(\.\d+)?) msgs/sec \(\+ve=(\d+) -ve=(\d+)\)$`)

// TestCluster020MessageRing is cluster.020: message_ring over 3 nodes;
// messages go round in both directions, each arriving once and in order
// (the program fails on a lost, duplicated or reordered one).
func TestCluster020MessageRing(t *testing.T) {
	t.Parallel()
	c := cluster(t, 22, 3)
	res := onAll(t, c, "message_ring", "-n", "3", "-t", ringTime())
	for i, r := range res {
		require.Zero(t, r.Exit, "node %d: %s%s", i, r.Stdout, r.Stderr)
		m := ringLine.FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, "node %d: %s", i, r.Stdout)
		plus, _ := strconv.Atoi(m[3])
		minus, _ := strconv.Atoi(m[4])
		t.Logf("node %d: %s", i, strings.TrimSpace(m[0]))
		assert.Greater(t, plus, 100)
		assert.Greater(t, minus, 100)
	}
}

var tunnelLine = regexp.MustCompile(`(?m)^pnn\[(\d+)\] (\d+\.\d) msgs/sec$`)

// TestCluster021TunnelRing is cluster.021: tunnel_test over 3 nodes;
// every node's token goes round the ring and comes back with the count
// it carried.
func TestCluster021TunnelRing(t *testing.T) {
	t.Parallel()
	c := cluster(t, 23, 3)
	res := onAll(t, c, "tunnel_test", "-n", "3", "-t", ringTime())
	for i, r := range res {
		require.Zero(t, r.Exit, "node %d: %s%s", i, r.Stdout, r.Stderr)
		m := tunnelLine.FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, "node %d: %s", i, r.Stdout)
		rate, _ := strconv.ParseFloat(m[2], 64)
		assert.Greater(t, rate, 10.0, "node %d", i)
	}
}
