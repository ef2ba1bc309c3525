package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
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
	// leader is the node that leads, if one is known.
	leader() (pnn uint32, ok bool)
	// verify returns nil (and the term, 0 when there are none) while
	// this node leads; errNotLeader otherwise.
	verify(ctx context.Context) (uint64, error)
	// leaderless is how long no leader has been known, 0 while one is.
	leaderless() time.Duration
}

// clusterLeader follows the local cluster service: its leader
// publications say who leads, and every leader-only step asks it whether
// this node still leads, with the term the step belongs to, so that a
// leader that stalled and lost the cluster lock stops at its next step.
type clusterLeader struct {
	self uint32
	port rpc.Port

	mu      sync.Mutex
	view    proto.Leader
	missing time.Time // when the leader became unknown; zero while one is known
	// published is set by the first publication: from then on the
	// answer to start's question is older than what is known.
	published bool
}

// verifyTimeout bounds one check with the local cluster service.
const verifyTimeout = 2 * time.Second

func newClusterLeader(self uint32, port rpc.Port) *clusterLeader {
	return &clusterLeader{self: self, port: port, view: proto.Leader{PNN: proto.PNNUnknown}, missing: time.Now()}
}

func (l *clusterLeader) srvids() []uint64 { return []uint64{proto.SrvIDLeader} }

// start asks for the current view: the cluster service may have
// published it before this service listened.
func (l *clusterLeader) start(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	var v proto.Leader
	if err := rpc.CallTyped(ctx, l.port, proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceCluster}, proto.OpGetLeader, nil, &v); err == nil {
		l.update(v, false)
	}
}

func (l *clusterLeader) handle(m *proto.Message) bool {
	if m.Dst.ID != proto.SrvIDLeader || m.Opcode != proto.OpLeader {
		return false
	}
	var v proto.Leader
	if proto.DecodePayload(m, &v) != nil {
		return false
	}
	return l.update(v, true)
}

// update takes a newer view; a view older than the term known (reordered
// behind a newer one) is ignored, and so is start's answer once a
// publication came: it may have been taken before it.
func (l *clusterLeader) update(v proto.Leader, published bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v.Known() && v.Term < l.view.Term || !published && l.published {
		return false
	}
	l.published = l.published || published
	changed := v.PNN != l.view.PNN || v.Term != l.view.Term
	switch {
	case v.Known():
		l.missing = time.Time{}
	case l.missing.IsZero():
		l.missing = time.Now()
	}
	l.view = v
	return changed
}

func (l *clusterLeader) leader() (uint32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.view.PNN, l.view.Known()
}

func (l *clusterLeader) leaderless() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.missing.IsZero() {
		return 0
	}
	return time.Since(l.missing)
}

// verify asks the cluster service whether this node leads in the term it
// last published, holding the lock right now.
func (l *clusterLeader) verify(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	v := l.view
	l.mu.Unlock()
	if !v.Known() || v.PNN != l.self {
		return 0, errNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	var verdict proto.LeaderVerdict
	err := rpc.CallTyped(ctx, l.port, proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceCluster}, proto.OpVerifyLeader, &proto.LeaderCheck{Term: v.Term}, &verdict)
	if proto.StatusOf(err) == proto.StatusNotLeader {
		return 0, errNotLeader
	}
	if err != nil {
		return 0, fmt.Errorf("verify leadership: %w", err)
	}
	return verdict.Term, nil
}
