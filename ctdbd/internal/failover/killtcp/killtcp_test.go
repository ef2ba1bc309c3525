package killtcp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/tests/cluster/netns"
)

// readUntilError reports the error a blocked read on c ends with.
func readUntilError(c net.Conn) <-chan error {
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				errc <- err
				return
			}
		}
	}()
	return errc
}

func requireReset(t *testing.T, errc <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-errc:
		require.True(t, errors.Is(err, syscall.ECONNRESET), "client read ended with %v, want connection reset", err)
	case <-time.After(within):
		t.Fatalf("client connection not reset within %s", within)
	}
}

// The client in one namespace loses its connection to the public address
// in the other within a second of Kill being called there.
func TestKillResetsClientConnectionIPv4(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Veth(t, server, "198.18.0.1/24", client, "198.18.0.2/24", "veth0")
	server.IP(t, "addr", "add", "198.18.0.10/24", "dev", "veth0")
	srv, cli := netns.TCPPair(t, server, "198.18.0.10:0", client)
	conn, err := tcpconn.FromConn(srv)
	require.NoError(t, err)

	// Some traffic first, so the sequence numbers are not the initial ones.
	_, err = cli.Write([]byte("request"))
	require.NoError(t, err)
	_, err = srv.Write([]byte("response"))
	require.NoError(t, err)
	errc := readUntilError(cli)

	start := time.Now()
	var res Result
	require.NoError(t, server.Do(func() (err error) {
		res, err = Kill(context.Background(), []tcpconn.Connection{conn}, Options{Interface: "veth0"})
		return err
	}))
	requireReset(t, errc, time.Second-time.Since(start))
	assert.Equal(t, []tcpconn.Connection{conn}, res.Killed)
	assert.Empty(t, res.Remaining)
}

func TestKillResetsClientConnectionIPv6Loopback(t *testing.T) {
	ns := netns.New(t)
	srv, cli := netns.TCPPair(t, ns, "[::1]:0", ns)
	conn, err := tcpconn.FromConn(srv)
	require.NoError(t, err)
	errc := readUntilError(cli)

	start := time.Now()
	var res Result
	require.NoError(t, ns.Do(func() (err error) {
		res, err = Kill(context.Background(), []tcpconn.Connection{conn}, Options{Interface: "lo"})
		return err
	}))
	requireReset(t, errc, time.Second-time.Since(start))
	assert.Equal(t, []tcpconn.Connection{conn}, res.Killed)
}

// Many connections, listed by tcpconn as the release path would, all die;
// duplicates in the input are harmless.
func TestKillManyConnections(t *testing.T) {
	server, client := netns.New(t), netns.New(t)
	netns.Veth(t, server, "198.18.0.1/24", client, "198.18.0.2/24", "veth0")
	var errcs []<-chan error
	for range 20 {
		_, cli := netns.TCPPair(t, server, "198.18.0.1:0", client)
		errcs = append(errcs, readUntilError(cli))
	}
	var conns []tcpconn.Connection
	require.NoError(t, server.Do(func() (err error) {
		conns, err = tcpconn.Established(netip.MustParseAddr("198.18.0.1"))
		return err
	}))
	require.Len(t, conns, 20)

	var res Result
	require.NoError(t, server.Do(func() (err error) {
		res, err = Kill(context.Background(), append(conns, conns[:5]...), Options{Interface: "veth0", BatchSize: 7})
		return err
	}))
	assert.Equal(t, conns, res.Killed)
	for _, errc := range errcs {
		requireReset(t, errc, time.Second)
	}
}

// silentPeer is a namespace with a neighbour namespace and a connection
// to a client address that does not exist, so tickles go unanswered.
func silentPeer(t *testing.T) (*netns.NS, tcpconn.Connection) {
	server, other := netns.New(t), netns.New(t)
	netns.Veth(t, server, "198.18.0.1/24", other, "198.18.0.2/24", "veth0")
	return server, tcpconn.Connection{
		Client: netip.MustParseAddrPort("198.18.0.99:40000"),
		Server: netip.MustParseAddrPort("198.18.0.1:445"),
	}
}

// A connection nobody answers for survives; Kill gives up after
// MaxAttempts rounds and says so.
func TestKillGivesUp(t *testing.T) {
	ns, ghost := silentPeer(t)
	var res Result
	err := ns.Do(func() (err error) {
		res, err = Kill(context.Background(), []tcpconn.Connection{ghost},
			Options{Interface: "veth0", RetryInterval: 5 * time.Millisecond, MaxAttempts: 3})
		return err
	})
	assert.ErrorIs(t, err, ErrSurvivors)
	assert.Empty(t, res.Killed)
	assert.Equal(t, []tcpconn.Connection{ghost}, res.Remaining)
}

func TestKillStopsWithContext(t *testing.T) {
	ns, ghost := silentPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var res Result
	err := ns.Do(func() (err error) {
		res, err = Kill(ctx, []tcpconn.Connection{ghost}, Options{Interface: "veth0"})
		return err
	})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, []tcpconn.Connection{ghost}, res.Remaining)
}

// A client host that no longer has the connection answers the tickle
// with a reset of its own: the connection counts as killed.
func TestKillConnectionTheClientForgot(t *testing.T) {
	ns := netns.New(t)
	gone := tcpconn.Connection{
		Client: netip.MustParseAddrPort("127.0.0.2:40000"),
		Server: netip.MustParseAddrPort("127.0.0.3:445"),
	}
	var res Result
	require.NoError(t, ns.Do(func() (err error) {
		res, err = Kill(context.Background(), []tcpconn.Connection{gone}, Options{Interface: "lo"})
		return err
	}))
	assert.Equal(t, []tcpconn.Connection{gone}, res.Killed)
}

func TestKillNothing(t *testing.T) {
	res, err := Kill(context.Background(), nil, Options{Interface: "does-not-matter"})
	require.NoError(t, err)
	assert.Empty(t, res.Killed)
}

func TestKillBadInterface(t *testing.T) {
	ns := netns.New(t)
	err := ns.Do(func() error {
		_, err := Kill(context.Background(), []tcpconn.Connection{{
			Client: netip.MustParseAddrPort("127.0.0.2:40000"), Server: netip.MustParseAddrPort("127.0.0.3:445"),
		}}, Options{Interface: "nonexistent0"})
		return err
	})
	assert.Error(t, err)
}
