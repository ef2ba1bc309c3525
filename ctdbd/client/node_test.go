package client_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/clienttest"
	"gctdb/transportd/proto"
)

// TestNodeCalls exercises every node-family call against two real
// nodes, locally and across the transport.
func TestNodeCalls(t *testing.T) {
	cl := clienttest.Start(t, clienttest.Options{Addrs: []string{"127.0.78.71", "127.0.78.72"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.Socket(0))
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool {
		m, err := c.NodeMap(ctx, client.Local)
		return err == nil && m.Nodes[1].Flags == 0
	}, 20*time.Second, 20*time.Millisecond)

	for _, pnn := range []uint32{client.Local, 1} {
		n, err := c.Ping(ctx, pnn)
		require.NoError(t, err)
		if pnn == client.Local {
			assert.Equal(t, uint32(1), n, "this client is connected to node 0")
		}
		got, err := c.GetPNN(ctx, pnn)
		require.NoError(t, err)
		assert.Equal(t, map[uint32]uint32{client.Local: 0, 1: 1}[pnn], got)
		pid, err := c.GetPID(ctx, pnn)
		require.NoError(t, err)
		assert.Equal(t, uint32(os.Getpid()), pid)
		rs, err := c.Runstate(ctx, pnn)
		require.NoError(t, err)
		assert.Equal(t, proto.RunstateRunning, rs)
		u, err := c.Uptime(ctx, pnn)
		require.NoError(t, err)
		assert.False(t, u.Start.Time().After(u.Now.Time()))
		m, err := c.NodeMap(ctx, pnn)
		require.NoError(t, err)
		assert.Equal(t, []proto.NodeInfo{
			{PNN: 0, Addr: "127.0.78.71", Caps: proto.CapLeader | proto.CapLMaster},
			{PNN: 1, Addr: "127.0.78.72", Caps: proto.CapLeader | proto.CapLMaster},
		}, m.Nodes)
	}

	list, err := c.ListTunables(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, proto.Tunable{Name: "SeqnumInterval", Value: 1000}, list[0])
	obsolete, err := c.SetTunable(ctx, 1, "monitorinterval", 20)
	require.NoError(t, err)
	assert.False(t, obsolete)
	v, err := c.GetTunable(ctx, 1, "MonitorInterval")
	require.NoError(t, err)
	assert.Equal(t, uint32(20), v)
	obsolete, err = c.SetTunable(ctx, 1, "MaxRedirectCount", 3)
	require.NoError(t, err)
	assert.True(t, obsolete)
	_, err = c.GetTunable(ctx, 1, "NoSuchTunable")
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))

	require.NoError(t, c.SetDebug(ctx, 1, "deb"))
	level, err := c.GetDebug(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "DEBUG", level)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(c.SetDebug(ctx, 1, "loud")))

	require.NoError(t, c.SetCapabilities(ctx, 1, 0, proto.CapLeader))
	caps, err := c.Capabilities(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, proto.CapLMaster, caps)

	require.NoError(t, c.ModifyFlags(ctx, 1, proto.NodeFlagPermanentlyDisabled, 0))
	require.Eventually(t, func() bool {
		m, err := c.NodeMap(ctx, client.Local)
		return err == nil && m.Nodes[1].Flags == proto.NodeFlagPermanentlyDisabled
	}, 10*time.Second, 10*time.Millisecond)

	s, err := c.Statistics(ctx, client.Local)
	require.NoError(t, err)
	assert.NotEmpty(t, s.Counters)
	require.NoError(t, c.ResetStatistics(ctx, client.Local))
	s2, err := c.Statistics(ctx, client.Local)
	require.NoError(t, err)
	assert.True(t, s2.Start > s.Start)

	require.NoError(t, c.Shutdown(ctx, 1))
	require.Eventually(t, func() bool { return !cl.Running(1) }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Shutdown(ctx, client.Local))
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the local daemon did not close the connection after shutdown")
	}
}
