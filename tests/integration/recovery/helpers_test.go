//go:build integration

// Package recovery holds the integration tests of CTDB's
// INTEGRATION/database recovery group (recovery.NNN) and gctdb's own
// recovery cases against real local daemons.
package recovery

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// cluster starts a healthy cluster of n nodes on 127.105.<third>.x and
// waits for its first recovery.
func cluster(t *testing.T, third, n int) *localdaemons.Cluster {
	t.Helper()
	c := localdaemons.New(t, localdaemons.Options{Nodes: n, Prefix: fmt.Sprintf("127.105.%d", third)})
	c.StartAll()
	_, err := c.WaitAllOK(30 * time.Second)
	require.NoError(t, err)
	waitRecovered(t, c, c.All(), 0)
	return c
}

var (
	genRe  = regexp.MustCompile(`Generation:(\d+)`)
	modeRe = regexp.MustCompile(`Recovery mode:(\w+)`)
)

// generation returns node i's generation and recovery mode as `ctdb
// status` shows them.
func generation(c *localdaemons.Cluster, i int) (uint64, string, bool) {
	r := c.Ctdb(i, "status")
	if r.Exit != 0 {
		return 0, "", false
	}
	g, m := genRe.FindStringSubmatch(r.Stdout), modeRe.FindStringSubmatch(r.Stdout)
	if g == nil || m == nil {
		return 0, "", false
	}
	n, _ := strconv.ParseUint(g[1], 10, 64)
	return n, m[1], true
}

// waitRecovered waits until the nodes agree on one generation other than
// not, in recovery mode NORMAL, and returns it.
func waitRecovered(t *testing.T, c *localdaemons.Cluster, nodes []int, not uint64) uint64 {
	t.Helper()
	var gen uint64
	require.Eventually(t, func() bool {
		gen = 0
		for _, i := range nodes {
			g, mode, ok := generation(c, i)
			if !ok || mode != "NORMAL" || g == not || (gen != 0 && g != gen) {
				return false
			}
			gen = g
		}
		return true
	}, 60*time.Second, 100*time.Millisecond, "nodes %v never agreed on a new generation", nodes)
	return gen
}

// recover runs `ctdb recover` on node i and waits until the nodes are
// recovered in a new generation.
func recoverNow(t *testing.T, c *localdaemons.Cluster, i int, nodes []int) uint64 {
	t.Helper()
	before, _, _ := generation(c, nodes[0])
	c.CtdbOK(t, i, "recover")
	return waitRecovered(t, c, nodes, before)
}

// ctx is a test context with a generous timeout.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// transactionLoops runs transaction_loop for 15 s on the given nodes
// against a persistent database and delivers their results once all
// have ended.
func transactionLoops(c *localdaemons.Cluster, db string, nodes []int) <-chan []localdaemons.Result {
	done := make(chan []localdaemons.Result, 1)
	go func() {
		res := make([]localdaemons.Result, len(nodes))
		var wg sync.WaitGroup
		for k, i := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[k] = c.Run(i, "transaction_loop", "-n", strconv.Itoa(len(nodes)), "-t", "15", "-D", db, "-T", "persistent", "-k", "testkey")
			}()
		}
		wg.Wait()
		done <- res
	}()
	return done
}

// requireLoopsConsistent requires every loop to have succeeded and every
// node to have the same copy of the database.
func requireLoopsConsistent(t *testing.T, c *localdaemons.Cluster, db string, res []localdaemons.Result) {
	t.Helper()
	for i, r := range res {
		require.Zero(t, r.Exit, "loop %d: %s%s", i, r.Stdout, r.Stderr)
	}
	seq := c.CtdbOK(t, 0, "getdbseqnum", db)
	val := c.CtdbOK(t, 0, "pfetch", db, "testkey")
	for i := 1; i < c.Nodes; i++ {
		assert.Equal(t, seq, c.CtdbOK(t, i, "getdbseqnum", db), "node %d", i)
		assert.Equal(t, val, c.CtdbOK(t, i, "pfetch", db, "testkey"), "node %d", i)
	}
}
