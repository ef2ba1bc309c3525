package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/internal/cluster/fakenet"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
)

// testNet is a simulated cluster whose nodes run the node service and the
// cluster service, with gctdb's helper and a one-second leader timeout.
type testNet struct {
	*fakenet.Net
	t *testing.T
}

func newTestNet(t *testing.T, n int, clusterConf string) *testNet {
	t.Helper()
	conf := fmt.Sprintf("[logging]\n\tlog level = DEBUG\n[cluster]\n\tleader timeout = 1\n%s\n", clusterConf)
	services := func(uint32) []service.Service {
		return []service.Service{
			node.New(node.Options{Shutdown: func(string) {}, GetDebug: func() string { return "DEBUG" }, SetDebug: func(string) error { return nil }}),
			New(Options{HelperPath: helperPath, BroadcastInterval: 200 * time.Millisecond}),
		}
	}
	return &testNet{Net: fakenet.New(t, n, conf, services), t: t}
}

// views returns every running node's view of the leader.
func (f *testNet) views() map[uint32]proto.Leader {
	out := make(map[uint32]proto.Leader)
	for pnn := uint32(0); pnn < uint32(f.Nodes()); pnn++ {
		if f.Down(pnn) {
			continue
		}
		var l proto.Leader
		if err := f.Control(pnn, proto.ServiceCluster, proto.OpGetLeader, nil, &l); err == nil {
			out[pnn] = l
		}
	}
	return out
}

// verify asks node pnn whether it leads in term and holds the lock now.
func (f *testNet) verify(pnn uint32, term uint64) (*proto.LeaderVerdict, error) {
	var v proto.LeaderVerdict
	err := f.Control(pnn, proto.ServiceCluster, proto.OpVerifyLeader, &proto.LeaderCheck{Term: term}, &v)
	return &v, err
}

// leaders returns the nodes that confirm they lead and hold the lock now.
func (f *testNet) leaders() []uint32 {
	var out []uint32
	for pnn, l := range f.views() {
		if l.PNN == pnn {
			if _, err := f.verify(pnn, 0); err == nil {
				out = append(out, pnn)
			}
		}
	}
	return out
}

// anyLeader is agreed's "any leader".
const anyLeader = proto.PNNUnknown

// agreed waits until every node in among sees the same known leader
// other than not (anyLeader: any), and returns it.
func (f *testNet) agreed(within time.Duration, not uint32, among ...uint32) proto.Leader {
	f.t.Helper()
	var got proto.Leader
	require.Eventually(f.t, func() bool {
		v := f.views()
		first := true
		for _, pnn := range among {
			l, ok := v[pnn]
			if !ok || !l.Known() || l.PNN == not || !first && (l.PNN != got.PNN || l.Term != got.Term) {
				return false
			}
			got, first = l, false
		}
		return true
	}, within, 10*time.Millisecond, "no agreed leader among %v: %v", among, f.views())
	return got
}
