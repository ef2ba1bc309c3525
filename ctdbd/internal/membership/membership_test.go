package membership_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/clienttest"
	"gctdb/transportd/proto"
)

func connectivity(t *testing.T, cl *clienttest.Cluster, node uint32) map[uint32]proto.PeerState {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.Socket(node))
	require.NoError(t, err)
	defer c.Close()
	var conn proto.Connectivity
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceMembership, proto.OpGetConnectivity, nil, &conn))
	out := make(map[uint32]proto.PeerState)
	for _, p := range conn.Peers {
		out[p.PNN] = p
	}
	return out
}

func TestConnectivityFollowsLinksAndLiveness(t *testing.T) {
	cl := clienttest.Start(t, clienttest.Options{Addrs: []string{"127.44.1.1", "127.44.1.2"}})
	require.Eventually(t, func() bool {
		p := connectivity(t, cl, 0)[1]
		return p.Connected && p.LinkUp && p.Alive
	}, 10*time.Second, 10*time.Millisecond)

	cl.Stop(1)
	require.Eventually(t, func() bool { return !connectivity(t, cl, 0)[1].Connected }, 5*time.Second, 5*time.Millisecond)
	p := connectivity(t, cl, 0)[1]
	assert.False(t, p.LinkUp, "a stopped node's link is down")

	cl.Restart(1)
	require.Eventually(t, func() bool { return connectivity(t, cl, 0)[1].Connected }, 10*time.Second, 10*time.Millisecond)
}
