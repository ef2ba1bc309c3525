package failover

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/internal/failover/publicaddr"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/transportd/proto"
)

func pa(s string, ifaces ...string) publicaddr.Address {
	return publicaddr.Address{Prefix: netip.MustParsePrefix(s), Interfaces: ifaces}
}

func TestTableAddDelAndHosting(t *testing.T) {
	tab := newTable(1)
	require.NoError(t, tab.add(pa("10.0.0.1/24", "eth0", "eth1")))
	require.NoError(t, tab.add(pa("10.0.0.2/24", "eth0")))
	require.NoError(t, tab.add(pa("fd00::1/64", "eth1")))
	assert.ErrorIs(t, tab.add(pa("10.0.0.1/16", "eth9")), ErrExists)

	l := tab.list(true)
	require.Len(t, l.IPs, 3)
	assert.Equal(t, "10.0.0.1", l.IPs[0].Addr.String(), "address order, IPv4 first")
	assert.Equal(t, proto.PNNUnknown, l.IPs[0].PNN)
	assert.True(t, l.IPs[0].Available)

	p, ok := tab.lookup(netip.MustParseAddr("10.0.0.1"))
	require.True(t, ok)
	assert.Equal(t, "eth0", tab.bestIface(p), "first interface on a tie")
	tab.taken(p, "eth0", false)
	p2, _ := tab.lookup(netip.MustParseAddr("fd00::1"))
	tab.taken(p2, "eth1", false)
	assert.Equal(t, "eth0", tab.bestIface(p), "stays on its interface")
	p3, _ := tab.lookup(netip.MustParseAddr("10.0.0.2"))
	assert.Equal(t, "eth0", tab.bestIface(p3))

	// The least used up interface wins; a down one never does.
	tab.released(p, 2)
	assert.Equal(t, "eth0", tab.bestIface(p), "eth0 has 0 addresses, eth1 has 1")
	changed, err := tab.setLink("eth0", false)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "eth1", tab.bestIface(p))
	assert.Equal(t, "", tab.bestIface(p3))
	assert.False(t, tab.available(p3))
	assert.True(t, tab.anyLinkDown())
	_, err = tab.setLink("eth7", true)
	assert.ErrorIs(t, err, ErrUnknownIfc)

	info, err := tab.info(netip.MustParseAddr("fd00::1"))
	require.NoError(t, err)
	assert.Equal(t, uint32(0), info.Active)
	assert.Equal(t, uint32(1), info.IP.PNN)
	assert.Equal(t, []proto.Iface{{Name: "eth1", LinkUp: true, References: 1}}, info.Ifaces)
	_, err = tab.info(netip.MustParseAddr("10.9.9.9"))
	assert.ErrorIs(t, err, ErrNotPublic)

	// A hosted address is deleted at its release; others at once.
	deferred, err := tab.del(netip.MustParseAddr("fd00::1"))
	require.NoError(t, err)
	assert.True(t, deferred)
	assert.False(t, tab.available(p2))
	_, err = tab.del(netip.MustParseAddr("fd00::1"))
	assert.ErrorIs(t, err, ErrNotPublic, "already on its way out")
	assert.True(t, tab.released(p2, proto.PNNUnknown))
	deferred, err = tab.del(netip.MustParseAddr("10.0.0.2"))
	require.NoError(t, err)
	assert.False(t, deferred)
	// eth1 is only used by 10.0.0.1 now; eth0 by it too.
	assert.Equal(t, []string{"eth0", "eth1"}, tab.ifaceNames())
	_, err = tab.del(netip.MustParseAddr("10.0.0.1"))
	require.NoError(t, err)
	assert.Empty(t, tab.ifaceList().Ifaces, "interfaces nothing uses are forgotten")
}

func TestTableReload(t *testing.T) {
	tab := newTable(0)
	for _, a := range []publicaddr.Address{pa("10.0.0.1/24", "eth0"), pa("10.0.0.2/24", "eth0"), pa("10.0.0.3/24", "eth0")} {
		require.NoError(t, tab.add(a))
	}
	held, _ := tab.lookup(netip.MustParseAddr("10.0.0.2"))
	tab.taken(held, "eth0", false)

	added, removed := tab.reload([]publicaddr.Address{pa("10.0.0.1/16", "eth1"), pa("10.0.0.4/24", "eth0")})
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.4")}, added)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")}, removed)
	p1, ok := tab.lookup(netip.MustParseAddr("10.0.0.1"))
	require.True(t, ok)
	assert.Equal(t, uint8(16), p1.bits)
	assert.Equal(t, []string{"eth1"}, p1.ifaces)
	assert.True(t, held.deletePending, "the hosted one goes at its release")
	_, ok = tab.lookup(netip.MustParseAddr("10.0.0.3"))
	assert.False(t, ok)

	// Reloading a file that has it again keeps it.
	tab.reload([]publicaddr.Address{pa("10.0.0.1/16", "eth1"), pa("10.0.0.2/24", "eth0"), pa("10.0.0.4/24", "eth0")})
	assert.False(t, held.deletePending)
}

func TestTickles(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.1")
	c := func(client string) tcpconn.Connection {
		return tcpconn.Connection{Client: netip.MustParseAddrPort(client), Server: netip.AddrPortFrom(addr, 445)}
	}
	tk := newTickles()
	tk.add(c("10.1.1.1:1000"))
	tk.setScanned(addr, []tcpconn.Connection{c("10.1.1.2:2000")})
	tk.setRemote(addr, []tcpconn.Connection{c("10.1.1.3:3000"), c("10.1.1.1:1000")})
	assert.Equal(t, []tcpconn.Connection{c("10.1.1.1:1000"), c("10.1.1.2:2000"), c("10.1.1.3:3000")}, tk.all(addr))

	list, changed := tk.toShare(addr, false)
	assert.True(t, changed)
	assert.Equal(t, []tcpconn.Connection{c("10.1.1.1:1000"), c("10.1.1.2:2000")}, list, "only this node's own")
	_, changed = tk.toShare(addr, false)
	assert.False(t, changed)
	_, changed = tk.toShare(addr, true)
	assert.True(t, changed, "forced")

	tk.del(c("10.1.1.2:2000"))
	tk.tookOver(addr)
	assert.Equal(t, []tcpconn.Connection{c("10.1.1.1:1000")}, tk.all(addr))
	tk.released(addr)
	assert.Equal(t, []tcpconn.Connection{c("10.1.1.1:1000")}, tk.all(addr), "manual entries stay")
	assert.Nil(t, tk.all(netip.MustParseAddr("10.0.0.9")))
}
