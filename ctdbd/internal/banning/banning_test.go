package banning

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/ctdbd/internal/cluster/fakenet"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNet runs the node and banning services on every node.
type testNet struct {
	*fakenet.Net
	t *testing.T
}

func newTestNet(t *testing.T, n int) *testNet {
	return &testNet{t: t, Net: fakenet.New(t, n, "", func(uint32) []service.Service {
		return []service.Service{
			node.New(node.Options{Shutdown: func(string) {}, GetDebug: func() string { return "NOTICE" }, SetDebug: func(string) error { return nil }}),
			New(),
		}
	})}
}

func (f *testNet) flags(by, of uint32) uint32 {
	f.t.Helper()
	var m proto.NodeMap
	require.NoError(f.t, f.Control(by, proto.ServiceNode, proto.OpGetNodeMap, nil, &m))
	return m.Nodes[of].Flags
}

func (f *testNet) banned(by, of uint32) bool { return f.flags(by, of)&proto.NodeFlagBanned != 0 }

func (f *testNet) state(pnn uint32) proto.BanState {
	f.t.Helper()
	var s proto.BanState
	require.NoError(f.t, f.Control(pnn, proto.ServiceBanning, proto.OpGetBanState, nil, &s))
	return s
}

func TestBanExpiresByItself(t *testing.T) {
	f := newTestNet(t, 2)
	sub := f.Client(1)
	require.NoError(t, sub.RegisterSrvID(context.Background(), proto.SrvIDBanState))

	require.NoError(t, f.Control(1, proto.ServiceBanning, proto.OpBan, &proto.BanRequest{Seconds: 1, By: 0, Reason: "administrative ban"}, nil))
	require.Eventually(t, func() bool { return f.banned(0, 1) && f.banned(1, 1) }, 2*time.Second, 10*time.Millisecond, "everybody sees the ban")
	st := f.state(1)
	assert.True(t, st.Banned)
	assert.Equal(t, "administrative ban", st.Reason)
	assert.Equal(t, uint32(0), st.By)
	assert.InDelta(t, time.Second, st.Until.Time().Sub(st.Since.Time()), float64(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, ok := sub.Inbox().Next(ctx)
	require.True(t, ok, "the ban is published")
	var pub proto.BanState
	require.NoError(t, proto.DecodePayload(m, &pub))
	assert.True(t, pub.Banned)

	require.Eventually(t, func() bool { return !f.banned(0, 1) && !f.banned(1, 1) }, 3*time.Second, 10*time.Millisecond, "the ban expires")
	st = f.state(1)
	assert.False(t, st.Banned)
	assert.Equal(t, "administrative ban", st.Reason, "the last reason is kept")
}

func TestBanRequests(t *testing.T) {
	f := newTestNet(t, 2)
	err := f.Control(1, proto.ServiceBanning, proto.OpBan, &proto.BanRequest{Seconds: 0}, nil)
	assert.Equal(t, proto.StatusInvalid, proto.StatusOf(err), "ban time cannot be zero")

	rep, err := f.Client(1).Call(context.Background(), proto.Endpoint{PNN: 1, Service: proto.ServiceBanning}, proto.OpUnban, nil, 0)
	require.NoError(t, err)
	assert.Equal(t, proto.Status(1), rep.Status, "unbanning a node that is not banned answers 1")

	require.NoError(t, f.Control(1, proto.ServiceBanning, proto.OpBan, &proto.BanRequest{Seconds: 1, Reason: "first"}, nil))
	require.NoError(t, f.Control(1, proto.ServiceBanning, proto.OpBan, &proto.BanRequest{Seconds: 60, Reason: "second"}, nil))
	time.Sleep(1500 * time.Millisecond)
	assert.True(t, f.banned(1, 1), "a new ban replaces the old one and its expiry")
	assert.Equal(t, "second", f.state(1).Reason)

	require.NoError(t, f.Control(1, proto.ServiceBanning, proto.OpUnban, nil, nil))
	assert.False(t, f.banned(1, 1))
	assert.False(t, f.state(1).Banned)
}

func TestBanCredits(t *testing.T) {
	f := newTestNet(t, 2) // bans at 2 x 2 = 4 credits
	charge := func(credits uint32) {
		require.NoError(t, f.Control(0, proto.ServiceBanning, proto.OpBanCredits, &proto.BanCredits{PNN: 1, Credits: credits, Reason: "freeze timed out"}, nil))
	}
	charge(3)
	time.Sleep(100 * time.Millisecond)
	assert.False(t, f.banned(1, 1), "3 credits of 4 do not ban")
	charge(1)
	require.Eventually(t, func() bool { return f.banned(1, 1) }, 2*time.Second, 10*time.Millisecond)
	st := f.state(1)
	assert.Contains(t, st.Reason, "freeze timed out")
	assert.Equal(t, uint32(0), st.By)
	assert.InDelta(t, 300*time.Second, st.Until.Time().Sub(st.Since.Time()), float64(time.Millisecond), "RecoveryBanPeriod")
	require.NoError(t, f.Control(1, proto.ServiceBanning, proto.OpUnban, nil, nil))

	// Credits older than RecoveryGracePeriod are forgiven.
	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: "RecoveryGracePeriod", Value: 0}, nil))
	time.Sleep(50 * time.Millisecond)
	charge(3)
	time.Sleep(10 * time.Millisecond)
	charge(1)
	time.Sleep(100 * time.Millisecond)
	assert.False(t, f.banned(1, 1), "old credits are forgiven")

	// EnableBans = 0 bans nobody.
	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: "EnableBans", Value: 0}, nil))
	time.Sleep(50 * time.Millisecond)
	charge(10)
	time.Sleep(100 * time.Millisecond)
	assert.False(t, f.banned(1, 1), "EnableBans=0")

	// An inactive node charges nobody.
	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: "EnableBans", Value: 1}, nil))
	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagStopped}, nil))
	time.Sleep(50 * time.Millisecond)
	charge(10)
	time.Sleep(100 * time.Millisecond)
	assert.False(t, f.banned(1, 1), "a stopped node charges nobody")
}
