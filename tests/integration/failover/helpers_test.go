//go:build integration

// Package failover holds the integration tests of CTDB's
// INTEGRATION/failover group (pubips.*) and the event script tests of
// INTEGRATION/simple (eventscripts.*) against real local daemons, where
// public addresses are bookkeeping only, plus gctdb's failover timing
// tests. The namespace cluster in tests/cluster checks real addresses.
package failover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/tests/localdaemons"
)

// newCluster sets up and starts a cluster on prefix (127.106.y) and waits
// until every node is OK and RUNNING and the addresses are placed.
func newCluster(t *testing.T, prefix string, nodes int, setup ...string) *localdaemons.Cluster {
	t.Helper()
	c := localdaemons.New(t, localdaemons.Options{Prefix: prefix, Nodes: nodes, SetupArgs: setup})
	c.StartAll()
	waitHealthy(t, c)
	if !slices.Contains(setup, "-F") {
		waitPlaced(t, c)
	}
	return c
}

// waitPlaced waits until every public address is hosted once and every
// node that has public addresses hosts some, as on a settled cluster.
func waitPlaced(t *testing.T, c *localdaemons.Cluster) {
	t.Helper()
	require.Eventually(t, func() bool {
		all := ips(t, c, 0, true)
		for _, pnn := range all {
			if pnn < 0 {
				return false
			}
		}
		if !allHostedOnce(t, c, c.All(), keys(all)) {
			return false
		}
		for i := 0; i < c.Nodes; i++ {
			if len(ips(t, c, i, false)) > 0 && len(hostedBy(t, c, i)) == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "public addresses not placed")
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func waitHealthy(t *testing.T, c *localdaemons.Cluster) {
	t.Helper()
	_, err := c.WaitAllOK(20 * time.Second)
	require.NoError(t, err)
	for i := 0; i < c.Nodes; i++ {
		require.Eventually(t, func() bool {
			return c.Ctdb(i, "runstate", "running").Exit == 0
		}, 20*time.Second, 20*time.Millisecond, "node %d not RUNNING", i)
	}
}

// ips returns node by's `ctdb -X ip` (or `ip all`) as address -> node.
func ips(t *testing.T, c *localdaemons.Cluster, by int, all bool) map[string]int {
	t.Helper()
	args := []string{"-X", "ip"}
	if all {
		args = append(args, "all")
	}
	r := c.Ctdb(by, args...)
	require.Zero(t, r.Exit, "ctdb %v: %s", args, r.Stderr)
	out := make(map[string]int)
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n")[1:] {
		f := strings.Split(line, "|")
		require.GreaterOrEqual(t, len(f), 4, "%q", line)
		pnn, err := strconv.Atoi(f[2])
		require.NoError(t, err)
		out[f[1]] = pnn
	}
	return out
}

// hostedBy lists the addresses node pnn hosts by its own account.
func hostedBy(t *testing.T, c *localdaemons.Cluster, pnn int) []string {
	t.Helper()
	var out []string
	for a, h := range ips(t, c, pnn, false) {
		if h == pnn {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// waitHosted waits until node pnn hosts (or, with want false, does not
// host) every address.
func waitHosted(t *testing.T, c *localdaemons.Cluster, pnn int, want bool, addrs ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		hosted := ips(t, c, pnn, false)
		for _, a := range addrs {
			h, ok := hosted[a]
			if (ok && h == pnn) != want {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "node %d hosting %v: want %v", pnn, addrs, want)
}

// selectTestNode picks a node that hosts addresses and one of them, as
// CTDB's select_test_node_and_ips does.
func selectTestNode(t *testing.T, c *localdaemons.Cluster) (int, string) {
	t.Helper()
	var node int
	var addr string
	require.Eventually(t, func() bool {
		for a, h := range ips(t, c, 0, true) {
			if h >= 0 {
				node, addr = h, a
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "no node hosts an address")
	return node, addr
}

// writeScript puts an event script into a node's events/legacy.
func writeScript(t *testing.T, c *localdaemons.Cluster, node int, name, body string) {
	t.Helper()
	p := filepath.Join(c.Base(node), "events", "legacy", name+".script")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
}

// holdersFrom returns the addresses every node claims to host, from the
// daemons directly: address -> claiming nodes.
func holdersFrom(t *testing.T, c *localdaemons.Cluster, nodes []int) map[string][]int {
	t.Helper()
	out := make(map[string][]int)
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl, err := client.Connect(ctx, c.Socket(n))
		if err != nil {
			cancel()
			continue
		}
		l, err := cl.PublicIPs(ctx, client.Local)
		cl.Close()
		cancel()
		if err != nil {
			continue
		}
		for _, ip := range l.IPs {
			if ip.PNN == uint32(n) {
				out[ip.Addr.String()] = append(out[ip.Addr.String()], n)
			}
		}
	}
	return out
}

// allHostedOnce reports whether each of addrs is hosted by exactly one
// of nodes.
func allHostedOnce(t *testing.T, c *localdaemons.Cluster, nodes []int, addrs []string) bool {
	h := holdersFrom(t, c, nodes)
	for _, a := range addrs {
		if len(h[a]) != 1 {
			return false
		}
	}
	return true
}

func without(nodes []int, n int) []int {
	return slices.DeleteFunc(slices.Clone(nodes), func(x int) bool { return x == n })
}

// setFlags changes a node's administrative flags and runs a takeover, as
// `ctdb disable/enable/stop/continue` do.
func setFlags(t *testing.T, c *localdaemons.Cluster, node int, set, clear uint32) {
	t.Helper()
	cl := c.Client(node)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cl.ModifyFlags(ctx, client.Local, set, clear))
	require.Eventually(t, func() bool {
		f, err := c.FlagsSeenBy(node, node)
		return err == nil && f&set == set && f&clear == 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, cl.IPReallocate(ctx))
}

func publicAddressesFile(c *localdaemons.Cluster, node int) string {
	return filepath.Join(c.Base(node), "public_addresses")
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
