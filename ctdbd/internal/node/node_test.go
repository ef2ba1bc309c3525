package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
	"gctdb/transportd/transport"
)

// startNode runs a one-node transport with the node service.
func startNode(t *testing.T, addr string, opts Options) (*client.Client, chan string) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ip := netip.MustParseAddr(addr)
	tr, err := transport.New(transport.Config{PNN: 0, Nodes: []transport.Node{{PNN: 0, Addr: net.IP(ip.AsSlice())}}, Port: 14379, SocketPath: sock})
	require.NoError(t, err)
	shutdowns := make(chan string, 1)
	opts.Shutdown = func(r string) { shutdowns <- r }
	level := "NOTICE"
	opts.GetDebug = func() string { return level }
	opts.SetDebug = func(s string) error {
		if s == "BOGUS" {
			return errors.New("bad level")
		}
		level = s
		return nil
	}
	tun := config.DefaultTunables()
	h := service.NewHost(func(svc proto.ServiceID) (rpc.Port, error) { return tr.Attach(svc) },
		service.Env{Logger: slog.New(slog.DiscardHandler), PNN: 0, Nodes: []config.Node{{PNN: 0, Addr: ip}}, Tunables: &tun},
		New(opts))
	ctx, cancel := context.WithCancel(context.Background())
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Run(ctx) }()
	<-tr.Ready()
	hDone := make(chan error, 1)
	go func() { hDone <- h.Run(ctx) }()
	<-h.Ready()
	c, err := client.Connect(ctx, sock)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-hDone
		<-trDone
	})
	return c, shutdowns
}

func runstate(t *testing.T, c *client.Client) proto.Runstate {
	var v proto.U32
	require.NoError(t, c.Control(context.Background(), client.Local, proto.ServiceNode, proto.OpGetRunstate, nil, &v))
	return proto.Runstate(v.V)
}

func TestRunstateFollowsGates(t *testing.T) {
	c, _ := startNode(t, "127.43.1.1", Options{Gates: []string{GateFirstRecovery, GateStartup}})
	ctx := context.Background()
	require.Eventually(t, func() bool { return runstate(t, c) == proto.RunstateFirstRecovery }, 5*time.Second, time.Millisecond,
		"setup has no gate, first_recovery has one")
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpOpenGate, &proto.Name{Name: GateStartup}, nil))
	assert.Equal(t, proto.RunstateFirstRecovery, runstate(t, c), "gates open in order")
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpOpenGate, &proto.Name{Name: GateFirstRecovery}, nil))
	assert.Equal(t, proto.RunstateRunning, runstate(t, c), "both gates open: running")
}

func TestModifyFlags(t *testing.T) {
	c, _ := startNode(t, "127.43.2.1", Options{})
	ctx := context.Background()
	flags := func() uint32 {
		var m proto.NodeMap
		require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetNodeMap, nil, &m))
		return m.Nodes[0].Flags
	}
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagStopped}, nil))
	assert.Equal(t, proto.NodeFlagStopped, flags())
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagPermanentlyDisabled, Clear: proto.NodeFlagStopped}, nil))
	assert.Equal(t, proto.NodeFlagPermanentlyDisabled, flags())

	for _, bad := range []proto.ModifyFlags{
		{Set: proto.NodeFlagDisconnected},
		{Set: proto.NodeFlagDeleted},
		{Set: proto.NodeFlagStopped, Clear: proto.NodeFlagStopped},
		{Set: 0x1000},
	} {
		err := c.Control(ctx, client.Local, proto.ServiceNode, proto.OpModifyFlags, &bad, nil)
		assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err), "%+v", bad)
	}
	assert.Equal(t, proto.NodeFlagPermanentlyDisabled, flags(), "refused changes change nothing")
}

func TestTunables(t *testing.T) {
	c, _ := startNode(t, "127.43.3.1", Options{})
	ctx := context.Background()
	var v proto.U32
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetTunable, &proto.Name{Name: "monitorinterval"}, &v))
	assert.Equal(t, uint32(15), v.V)
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: "MonitorInterval", Value: 3}, nil))
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetTunable, &proto.Name{Name: "MonitorInterval"}, &v))
	assert.Equal(t, uint32(3), v.V)

	err := c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetTunable, &proto.Name{Name: "NoSuch"}, &v)
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))
	st, _, err := c.ControlStatus(ctx, client.Local, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: "VacuumLimit", Value: 1})
	require.NoError(t, err)
	assert.Equal(t, proto.Status(1), st, "obsolete tunables are accepted with a warning status")

	var l proto.TunableList
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpListTunables, nil, &l))
	assert.Len(t, l.Tunables, len(config.TunableNames()))
	assert.Equal(t, "SeqnumInterval", l.Tunables[0].Name)
}

func TestCapabilitiesDebugShutdown(t *testing.T) {
	c, shutdowns := startNode(t, "127.43.4.1", Options{})
	ctx := context.Background()
	var caps proto.U32
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetCapabilities, nil, &caps))
	assert.Equal(t, proto.CapLeader|proto.CapLMaster, caps.V)
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpSetCapabilities, &proto.Capabilities{Clear: proto.CapLeader}, nil))
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetCapabilities, nil, &caps))
	assert.Equal(t, proto.CapLMaster, caps.V)
	err := c.Control(ctx, client.Local, proto.ServiceNode, proto.OpSetCapabilities, &proto.Capabilities{Set: 0x100}, nil)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err))

	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpSetDebug, &proto.Name{Name: "DEBUG"}, nil))
	var n proto.Name
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetDebug, nil, &n))
	assert.Equal(t, "DEBUG", n.Name)
	err = c.Control(ctx, client.Local, proto.ServiceNode, proto.OpSetDebug, &proto.Name{Name: "BOGUS"}, nil)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err))

	var p proto.PingReply
	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpPing, nil, &p))
	assert.Equal(t, uint32(1), p.NumClients)

	require.NoError(t, c.Control(ctx, client.Local, proto.ServiceNode, proto.OpShutdown, nil, nil))
	select {
	case r := <-shutdowns:
		assert.Contains(t, r, "shutdown requested")
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown")
	}
}

func TestUnknownOpcodeAndBadPayload(t *testing.T) {
	c, _ := startNode(t, "127.43.5.1", Options{})
	ctx := context.Background()
	err := c.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetConnectivity, nil, nil)
	assert.Equal(t, proto.StatusUnsupported, proto.StatusOf(err))
	err = c.Control(ctx, client.Local, proto.ServiceNode, proto.OpModifyFlags, &proto.Blob{Data: []byte{1}}, nil)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err))
}
