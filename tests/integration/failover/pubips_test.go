//go:build integration

package failover

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

// pubips.001.list: `ctdb ip all` lists every address once with its node,
// and -X gives the same in CTDB's machine form.
func TestPubips001List(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.11", 3)
	node, _ := selectTestNode(t, c)
	text := c.CtdbOK(t, 1, "ip", "all")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	require.Equal(t, "Public IPs on ALL nodes", lines[0])
	require.Len(t, lines, 5, "two addresses on each node but one: %s", text)
	var machine strings.Builder
	machine.WriteString("|Public IP|Node|\n")
	for _, l := range lines[1:] {
		require.Regexp(t, `^192\.168\.[12]00\.\d+ [0-2]$`, l)
		machine.WriteString("|" + strings.ReplaceAll(l, " ", "|") + "|\n")
	}
	assert.Equal(t, machine.String(), c.CtdbOK(t, 1, "-X", "ip", "all"))
	// Every address is hosted by exactly one node, which agrees.
	for a, pnn := range ips(t, c, 1, true) {
		assert.Equal(t, pnn, ips(t, c, pnn, false)[a], "node %d agrees it hosts %s", pnn, a)
	}
	v := c.CtdbOK(t, node, "ip", "-v")
	assert.Regexp(t, regexp.MustCompile(`(?m)^192\.168\.\d+\.\d+ node\[\d\] active\[(lo)?\] available\[lo\] configured\[lo\]$`), v)
}

// pubips.010.addip: an address deleted everywhere and added on one node
// ends up on that node.
func TestPubips010AddIP(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.12", 3)
	node, ip := selectTestNode(t, c)
	for i := 0; i < c.Nodes; i++ {
		c.CtdbOK(t, i, "delip", ip)
	}
	c.CtdbOK(t, node, "ipreallocate")
	waitHosted(t, c, node, false, ip)
	assert.NotContains(t, ips(t, c, 0, true), ip)

	c.CtdbOK(t, node, "addip", ip+"/24", "lo")
	r := c.Ctdb(node, "addip", ip+"/24", "lo")
	assert.Equal(t, 0, r.Exit)
	assert.Equal(t, "Node already knows about IP "+ip+"\n", r.Stderr)
	c.CtdbOK(t, node, "ipreallocate")
	waitHosted(t, c, node, true, ip)
}

// pubips.011.delip: a hosted address deleted from its node leaves it.
func TestPubips011DelIP(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.13", 3)
	node, ip := selectTestNode(t, c)
	c.CtdbOK(t, node, "delip", ip)
	c.CtdbOK(t, node, "ipreallocate")
	waitHosted(t, c, node, false, ip)
	assert.NotContains(t, ips(t, c, node, false), ip, "no longer configured")
	r := c.Ctdb(node, "delip", ip)
	assert.Equal(t, 0, r.Exit)
	assert.Equal(t, "Node does not know about IP address "+ip+"\n", r.Stderr)
}

// pubips.012.reloadips: removing an address from public_addresses and
// reloading takes it away; restoring brings addresses back; an empty
// file leaves the node without any.
func TestPubips012ReloadIPs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.14", 3)
	node, ip := selectTestNode(t, c)
	file := publicAddressesFile(c, node)
	orig, err := os.ReadFile(file)
	require.NoError(t, err)

	var kept []string
	for _, l := range strings.Split(string(orig), "\n") {
		if l != "" && !strings.HasPrefix(l, ip+"/") {
			kept = append(kept, l)
		}
	}
	writeFile(t, file, strings.Join(kept, "\n")+"\n")
	c.CtdbOK(t, node, "reloadips", "all")
	assert.NotContains(t, ips(t, c, node, false), ip)

	writeFile(t, file, string(orig))
	c.CtdbOK(t, node, "reloadips", "all")
	assert.Contains(t, ips(t, c, node, false), ip)
	c.CtdbOK(t, node, "ipreallocate")
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) > 0 }, 10*time.Second, 20*time.Millisecond)

	writeFile(t, file, "")
	c.CtdbOK(t, node, "reloadips")
	assert.Empty(t, ips(t, c, node, false))
	assert.Equal(t, "Public IPs on node "+string(rune('0'+node))+"\n", c.CtdbOK(t, node, "ip"))
}

// pubips.013.failover_noop: with failover disabled no address is
// hosted; with no public addresses ipreallocate still works.
func TestPubips013FailoverNoop(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.15", 3, "-F")
	c.CtdbOK(t, 0, "ipreallocate")
	all := ips(t, c, 1, true)
	require.NotEmpty(t, all)
	for a, pnn := range all {
		assert.Equal(t, -1, pnn, "%s is hosted with failover disabled", a)
	}

	e := newCluster(t, "127.106.16", 3, "-P", os.DevNull)
	e.CtdbOK(t, 0, "ipreallocate")
	assert.Empty(t, ips(t, e, 1, true))
	assert.Equal(t, "No interfaces configured on node 2\n", e.CtdbOK(t, 2, "ifaces"))
}

// pubips.014.iface_gc: once every address of an interface is deleted,
// the interface disappears from `ctdb ifaces`.
func TestPubips014IfaceGC(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.17", 3)
	node, _ := selectTestNode(t, c)
	out := c.CtdbOK(t, node, "ifaces", "-X")
	assert.Equal(t, "|Name|LinkStatus|References|\n|lo|1|2|\n", out)
	for ip := range ips(t, c, node, false) {
		c.CtdbOK(t, node, "delip", ip)
	}
	c.CtdbOK(t, node, "ipreallocate")
	assert.Equal(t, "No interfaces configured on node "+string(rune('0'+node))+"\n", c.CtdbOK(t, node, "ifaces", "-X"))
}

// pubips.020.moveip: moveip moves an address to a node that can host it.
func TestPubips020MoveIP(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.18", 3)
	node, ip := selectTestNode(t, c)
	to := -1
	for i := 0; i < c.Nodes; i++ {
		if _, ok := ips(t, c, i, false)[ip]; ok && i != node {
			to = i
			break
		}
	}
	require.NotEqual(t, -1, to, "no other node can host %s", ip)
	for i := 0; i < c.Nodes; i++ {
		c.CtdbOK(t, i, "setvar", "IPAllocAlgorithm", "2")
		c.CtdbOK(t, i, "setvar", "NoIPFailback", "1")
	}
	c.CtdbOK(t, node, "moveip", ip, string(rune('0'+to)))
	waitHosted(t, c, node, false, ip)
	waitHosted(t, c, to, true, ip)

	// A node without the address cannot take it.
	for i := 0; i < c.Nodes; i++ {
		if _, ok := ips(t, c, i, false)[ip]; !ok {
			r := c.Ctdb(node, "moveip", ip, string(rune('0'+i)))
			assert.Equal(t, 1, r.Exit)
			assert.Contains(t, r.Stderr, "Failed to move IP "+ip)
		}
	}
}

// pubips.030.disable_enable: a disabled node gives its addresses up, an
// enabled one gets some again.
func TestPubips030DisableEnable(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.19", 3)
	node, _ := selectTestNode(t, c)
	setFlags(t, c, node, proto.NodeFlagPermanentlyDisabled, 0)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) == 0 }, 10*time.Second, 20*time.Millisecond)
	setFlags(t, c, node, 0, proto.NodeFlagPermanentlyDisabled)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) > 0 }, 10*time.Second, 20*time.Millisecond)
}

// pubips.032.stop_continue: as disable/enable, for a stopped node.
func TestPubips032StopContinue(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.20", 3)
	node, _ := selectTestNode(t, c)
	setFlags(t, c, node, proto.NodeFlagStopped, 0)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) == 0 }, 10*time.Second, 20*time.Millisecond)
	setFlags(t, c, node, 0, proto.NodeFlagStopped)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) > 0 }, 10*time.Second, 20*time.Millisecond)
}

// pubips.040.NoIPTakeover: with NoIPTakeover a node that comes back gets
// nothing.
func TestPubips040NoIPTakeover(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.21", 3)
	c.CtdbOK(t, 0, "ipreallocate")
	node := -1
	for i := 0; i < c.Nodes; i++ {
		if len(hostedBy(t, c, i)) > 0 {
			node = i
		}
	}
	require.NotEqual(t, -1, node)
	for i := 0; i < c.Nodes; i++ {
		c.CtdbOK(t, i, "setvar", "NoIPTakeover", "1")
	}
	setFlags(t, c, node, proto.NodeFlagPermanentlyDisabled, 0)
	require.Eventually(t, func() bool { return len(hostedBy(t, c, node)) == 0 }, 10*time.Second, 20*time.Millisecond)
	setFlags(t, c, node, 0, proto.NodeFlagPermanentlyDisabled)
	c.CtdbOK(t, node, "ipreallocate")
	c.CtdbOK(t, node, "ipreallocate")
	assert.Empty(t, hostedBy(t, c, node), "addresses were taken over despite NoIPTakeover")
}

// pubips.050.missing_ip: an address added on a node whose interface is
// down is not hosted there until the link comes up.
func TestPubips050MissingIP(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "127.106.22", 3)
	node, ip := selectTestNode(t, c)
	for i := 0; i < c.Nodes; i++ {
		c.CtdbOK(t, i, "delip", ip)
	}
	c.CtdbOK(t, node, "ipreallocate")
	waitHosted(t, c, node, false, ip)

	c.CtdbOK(t, node, "setifacelink", "lo", "down")
	c.CtdbOK(t, node, "addip", ip+"/24", "lo")
	c.CtdbOK(t, node, "ipreallocate")
	// Several local checks (one a second) pass without the address.
	time.Sleep(2500 * time.Millisecond)
	assert.Equal(t, -1, ips(t, c, node, false)[ip], "the address is hosted while its interface is down")
	assert.Contains(t, c.CtdbOK(t, 0, "status"), "PARTIALLYONLINE")

	c.CtdbOK(t, node, "setifacelink", "lo", "up")
	waitHosted(t, c, node, true, ip)
}
