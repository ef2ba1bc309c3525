package failover_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/clienttest"
	"gctdb/ctdbd/internal/cluster"
	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/eventd"
	"gctdb/ctdbd/internal/failover"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
)

// fakeNet is a Network that only records what the service sends.
type fakeNet struct {
	mu        sync.Mutex
	present   map[netip.Addr]string
	announced []netip.Addr
	tickled   []tcpconn.Connection
}

func (f *fakeNet) Present() (map[netip.Addr]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[netip.Addr]string, len(f.present))
	for k, v := range f.present {
		out[k] = v
	}
	return out, nil
}

func (f *fakeNet) Announce(_ string, addr netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced = append(f.announced, addr)
	return nil
}

func (f *fakeNet) Tickle(conns []tcpconn.Connection) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tickled = append(f.tickled, conns...)
	return nil
}

func (f *fakeNet) Kill(context.Context, string, []tcpconn.Connection) error { return nil }

func (f *fakeNet) Established([]netip.Addr) (map[netip.Addr][]tcpconn.Connection, error) {
	return nil, nil
}

// testCluster is n in-process nodes with the event and failover
// services, the same public addresses on each.
type testCluster struct {
	t    *testing.T
	cl   *clienttest.Cluster
	dirs []string
	nets []*fakeNet
	n    int
}

// publicAddrs are the addresses of the test clusters.
var publicAddrs = []string{"192.168.100.1", "192.168.100.2", "192.168.100.3", "192.168.200.1", "192.168.200.2", "192.168.200.3"}

func startCluster(t *testing.T, prefix string, n int, tun *config.Tunables) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, n: n}
	var pa strings.Builder
	for _, a := range publicAddrs {
		fmt.Fprintf(&pa, "%s/24 eth0,eth1\n", a)
	}
	var addrs []string
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "public_addresses"), []byte(pa.String()), 0o644))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "legacy"), 0o755))
		tc.dirs = append(tc.dirs, dir)
		tc.nets = append(tc.nets, &fakeNet{present: map[netip.Addr]string{}})
		addrs = append(addrs, fmt.Sprintf("%s.%d", prefix, i+1))
	}
	if tun == nil {
		t := config.DefaultTunables()
		tun = &t
	}
	var logger *slog.Logger
	if os.Getenv("GCTDB_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tc.cl = clienttest.Start(t, clienttest.Options{
		Addrs: addrs, Port: 14579, LivenessPort: 14580, Tunables: tun, Logger: logger,
		Gates: []string{node.GateSetup, node.GateStartup},
		Services: func(pnn uint32) []service.Service {
			dir := tc.dirs[pnn]
			return []service.Service{
				eventd.New(eventd.Options{Dir: filepath.Join(dir, "legacy")}),
				cluster.New(cluster.Options{}),
				failover.New(failover.Options{PublicAddressesFile: filepath.Join(dir, "public_addresses"), Network: tc.nets[pnn], VerifyInterval: 100 * time.Millisecond}),
			}
		},
	})
	return tc
}

func (tc *testCluster) client(pnn int) *client.Client {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, tc.cl.Socket(uint32(pnn)))
	require.NoError(tc.t, err)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// holders returns each address's holder as node `by` sees it.
func holders(t *testing.T, c *client.Client, by uint32) map[string]int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := c.PublicIPs(ctx, by)
	if err != nil {
		return nil
	}
	out := make(map[string]int32)
	for _, ip := range l.IPs {
		out[ip.Addr.String()] = int32(ip.PNN)
	}
	return out
}

// hostedBy returns, per node, the addresses it hosts by its own account.
func (tc *testCluster) hostedBy(c *client.Client, up []int) map[int][]string {
	out := make(map[int][]string)
	for _, pnn := range up {
		for a, h := range holders(tc.t, c, uint32(pnn)) {
			if h == int32(pnn) {
				out[pnn] = append(out[pnn], a)
			}
		}
		slices.Sort(out[pnn])
	}
	return out
}

// balanced reports whether every address is hosted by exactly one of the
// nodes up, each hosting 6/len(up).
func (tc *testCluster) balanced(c *client.Client, up []int) bool {
	hosted := tc.hostedBy(c, up)
	seen := map[string]int{}
	for _, list := range hosted {
		if len(list) != len(publicAddrs)/len(up) {
			return false
		}
		for _, a := range list {
			seen[a]++
		}
	}
	if len(seen) != len(publicAddrs) {
		return false
	}
	for _, n := range seen {
		if n != 1 {
			return false
		}
	}
	return true
}

// TestFailoverInProcess starts three nodes, checks that the addresses
// are spread and that a stopped node's addresses move to the others
// quickly, and come back when it returns.
func TestFailoverInProcess(t *testing.T) {
	tc := startCluster(t, "127.106.2", 3, nil)
	c := tc.client(0)
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1, 2}) }, 10*time.Second, 20*time.Millisecond)

	before := tc.hostedBy(c, []int{2})[2]
	require.Len(t, before, 2)
	start := time.Now()
	tc.cl.Stop(2)
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1}) }, 5*time.Second, 5*time.Millisecond)
	took := time.Since(start)
	t.Logf("node stopped -> its addresses hosted elsewhere: %v", took)
	assert.Less(t, took, 2*time.Second)
	// Every node now agrees on the holders.
	assert.Equal(t, holders(t, c, 0), holders(t, c, 1))

	tc.cl.Restart(2)
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1, 2}) }, 10*time.Second, 20*time.Millisecond)
}

// TestIPReallocateAndFlags: `ctdb ipreallocate` waits for a run; a
// disabled node gives its addresses up, an enabled one gets some back.
func TestIPReallocateAndFlags(t *testing.T) {
	tc := startCluster(t, "127.106.3", 3, nil)
	c := tc.client(1)
	ctx := context.Background()
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1, 2}) }, 10*time.Second, 20*time.Millisecond)

	require.NoError(t, c.ModifyFlags(ctx, 1, proto.NodeFlagPermanentlyDisabled, 0))
	require.NoError(t, c.IPReallocate(ctx))
	assert.Empty(t, tc.hostedBy(c, []int{1})[1])
	assert.True(t, tc.balanced(c, []int{0, 2}))

	require.NoError(t, c.ModifyFlags(ctx, 1, 0, proto.NodeFlagPermanentlyDisabled))
	require.NoError(t, c.IPReallocate(ctx))
	assert.True(t, tc.balanced(c, []int{0, 1, 2}))
}

// TestAddDelReload covers addip, delip (deferred while hosted) and
// reloadips, and interface garbage collection.
func TestAddDelReload(t *testing.T) {
	tc := startCluster(t, "127.106.4", 2, nil)
	c := tc.client(0)
	ctx := context.Background()
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1}) }, 10*time.Second, 20*time.Millisecond)

	extra := netip.MustParseAddr("10.9.9.9")
	require.NoError(t, c.AddPublicIP(ctx, 0, netip.PrefixFrom(extra, 8), []string{"eth2"}))
	err := c.AddPublicIP(ctx, 0, netip.PrefixFrom(extra, 8), []string{"eth2"})
	assert.Equal(t, proto.StatusExists, proto.StatusOf(err))
	require.NoError(t, c.IPReallocate(ctx))
	require.Eventually(t, func() bool { return holders(t, c, 0)["10.9.9.9"] == 0 }, 5*time.Second, 10*time.Millisecond)
	ifaces, err := c.Ifaces(ctx, 0)
	require.NoError(t, err)
	require.Len(t, ifaces, 3)
	assert.Equal(t, proto.Iface{Name: "eth2", LinkUp: true, References: 1}, ifaces[2])
	// How the other three sit on eth0 and eth1 depends on the order of
	// the start-up runs (the table tests choose interfaces).
	assert.Equal(t, uint32(3), ifaces[0].References+ifaces[1].References)

	// Deleting a hosted address waits for the next run.
	require.NoError(t, c.DelPublicIP(ctx, 0, extra))
	assert.Contains(t, holders(t, c, 0), "10.9.9.9")
	require.NoError(t, c.IPReallocate(ctx))
	assert.NotContains(t, holders(t, c, 0), "10.9.9.9")
	ifaces, err = c.Ifaces(ctx, 0)
	require.NoError(t, err)
	assert.Len(t, ifaces, 2, "eth2 is garbage collected")

	// reloadips with one address removed from the file.
	pa := filepath.Join(tc.dirs[1], "public_addresses")
	require.NoError(t, os.WriteFile(pa, []byte("192.168.100.1/24 eth0\n192.168.100.2/24 eth0\n"), 0o644))
	require.NoError(t, c.ReloadIPs(ctx, 1))
	require.NoError(t, c.IPReallocate(ctx))
	h := holders(t, c, 1)
	assert.Len(t, h, 2)
	for a, pnn := range holders(t, c, 0) {
		if a != "192.168.100.1" && a != "192.168.100.2" {
			assert.Equal(t, int32(0), pnn, "%s can only live on node 0 now", a)
		}
	}
	info, err := c.PublicIPInfo(ctx, 1, netip.MustParseAddr("192.168.100.1"))
	require.NoError(t, err)
	assert.Len(t, info.Ifaces, 1)
	_, err = c.PublicIPInfo(ctx, 1, netip.MustParseAddr("192.168.200.1"))
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))
}

// TestIfaceDownMovesAddresses: an interface reported down makes its
// addresses move to a node where they can live.
func TestIfaceDownMovesAddresses(t *testing.T) {
	tc := startCluster(t, "127.106.5", 2, nil)
	c := tc.client(0)
	ctx := context.Background()
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1}) }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, c.SetIfaceLink(ctx, 1, "eth0", false))
	require.NoError(t, c.SetIfaceLink(ctx, 1, "eth1", false))
	require.Eventually(t, func() bool { return len(tc.hostedBy(c, []int{0})[0]) == len(publicAddrs) }, 5*time.Second, 10*time.Millisecond)
	err := c.SetIfaceLink(ctx, 1, "eth9", true)
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))
	require.NoError(t, c.SetIfaceLink(ctx, 1, "eth0", true))
	require.NoError(t, c.IPReallocate(ctx))
	assert.True(t, tc.balanced(c, []int{0, 1}))
}

// TestMoveIPAndTickles: moveip moves one address; tickles added on the
// holder are shared, and the new holder tickles the clients of a real
// address after taking it.
func TestMoveIPAndTickles(t *testing.T) {
	tc := startCluster(t, "127.106.6", 2, nil)
	c := tc.client(0)
	ctx := context.Background()
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1}) }, 10*time.Second, 20*time.Millisecond)
	for pnn := range uint32(2) {
		_, err := c.SetTunable(ctx, pnn, "NoIPFailback", 1)
		require.NoError(t, err)
	}

	addr := netip.MustParseAddr(tc.hostedBy(c, []int{0})[0][0])
	conn := proto.TCPConnection{Client: netip.MustParseAddrPort("10.1.1.1:50000"), Server: netip.AddrPortFrom(addr, 445)}
	require.NoError(t, c.AddTickle(ctx, 0, conn))
	require.Eventually(t, func() bool {
		l, err := c.Tickles(ctx, 1, addr, 0)
		return err == nil && len(l.Conns) == 1
	}, 5*time.Second, 10*time.Millisecond, "the holder shares its tickles")
	l, err := c.Tickles(ctx, 1, addr, 139)
	require.NoError(t, err)
	assert.Empty(t, l.Conns, "port filter")

	// Pretend 10.interface really put the address on node 1's interface.
	tc.nets[1].mu.Lock()
	tc.nets[1].present[addr] = "eth0"
	tc.nets[1].mu.Unlock()
	require.NoError(t, c.MoveIP(ctx, addr, 1))
	assert.Equal(t, int32(1), holders(t, c, 1)[addr.String()])
	assert.Equal(t, int32(1), holders(t, c, 0)[addr.String()])
	require.Eventually(t, func() bool {
		tc.nets[1].mu.Lock()
		defer tc.nets[1].mu.Unlock()
		return slices.Contains(tc.nets[1].announced, addr) && len(tc.nets[1].tickled) > 0
	}, 5*time.Second, 10*time.Millisecond)
	err = c.MoveIP(ctx, netip.MustParseAddr("10.0.0.1"), 1)
	assert.Error(t, err)
	require.NoError(t, c.DelTickle(ctx, 0, conn))
	l, err = c.Tickles(ctx, 0, addr, 0)
	require.NoError(t, err)
	assert.Empty(t, l.Conns)
}

// TestRogueAddressRemoved: an address on this node's interface that it
// does not host is removed through releaseip.
func TestRogueAddressRemoved(t *testing.T) {
	tc := startCluster(t, "127.106.7", 2, nil)
	c := tc.client(0)
	require.Eventually(t, func() bool { return tc.balanced(c, []int{0, 1}) }, 10*time.Second, 20*time.Millisecond)
	rogue := netip.MustParseAddr(tc.hostedBy(c, []int{1})[1][0])
	out := filepath.Join(tc.dirs[0], "released")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = releaseip ] && echo \"$3\" >> %s\nexit 0\n", out)
	require.NoError(t, os.WriteFile(filepath.Join(tc.dirs[0], "legacy", "10.interface.script"), []byte(script), 0o755))
	tc.nets[0].mu.Lock()
	tc.nets[0].present[rogue] = "eth0"
	tc.nets[0].mu.Unlock()
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), rogue.String())
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int32(1), holders(t, c, 0)[rogue.String()], "the rightful holder keeps it")
}
