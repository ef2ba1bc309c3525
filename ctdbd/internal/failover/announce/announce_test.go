package announce

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"gctdb/ctdbd/internal/failover/netpacket"
	"gctdb/ctdbd/internal/failover/packetsock"
	"gctdb/tests/cluster/netns"
)

func TestFrames(t *testing.T) {
	hw := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	frames, err := Frames(hw, netip.MustParseAddr("198.18.0.10"))
	require.NoError(t, err)
	require.Len(t, frames, 2)
	req, err := netpacket.ParseARP(frames[0])
	require.NoError(t, err)
	assert.Equal(t, uint16(netpacket.ARPRequest), req.Op)
	reply, err := netpacket.ParseARP(frames[1])
	require.NoError(t, err)
	assert.Equal(t, uint16(netpacket.ARPReply), reply.Op)

	// A mapped IPv4 address is announced as IPv4.
	frames, err = Frames(hw, netip.MustParseAddr("::ffff:198.18.0.10"))
	require.NoError(t, err)
	assert.Len(t, frames, 2)

	frames, err = Frames(hw, netip.MustParseAddr("fe80::1%veth0"))
	require.NoError(t, err)
	require.Len(t, frames, 1)
	na, err := netpacket.ParseNA(frames[0])
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("fe80::1"), na.Target)
}

// capture opens a capture socket in ns on ifname for one EtherType.
func capture(t *testing.T, ns *netns.NS, ifname string, etype uint32) *packetsock.Capture {
	t.Helper()
	var c *packetsock.Capture
	require.NoError(t, ns.Do(func() (err error) {
		c, err = packetsock.OpenCapture(ifname, []bpf.Instruction{
			bpf.LoadAbsolute{Off: 12, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: etype, SkipFalse: 1},
			bpf.RetConstant{Val: 1514},
			bpf.RetConstant{Val: 0},
		})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGratuitousARPIsSeenByNeighbour(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "198.18.0.1/24", b, "198.18.0.2/24", "veth0")
	hwA := a.HardwareAddr(t, "veth0")
	public := netip.MustParseAddr("198.18.0.10")
	a.IP(t, "addr", "add", "198.18.0.10/24", "dev", "veth0")

	c := capture(t, b, "veth0", netpacket.EtherTypeARP)
	require.NoError(t, a.Do(func() error { return Send("veth0", public) }))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ops []uint16
	buf := make([]byte, 1514)
	for len(ops) < 2 {
		n, _, err := c.Read(ctx, buf)
		require.NoError(t, err, "gratuitous ARP not seen on the other end")
		arp, err := netpacket.ParseARP(buf[:n])
		require.NoError(t, err)
		if arp.SenderIP != public {
			continue // the kernel's own ARP traffic
		}
		assert.Equal(t, public, arp.TargetIP)
		assert.Equal(t, hwA, arp.SenderHW)
		assert.Equal(t, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, net.HardwareAddr(buf[0:6]))
		ops = append(ops, arp.Op)
	}
	assert.Equal(t, []uint16{netpacket.ARPRequest, netpacket.ARPReply}, ops)

	// B already has an entry for the address (say, from the old node);
	// a second announcement updates it to A's MAC.
	b.IP(t, "neigh", "replace", "198.18.0.10", "lladdr", "02:00:00:00:00:99", "dev", "veth0", "nud", "stale")
	require.NoError(t, a.Do(func() error { return Send("veth0", public) }))
	require.Eventually(t, func() bool {
		return strings.Contains(b.IP(t, "neigh", "show", "198.18.0.10", "dev", "veth0"), hwA.String())
	}, 5*time.Second, 20*time.Millisecond, "neighbour entry not updated to %s", hwA)
}

func TestNeighbourAdvertisementIsSeenByNeighbour(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "198.18.0.1/24", b, "198.18.0.2/24", "veth0")
	hwA := a.HardwareAddr(t, "veth0")
	// The address is only carried in the packet, never configured.
	target := netip.MustParseAddr("fe80::c612:a")
	c := capture(t, b, "veth0", netpacket.EtherTypeIPv6)
	require.NoError(t, a.Do(func() error { return Send("veth0", target) }))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 1514)
	for {
		n, _, err := c.Read(ctx, buf)
		require.NoError(t, err, "neighbour advertisement not seen on the other end")
		na, err := netpacket.ParseNA(buf[:n])
		if err != nil || na.Target != target {
			continue // router solicitations and the like
		}
		assert.Equal(t, hwA, na.TargetHW)
		assert.Equal(t, uint8(netpacket.NAFlagOverride), na.Flags)
		assert.Equal(t, uint8(255), na.HopLimit)
		return
	}
}

func TestSendErrors(t *testing.T) {
	a := netns.New(t)
	err := a.Do(func() error { return Send("nonexistent0", netip.MustParseAddr("198.18.0.10")) })
	assert.Error(t, err)
	// Loopback: nothing to do.
	assert.NoError(t, a.Do(func() error { return Send("lo", netip.MustParseAddr("127.0.0.2")) }))
}
