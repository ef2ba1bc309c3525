package failover

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/internal/failover/ipalloc"
	"gctdb/transportd/proto"
)

var (
	ipA = netip.MustParseAddr("10.0.0.1")
	ipB = netip.MustParseAddr("10.0.0.2")
	ipC = netip.MustParseAddr("10.0.0.3")
	ipD = netip.MustParseAddr("10.0.0.4")
)

// view builds a node's answer: holders maps each address to who the node
// believes hosts it.
func view(canHost bool, holders map[netip.Addr]uint32) *proto.PublicIPList {
	v := &proto.PublicIPList{CanHost: canHost}
	for _, a := range []netip.Addr{ipA, ipB, ipC, ipD} {
		h, ok := holders[a]
		if !ok {
			h = proto.PNNUnknown
		}
		v.IPs = append(v.IPs, proto.PublicIP{Addr: a, Bits: 24, PNN: h, Available: true})
	}
	return v
}

func nodesOK(n int, flags map[uint32]uint32) []proto.NodeInfo {
	var out []proto.NodeInfo
	for i := range n {
		out = append(out, proto.NodeInfo{PNN: uint32(i), Flags: flags[uint32(i)]})
	}
	return out
}

func assignments(p *plan) map[netip.Addr]int {
	out := make(map[netip.Addr]int)
	for _, a := range p.assignment {
		out[a.Addr] = a.PNN
	}
	return out
}

func TestMakePlan(t *testing.T) {
	lcp2 := ipalloc.Tunables{Algorithm: ipalloc.LCP2, NoIPHostOnAllDisabled: true}

	t.Run("fresh cluster: takes only", func(t *testing.T) {
		views := map[uint32]*proto.PublicIPList{0: view(true, nil), 1: view(true, nil)}
		p, err := makePlan(nodesOK(2, nil), views, lcp2, nil, 7)
		require.NoError(t, err)
		// The node that does not take an address only learns its holder.
		for pnn, list := range p.release {
			for _, a := range list {
				assert.Equal(t, 1-pnn, a.PNN)
			}
		}
		assert.Len(t, p.take[0], 2)
		assert.Len(t, p.take[1], 2)
		assert.Equal(t, uint64(7), p.take[0][0].Term)
		assert.Equal(t, 4, p.moves())
		assert.Equal(t, []uint32{0, 1}, p.participants)
	})

	t.Run("dead node's addresses move, nothing is sent to it", func(t *testing.T) {
		held := map[netip.Addr]uint32{ipA: 0, ipB: 1, ipC: 2, ipD: 2}
		views := map[uint32]*proto.PublicIPList{0: view(true, held), 1: view(true, held)}
		p, err := makePlan(nodesOK(3, map[uint32]uint32{2: proto.NodeFlagDisconnected}), views, lcp2, nil, 0)
		require.NoError(t, err)
		as := assignments(p)
		assert.Equal(t, 0, as[ipA])
		assert.Equal(t, 1, as[ipB])
		assert.NotEqual(t, 2, as[ipC])
		assert.NotEqual(t, 2, as[ipD])
		assert.NotContains(t, p.release, uint32(2))
		assert.NotContains(t, p.take, uint32(2))
		assert.Equal(t, 2, p.moves())
		// The node that does not take an orphan learns its new holder.
		for _, a := range []netip.Addr{ipC, ipD} {
			other := uint32(1 - as[a])
			assert.Contains(t, p.release[other], proto.IPAssignment{Addr: a, PNN: uint32(as[a])})
		}
	})

	t.Run("a node that may not host releases", func(t *testing.T) {
		held := map[netip.Addr]uint32{ipA: 0, ipB: 0, ipC: 1, ipD: 1}
		views := map[uint32]*proto.PublicIPList{0: view(true, held), 1: view(false, held)}
		p, err := makePlan(nodesOK(2, nil), views, lcp2, nil, 0)
		require.NoError(t, err)
		for _, a := range p.assignment {
			assert.Equal(t, 0, a.PNN)
		}
		assert.ElementsMatch(t, []proto.IPAssignment{{Addr: ipC, PNN: 0}, {Addr: ipD, PNN: 0}}, p.release[1])
		assert.ElementsMatch(t, []proto.IPAssignment{{Addr: ipC, PNN: 0}, {Addr: ipD, PNN: 0}}, p.take[0])
	})

	t.Run("two claimants: the loser releases", func(t *testing.T) {
		v0 := view(true, map[netip.Addr]uint32{ipA: 0, ipB: 0, ipC: 0, ipD: 0})
		v1 := view(true, map[netip.Addr]uint32{ipA: 1, ipB: 1, ipC: 1, ipD: 1})
		p, err := makePlan(nodesOK(2, nil), map[uint32]*proto.PublicIPList{0: v0, 1: v1}, lcp2, nil, 0)
		require.NoError(t, err)
		as := assignments(p)
		n0 := 0
		for a, pnn := range as {
			loser := uint32(1 - pnn)
			assert.Contains(t, p.release[loser], proto.IPAssignment{Addr: a, PNN: uint32(pnn)}, "%s", a)
			if pnn == 0 {
				n0++
			}
		}
		assert.Equal(t, 2, n0, "the loser of the claims is rebalanced")
		assert.Empty(t, p.take, "both think they hold everything")
	})

	t.Run("steady state sends nothing", func(t *testing.T) {
		held := map[netip.Addr]uint32{ipA: 0, ipB: 0, ipC: 1, ipD: 1}
		views := map[uint32]*proto.PublicIPList{0: view(true, held), 1: view(true, held)}
		p, err := makePlan(nodesOK(2, nil), views, lcp2, nil, 0)
		require.NoError(t, err)
		assert.Empty(t, p.release)
		assert.Empty(t, p.take)
	})

	t.Run("node map out of order", func(t *testing.T) {
		_, err := makePlan([]proto.NodeInfo{{PNN: 1}}, nil, lcp2, nil, 0)
		assert.Error(t, err)
	})
}

// fakeCluster is a cluster of nodes that host addresses instantly.
type fakeCluster struct {
	mu      sync.Mutex
	nodes   []proto.NodeInfo
	beliefs map[uint32]map[netip.Addr]uint32
	canHost map[uint32]bool
	events  []string
	// failRelease fails releases on a node; takeHook runs before a take.
	failRelease map[uint32]bool
	takeHook    func(ctx context.Context, pnn uint32) error
	// charged are the ban credits the driver gave out.
	charged []proto.BanCredits
}

func newFakeCluster(n int) *fakeCluster {
	f := &fakeCluster{nodes: nodesOK(n, nil), beliefs: make(map[uint32]map[netip.Addr]uint32), canHost: make(map[uint32]bool), failRelease: make(map[uint32]bool)}
	for i := range n {
		f.beliefs[uint32(i)] = make(map[netip.Addr]uint32)
		f.canHost[uint32(i)] = true
	}
	return f
}

func (f *fakeCluster) nodeMap(context.Context) (*proto.NodeMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &proto.NodeMap{Nodes: slices.Clone(f.nodes)}, nil
}

func (f *fakeCluster) publicIPs(_ context.Context, pnn uint32) (*proto.PublicIPList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return view(f.canHost[pnn], f.beliefs[pnn]), nil
}

func (f *fakeCluster) release(_ context.Context, pnn uint32, a proto.IPAssignment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRelease[pnn] {
		// As a node answers when its releaseip scripts fail.
		return &proto.StatusError{Op: proto.OpReleaseIP, Status: proto.StatusFailed, Msg: "releaseip event failed"}
	}
	if h, ok := f.beliefs[pnn][a.Addr]; ok && h == pnn {
		f.events = append(f.events, fmt.Sprintf("release %d %s", pnn, a.Addr))
	}
	f.beliefs[pnn][a.Addr] = a.PNN
	return nil
}

func (f *fakeCluster) take(ctx context.Context, pnn uint32, a proto.IPAssignment) error {
	if f.takeHook != nil {
		if err := f.takeHook(ctx, pnn); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprintf("take %d %s", pnn, a.Addr))
	f.beliefs[pnn][a.Addr] = pnn
	return nil
}

func (f *fakeCluster) ipReallocated(_ context.Context, pnn uint32, _ uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprintf("ipreallocated %d", pnn))
	return nil
}

func (f *fakeCluster) banCredits(_ context.Context, c proto.BanCredits) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.charged = append(f.charged, c)
	return nil
}

// hosting returns who hosts each address, from the nodes' own words.
func (f *fakeCluster) hosting() map[netip.Addr][]uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[netip.Addr][]uint32)
	for pnn, b := range f.beliefs {
		for a, h := range b {
			if h == pnn {
				out[a] = append(out[a], pnn)
			}
		}
	}
	return out
}

// fixedLeader leads or not.
type fixedLeader struct{ leads bool }

func (l *fixedLeader) srvids() []uint64           { return nil }
func (l *fixedLeader) start(context.Context)      {}
func (l *fixedLeader) handle(*proto.Message) bool { return false }
func (l *fixedLeader) leader() (uint32, bool)     { return 0, l.leads }
func (l *fixedLeader) leaderless() time.Duration  { return 0 }
func (l *fixedLeader) verify(context.Context) (uint64, error) {
	if l.leads {
		return 3, nil
	}
	return 0, errNotLeader
}

func startDriver(t *testing.T, f *fakeCluster, lead leadership) *driver {
	cfg := func() driverConfig {
		return driverConfig{tunables: ipalloc.Tunables{Algorithm: ipalloc.LCP2, NoIPHostOnAllDisabled: true}, timeout: 5 * time.Second}
	}
	d := newDriver(f, lead, cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.loop(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

func waitRun(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("takeover run did not finish")
		return nil
	}
}

func TestDriverReleasesBeforeTaking(t *testing.T) {
	f := newFakeCluster(3)
	d := startDriver(t, f, &fixedLeader{leads: true})
	require.NoError(t, waitRun(t, d.request(nil)))
	for a, h := range f.hosting() {
		assert.Len(t, h, 1, "%s", a)
	}

	// Node 1 stops: its addresses are released first, then taken.
	n1 := 0
	for _, h := range f.hosting() {
		if h[0] == 1 {
			n1++
		}
	}
	f.mu.Lock()
	f.nodes[1].Flags = proto.NodeFlagStopped
	f.events = nil
	f.mu.Unlock()
	require.NoError(t, waitRun(t, d.request(nil)))
	f.mu.Lock()
	events := slices.Clone(f.events)
	f.mu.Unlock()
	lastRelease, firstTake := -1, len(events)
	for i, e := range events {
		if e[:7] == "release" {
			lastRelease = i
		}
		if e[:4] == "take" && i < firstTake {
			firstTake = i
		}
	}
	require.GreaterOrEqual(t, lastRelease, 0, "%v", events)
	assert.Less(t, lastRelease, firstTake, "%v", events)
	assert.Equal(t, []string{"ipreallocated 0", "ipreallocated 1", "ipreallocated 2"}, sortedTail(events, 3))
	for a, h := range f.hosting() {
		assert.Len(t, h, 1, "%s", a)
		assert.NotEqual(t, uint32(1), h[0])
	}
	st, runs := d.lastRun()
	assert.Equal(t, uint64(2), runs)
	assert.Equal(t, n1, st.moves)
}

func sortedTail(s []string, n int) []string {
	t := slices.Clone(s[len(s)-n:])
	slices.Sort(t)
	return t
}

func TestDriverFailedReleaseTakesNothing(t *testing.T) {
	f := newFakeCluster(2)
	d := startDriver(t, f, &fixedLeader{leads: true})
	require.NoError(t, waitRun(t, d.request(nil)))
	f.mu.Lock()
	f.canHost[1] = false
	f.failRelease[1] = true
	f.mu.Unlock()
	err := waitRun(t, d.request(nil))
	require.Error(t, err)
	for a, h := range f.hosting() {
		assert.Len(t, h, 1, "%s must not get a second holder", a)
	}
	f.mu.Lock()
	require.NotEmpty(t, f.charged, "the failing node is charged")
	assert.Equal(t, proto.BanCredits{PNN: 1, Credits: 2, Reason: f.charged[0].Reason}, f.charged[0])
	f.mu.Unlock()
	// The next run, after the node recovered, moves them.
	f.mu.Lock()
	f.failRelease[1] = false
	f.mu.Unlock()
	require.NoError(t, waitRun(t, d.request(nil)))
	for _, h := range f.hosting() {
		assert.Equal(t, []uint32{0}, h)
	}
}

func TestDriverOnlyOnLeader(t *testing.T) {
	f := newFakeCluster(2)
	d := startDriver(t, f, &fixedLeader{leads: false})
	assert.ErrorIs(t, waitRun(t, d.request(nil)), errNotLeader)
	assert.ErrorIs(t, waitRun(t, d.move(ipA, 1)), errNotLeader)
	assert.Empty(t, f.hosting())
}

func TestDriverAbortsWhenANodeIsLost(t *testing.T) {
	f := newFakeCluster(2)
	release := make(chan struct{})
	var once sync.Once
	f.takeHook = func(ctx context.Context, pnn uint32) error {
		if pnn != 1 {
			return nil
		}
		var err error
		once.Do(func() {
			// Node 1 hangs in its first take, as a dying node does.
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-release:
			}
		})
		return err
	}
	d := startDriver(t, f, &fixedLeader{leads: true})
	first := d.request(nil)
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.involved[1]
	}, 5*time.Second, time.Millisecond)
	start := time.Now()
	f.mu.Lock()
	f.nodes[1].Flags = proto.NodeFlagDisconnected
	f.mu.Unlock()
	d.nodesDown([]uint32{1})
	assert.ErrorIs(t, waitRun(t, first), errNodeLost)
	assert.Less(t, time.Since(start), time.Second, "not held up until the control times out")
	close(release)
	require.Eventually(t, func() bool {
		for _, a := range []netip.Addr{ipA, ipB, ipC, ipD} {
			if !slices.Contains(f.hosting()[a], 0) {
				return false
			}
		}
		return true
	}, 5*time.Second, 5*time.Millisecond, "the run is redone without the lost node")
}

func TestDriverMove(t *testing.T) {
	f := newFakeCluster(2)
	d := startDriver(t, f, &fixedLeader{leads: true})
	require.NoError(t, waitRun(t, d.request(nil)))
	var from uint32
	for a, h := range f.hosting() {
		if a == ipA {
			from = h[0]
		}
	}
	to := 1 - from
	require.NoError(t, waitRun(t, d.move(ipA, to)))
	assert.Equal(t, []uint32{to}, f.hosting()[ipA])
	f.mu.Lock()
	f.canHost[from] = false
	f.mu.Unlock()
	assert.ErrorIs(t, waitRun(t, d.move(ipB, from)), errCannotHost)
}

func TestStaleTermsRefused(t *testing.T) {
	s := New(Options{})
	require.NoError(t, s.checkTerm(5))
	require.NoError(t, s.checkTerm(5))
	assert.ErrorIs(t, s.checkTerm(4), errNotLeader, "a deposed leader's late request")
	require.NoError(t, s.checkTerm(0), "no terms without a cluster lock")
	require.NoError(t, s.checkTerm(6))
	assert.ErrorIs(t, s.checkTerm(5), errStaleTerm)
	assert.Equal(t, proto.StatusNotLeader, statusOf(errStaleTerm))
}
