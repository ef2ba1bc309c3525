package tickle

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"gctdb/ctdbd/internal/failover/netpacket"
	"gctdb/ctdbd/internal/failover/packetsock"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/tests/cluster/netns"
)

// tcpCapture captures every TCP frame in ns on ifname.
func tcpCapture(t *testing.T, ns *netns.NS, ifname string) *packetsock.Capture {
	t.Helper()
	var c *packetsock.Capture
	require.NoError(t, ns.Do(func() (err error) {
		c, err = packetsock.OpenCapture(ifname, []bpf.Instruction{bpf.RetConstant{Val: 256}})
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// nextFrom returns the next captured TCP segment from src to dst.
func nextFrom(t *testing.T, c *packetsock.Capture, src, dst netip.AddrPort) netpacket.TCPSegment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	buf := make([]byte, 256)
	for {
		n, _, err := c.Read(ctx, buf)
		require.NoError(t, err, "no segment %s -> %s within 1s", src, dst)
		seg, err := netpacket.ParseFrameTCP(buf[:n])
		if err == nil && seg.Src == src && seg.Dst == dst {
			return seg
		}
	}
}

// The client answers a tickle ACK with an ACK carrying its real sequence
// numbers, which proves that the forged segment (and its checksums) was
// accepted by the client's TCP stack.
func TestTickleMakesClientAnswer(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "198.18.0.1/24", b, "198.18.0.2/24", "veth0")
	srv, cli := netns.TCPPair(t, a, "198.18.0.1:0", b)
	conn, err := tcpconn.FromConn(srv)
	require.NoError(t, err)

	// Move some data so the sequence numbers are not the initial ones.
	_, err = cli.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = srv.Read(buf)
	require.NoError(t, err)

	c := tcpCapture(t, a, "veth0")
	var s *Sender
	require.NoError(t, a.Do(func() (err error) { s, err = Open(); return err }))
	defer s.Close()
	require.NoError(t, s.Tickle(conn))

	reply := nextFrom(t, c, conn.Client, conn.Server)
	assert.Equal(t, uint8(netpacket.TCPFlagACK), reply.Flags&(netpacket.TCPFlagACK|netpacket.TCPFlagRST|netpacket.TCPFlagSYN))
	assert.NotZero(t, reply.Seq)
	assert.NotZero(t, reply.Ack)
}

func TestTickleIPv6Loopback(t *testing.T) {
	ns := netns.New(t)
	srv, _ := netns.TCPPair(t, ns, "[::1]:0", ns)
	conn, err := tcpconn.FromConn(srv)
	require.NoError(t, err)
	c := tcpCapture(t, ns, "lo")
	var s *Sender
	require.NoError(t, ns.Do(func() (err error) { s, err = Open(); return err }))
	defer s.Close()
	require.NoError(t, s.Tickle(conn))

	// Our own tickle shows up on lo first, then the client's answer.
	own := nextFrom(t, c, conn.Server, conn.Client)
	assert.Equal(t, uint16(netpacket.TickleWindow), own.Window)
	assert.Zero(t, own.Seq)
	reply := nextFrom(t, c, conn.Client, conn.Server)
	assert.NotZero(t, reply.Ack)
}

func TestSenderErrors(t *testing.T) {
	ns := netns.New(t)
	var s *Sender
	require.NoError(t, ns.Do(func() (err error) { s, err = Open(); return err }))
	err := s.Tickle(tcpconn.Connection{
		Client: netip.MustParseAddrPort("198.18.0.2:1"), Server: netip.MustParseAddrPort("[::1]:2"),
	})
	assert.ErrorIs(t, err, netpacket.ErrMixedFamily)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	err = s.Tickle(tcpconn.Connection{
		Client: netip.MustParseAddrPort("127.0.0.1:1"), Server: netip.MustParseAddrPort("127.0.0.1:2"),
	})
	assert.ErrorIs(t, err, ErrClosed)
}
