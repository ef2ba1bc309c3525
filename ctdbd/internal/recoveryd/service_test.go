package recoveryd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/ctdbd/internal/cluster/fakenet"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// journal records, in order, the requests the fakes received.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

func (j *journal) count(entry string) int {
	n := 0
	for _, e := range j.list() {
		if e == entry {
			n++
		}
	}
	return n
}

// fakeCluster plays the cluster service: node 0 leads in term 7 and
// stays leader until the verification numbered failAt (1-based; 0 never).
type fakeCluster struct {
	service.Base
	port   rpc.Port
	pnn    uint32
	j      *journal
	failAt int

	mu       sync.Mutex
	verifies int
}

func (c *fakeCluster) ID() proto.ServiceID { return proto.ServiceCluster }

func (c *fakeCluster) Init(_ context.Context, env *service.Env) error {
	c.port, c.pnn = env.Port, env.PNN
	return nil
}

func (c *fakeCluster) Dispatch(_ context.Context, m *proto.Message) {
	switch m.Opcode {
	case proto.OpGetLeader:
		c.port.Reply(m, proto.StatusOK, "", &proto.Leader{PNN: 0, Term: 7})
	case proto.OpVerifyLeader:
		var chk proto.LeaderCheck
		if err := proto.DecodePayload(m, &chk); err != nil || chk.Term != 7 {
			c.port.Reply(m, proto.StatusInvalid, "bad term", nil)
			return
		}
		c.mu.Lock()
		c.verifies++
		n := c.verifies
		c.mu.Unlock()
		if c.failAt > 0 && n >= c.failAt {
			c.j.add("verify: refused")
			c.port.Reply(m, proto.StatusNotLeader, "lost the lock", nil)
			return
		}
		c.j.add("verify")
		c.port.Reply(m, proto.StatusOK, "", &proto.LeaderVerdict{Term: 7, ValidFor: time.Second})
	default:
		c.port.Reply(m, proto.StatusUnsupported, "", nil)
	}
}

// fakeDB plays a database service: one volatile database, missing on
// node 2 until attached; failFreeze makes its freeze fail.
type fakeDB struct {
	service.Base
	port       rpc.Port
	pnn        uint32
	j          *journal
	failFreeze bool

	mu  sync.Mutex
	dbs []proto.DBInfo
	gen uint32
}

var volatileDB = proto.DBInfo{DBID: proto.DBID("a.tdb"), Name: "a.tdb"}

func (d *fakeDB) ID() proto.ServiceID { return proto.ServiceDatabase }

func (d *fakeDB) Init(_ context.Context, env *service.Env) error {
	d.port, d.pnn = env.Port, env.PNN
	if d.pnn != 2 {
		d.dbs = []proto.DBInfo{volatileDB}
	}
	return nil
}

func (d *fakeDB) Dispatch(_ context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		return
	}
	if m.Opcode != proto.OpRecCheck {
		d.j.add("node %d: %s", d.pnn, m.Opcode)
	}
	ok := func(body proto.Payload) { d.port.Reply(m, proto.StatusOK, "", body) }
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m.Opcode {
	case proto.OpRecCheck, proto.OpRecBegin:
		ok(&proto.RecNode{PNN: d.pnn, Generation: d.gen, DBs: slices.Clone(d.dbs)})
	case proto.OpDBAttach:
		d.dbs = append(d.dbs, volatileDB)
		ok(&volatileDB)
	case proto.OpRecFreeze:
		if d.failFreeze {
			d.port.Reply(m, proto.StatusFailed, "disk on fire", nil)
			return
		}
		ok(&proto.RecFrozen{})
	case proto.OpRecPull:
		ok(&proto.RecordBatch{DBID: volatileDB.DBID, Done: true, Records: []proto.Record{
			{Key: []byte(fmt.Sprintf("from-%d", d.pnn)), Header: proto.RecordHeader{RSN: 1, DMaster: d.pnn}, Data: []byte("x")}}})
	case proto.OpRecFinish:
		var f proto.RecFinish
		if err := proto.DecodePayload(m, &f); err == nil {
			d.gen = f.VNNMap.Generation
		}
		ok(nil)
	default:
		ok(nil)
	}
}

type testNet struct {
	*fakenet.Net
	j   *journal
	cl  *fakeCluster
	dbs []*fakeDB
}

func newTestNet(t *testing.T, failVerifyAt int, failFreezeOn int) *testNet {
	tn := &testNet{j: &journal{}}
	tn.Net = fakenet.New(t, 3, "", func(pnn uint32) []service.Service {
		c := &fakeCluster{j: tn.j}
		if pnn == 0 {
			c.failAt = failVerifyAt
			tn.cl = c
		}
		d := &fakeDB{j: tn.j, failFreeze: int(pnn) == failFreezeOn}
		tn.dbs = append(tn.dbs, d)
		return []service.Service{
			node.New(node.Options{Shutdown: func(string) {}, GetDebug: func() string { return "NOTICE" }, SetDebug: func(string) error { return nil },
				Gates: []string{node.GateFirstRecovery}}),
			c, d, New(),
		}
	})
	return tn
}

func (tn *testNet) status(t *testing.T, pnn uint32) *proto.RecoveryStatus {
	t.Helper()
	var st proto.RecoveryStatus
	require.NoError(t, tn.Control(pnn, proto.ServiceRecovery, proto.OpRecoveryStatus, nil, &st))
	return &st
}

func counter(st *proto.RecoveryStatus, name string) uint64 {
	for _, c := range st.Stats.Counters {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

// The leader's first recovery takes every node in, attaches the database
// node 2 lacks, verifies its leadership right before each step (CTDB bug
// 16082), announces the recovery everywhere and lets the nodes leave
// FIRST_RECOVERY.
func TestRecoveryVerifiesLeadershipBeforeEveryStep(t *testing.T) {
	tn := newTestNet(t, 0, -1)
	// A recovery may run before every node is connected; wait for the
	// one that takes them all in.
	require.Eventually(t, func() bool {
		st := tn.status(t, 0)
		return counter(st, "recoveries") >= 1 && len(st.Last.Nodes) == 3
	}, 10*time.Second, 10*time.Millisecond)
	log := tn.j.list()
	// Every step, sent to all nodes at once, comes right after a
	// verification.
	seen := map[string]bool{}
	prevKind := ""
	for i, e := range log {
		if e == "verify" {
			prevKind = ""
			continue
		}
		kind := e[strings.Index(e, ": ")+2:]
		seen[kind] = true
		if kind != prevKind {
			require.Positive(t, i, "%s first", e)
			assert.Equal(t, "verify", log[i-1], "a verification right before %s: %v", e, log)
		}
		prevKind = kind
	}
	for _, kind := range []string{"rec_begin", "db_attach", "rec_freeze", "rec_pull", "rec_push", "rec_thaw", "rec_finish"} {
		assert.True(t, seen[kind], "step %s ran: %v", kind, log)
	}
	assert.Equal(t, 1, tn.j.count("node 2: db_attach"), "only node 2 lacked the database")
	assert.Zero(t, tn.j.count("node 0: db_attach"))

	st := tn.status(t, 0)
	assert.True(t, st.Leading)
	assert.Equal(t, uint64(7), st.Last.Term)
	assert.Equal(t, []uint32{0, 1, 2}, st.Last.Nodes)
	assert.Equal(t, []uint32{0, 1, 2}, st.Last.VNNMap)
	for pnn := uint32(0); pnn < 3; pnn++ {
		require.Eventually(t, func() bool {
			var rs proto.U32
			return tn.Control(pnn, proto.ServiceNode, proto.OpGetRunstate, nil, &rs) == nil && proto.Runstate(rs.V) == proto.RunstateRunning
		}, 5*time.Second, 10*time.Millisecond, "node %d leaves FIRST_RECOVERY", pnn)
		other := tn.status(t, pnn)
		assert.Equal(t, st.Last.Generation, other.Last.Generation, "node %d heard of the recovery", pnn)
	}
}

// A leader that loses the lock in the middle of a recovery sends no
// further step, and charges nobody.
func TestRecoveryStopsWhenLeadershipIsLost(t *testing.T) {
	// Verifications 1 and 2 are before begin and attach; the third, before
	// the freeze, is refused.
	tn := newTestNet(t, 3, -1)
	require.Eventually(t, func() bool { return counter(tn.status(t, 0), "failures") >= 1 }, 10*time.Second, 10*time.Millisecond)
	for _, e := range tn.j.list() {
		for _, step := range []string{"rec_freeze", "rec_pull", "rec_push", "rec_thaw", "rec_finish"} {
			assert.NotContains(t, e, step, "no step after leadership was lost")
		}
	}
	st := tn.status(t, 0)
	assert.Zero(t, counter(st, "recoveries"))
	assert.Zero(t, counter(st, "bans_requested"))
}

// A node that makes a recovery fail is charged ban credits, and the
// leader waits RerecoveryTimeout before trying again.
func TestFailingNodeIsCharged(t *testing.T) {
	tn := newTestNet(t, 0, 2)
	require.Eventually(t, func() bool { return counter(tn.status(t, 0), "bans_requested") >= 1 }, 10*time.Second, 10*time.Millisecond)
	n := counter(tn.status(t, 0), "failures")
	assert.GreaterOrEqual(t, n, uint64(1))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, n, counter(tn.status(t, 0), "failures"), "no new attempt within RerecoveryTimeout")
}

// `ctdb recover` on a node that does not lead is passed on to the leader
// and answered once a recovery that started after it has finished.
func TestRecoverRequestIsForwardedAndWaits(t *testing.T) {
	tn := newTestNet(t, 0, -1)
	require.Eventually(t, func() bool { return counter(tn.status(t, 0), "recoveries") >= 1 }, 10*time.Second, 10*time.Millisecond)
	before := tn.status(t, 0).Last
	var ev proto.RecoveryEvent
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := rpc.CallTyped(ctx, tn.Client(2), proto.Endpoint{PNN: 2, Service: proto.ServiceRecovery}, proto.OpRecover, &proto.RecoverRequest{Reason: "test"}, &ev)
	require.NoError(t, err)
	assert.Greater(t, ev.Number, before.Number)
	assert.NotEqual(t, before.Generation, ev.Generation)
	assert.Contains(t, ev.Reason, "test")
}
