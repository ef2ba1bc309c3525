//go:build integration

package simple

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// soakDuration is 60 s, or GCTDB_SOAK_SECONDS for a shorter local run.
func soakDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("GCTDB_SOAK_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 60 * time.Second
}

// watchNoDisconnect samples every node's view every 50 ms for d and
// fails on any DISCONNECTED (or any other flag).
func watchNoDisconnect(t *testing.T, c *localdaemons.Cluster, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	samples := 0
	for time.Now().Before(deadline) {
		for by := 0; by < c.Nodes; by++ {
			m, err := c.NodeMap(by)
			require.NoError(t, err)
			for _, n := range m.Nodes {
				require.Zero(t, n.Flags, "node %d saw node %d with flags 0x%x after %d samples", by, n.PNN, n.Flags, samples)
			}
		}
		samples++
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d samples of every node's view, all OK", samples)
}

func assertNoDisconnectLogged(t *testing.T, c *localdaemons.Cluster) {
	t.Helper()
	for i := 0; i < c.Nodes; i++ {
		b, err := os.ReadFile(filepath.Join(c.Base(i), "log.ctdb"))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "node is disconnected") || strings.Contains(line, "node disconnected") {
				assert.Fail(t, "false disconnect", "node %d logged: %s", i, line)
			}
		}
	}
}

// TestNoFalseDisconnect runs a cluster idle for 60 s and then for 60 s
// under a load that saturates every core: no node may ever be seen
// DISCONNECTED. It does not run in parallel with the other tests, which
// the load would disturb.
func TestNoFalseDisconnect(t *testing.T) {
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.6"})
	c.StartAll()
	_, err := c.WaitAllOK(5 * time.Second)
	require.NoError(t, err)

	d := soakDuration()
	t.Run("idle", func(t *testing.T) { watchNoDisconnect(t, c, d) })

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < runtime.NumCPU(); i++ {
		cmd := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
		require.NoError(t, cmd.Start())
		wg.Add(1)
		go func() { defer wg.Done(); cmd.Wait() }()
	}
	t.Run("cpu-saturated", func(t *testing.T) { watchNoDisconnect(t, c, d) })
	cancel()
	wg.Wait()
	assertNoDisconnectLogged(t, c)
}
