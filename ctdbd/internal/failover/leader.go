package failover

import (
	"context"
	"errors"
	"sync"
	"time"

	"gctdb/transportd/proto"
)

// errNotLeader stops a takeover run on a node that no longer leads.
var errNotLeader = errors.New("this node is not the leader")

// leadership tells the failover service which node leads, so that only
// the leader drives takeover runs, and lets the leader check before each
// step that it still does.
type leadership interface {
	// srvids are the messages the leadership source publishes on.
	srvids() []uint64
	// start learns the current leader once the service runs.
	start(ctx context.Context)
	// handle consumes a message on one of srvids or the node map; it
	// reports whether the leader may have changed.
	handle(m *proto.Message) bool
	// refresh re-evaluates time-dependent state; it reports whether the
	// leader may have changed.
	refresh() bool
	// leader is the node that leads, if one is known.
	leader() (pnn uint32, ok bool)
	// verify returns nil (and the term, 0 when there are none) while
	// this node leads; errNotLeader otherwise.
	verify(ctx context.Context) (uint64, error)
	// leaderless is how long no leader has been known, 0 while one is.
	leaderless() time.Duration
}

// lowestConnected is the stand-in leadership used until the cluster
// service publishes the leader: the connected, active node with the
// lowest PNN leads, as CTDB does without a cluster lock.
type lowestConnected struct {
	self uint32
	// settled is when a node that has not seen every node connected
	// yet may lead anyway: at start, peers need a moment to connect, and
	// leading before would make every node lead.
	settled time.Time

	mu      sync.Mutex
	cur     uint32
	ok      bool
	last    *proto.NodeMap
	seenAll bool
}

// settleTime is how long a starting node waits for its peers before it
// may lead a partial cluster.
const settleTime = 2 * time.Second

func newLowestConnected(self uint32) *lowestConnected {
	return &lowestConnected{self: self, settled: time.Now().Add(settleTime)}
}

func (l *lowestConnected) srvids() []uint64 { return nil }

func (l *lowestConnected) start(context.Context) {}

func (l *lowestConnected) handle(m *proto.Message) bool {
	if m.Dst.ID != proto.SrvIDNodeMap {
		return false
	}
	var nm proto.NodeMap
	if proto.DecodePayload(m, &nm) != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = &nm
	return l.evaluate()
}

func (l *lowestConnected) refresh() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evaluate()
}

// evaluate recomputes the leader from the last node map; l.mu is held.
func (l *lowestConnected) evaluate() bool {
	if l.last == nil {
		return false
	}
	cur, ok := uint32(0), false
	all := true
	for _, n := range l.last.Nodes {
		if n.Flags&proto.NodeFlagDeleted == 0 && n.Flags&proto.NodeFlagDisconnected != 0 {
			all = false
		}
		if !ok && n.Flags&proto.NodeFlagsInactive == 0 {
			cur, ok = n.PNN, true
		}
	}
	l.seenAll = l.seenAll || all
	if !l.seenAll && time.Now().Before(l.settled) {
		ok = false
	}
	changed := cur != l.cur || ok != l.ok
	l.cur, l.ok = cur, ok
	return changed
}

func (l *lowestConnected) leader() (uint32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur, l.ok
}

// leaderless is always 0: every node of a partition leads it.
func (l *lowestConnected) leaderless() time.Duration { return 0 }

func (l *lowestConnected) verify(context.Context) (uint64, error) {
	if p, ok := l.leader(); ok && p == l.self {
		return 0, nil
	}
	return 0, errNotLeader
}
