package proto

import (
	"fmt"
	"time"
)

// Cluster family: leader election, the leader broadcast and the cluster
// lock, all answered by the cluster service (ServiceCluster).
const (
	// OpLeaderBroadcast is the leader's "I lead" (Leader), sent every
	// second with FlagPriority to the cluster service of every connected
	// node. One-way.
	OpLeaderBroadcast = FamilyCluster | 0x0001
	// OpGetLeader answers at once with this node's view (Leader).
	OpGetLeader = FamilyCluster | 0x0002
	// OpLeader publishes this node's view (Leader) on SrvIDLeader
	// whenever the leader or its term changes.
	OpLeader = FamilyCluster | 0x0003
	// OpVerifyLeader asks the local cluster service "am I still the
	// leader of this term, holding the cluster lock right now?"
	// (LeaderCheck). The answer is StatusOK with a LeaderVerdict, or
	// StatusNotLeader. Leader-only actions call it before every step.
	OpVerifyLeader = FamilyCluster | 0x0004
	// OpGetClusterLock answers with the configured cluster lock (Name),
	// empty when there is none (ctdb getreclock).
	OpGetClusterLock = FamilyCluster | 0x0005
	// OpClusterStatus answers with ClusterStatus: the view, the lock and
	// the election counters (ctdb statistics).
	OpClusterStatus = FamilyCluster | 0x0006
	// OpLeaderYield is sent (Leader) by a leader that has just given up
	// the lock (stopped, banned, capability removed, lock lost), so the
	// others race for it without waiting for the leader timeout.
	OpLeaderYield = FamilyCluster | 0x0007
)

var clusterOpcodeNames = map[Opcode]string{
	OpLeaderBroadcast: "leader_broadcast",
	OpGetLeader:       "get_leader",
	OpLeader:          "leader",
	OpVerifyLeader:    "verify_leader",
	OpGetClusterLock:  "get_cluster_lock",
	OpClusterStatus:   "cluster_status",
	OpLeaderYield:     "leader_yield",
}

// Srvids of the service families are srvidBase | service<<16 | n, so
// each family has its own range.
const (
	// SrvIDLeader carries OpLeader (Leader) from the local cluster
	// service after every change of leader or term.
	SrvIDLeader = srvidBase | uint64(ServiceCluster)<<16 | 0x0001
	// SrvIDBanState carries OpBanState (BanState) from the local banning
	// service after every ban and unban of this node.
	SrvIDBanState = srvidBase | uint64(ServiceBanning)<<16 | 0x0001
)

// How a leader was chosen (Leader.Mode).
const (
	// LeaderModeNone: no leader is known.
	LeaderModeNone uint8 = 0
	// LeaderModeLock: the leader won the cluster lock and holds it.
	LeaderModeLock uint8 = 1
	// LeaderModeNoLock: no cluster lock is configured; the lowest
	// connected, active, leader-capable node leads.
	LeaderModeNoLock uint8 = 2
)

// LeaderModeName says how a leader was chosen, for logs and the CLI:
// "cluster lock", "no cluster lock" or "none".
func LeaderModeName(mode uint8) string {
	switch mode {
	case LeaderModeLock:
		return "cluster lock"
	case LeaderModeNoLock:
		return "no cluster lock"
	}
	return "none"
}

// Leader is one node's view of the leader, and the body of the leader
// broadcast.
type Leader struct {
	// PNN is the leader, PNNUnknown when none is known.
	PNN uint32
	// Term increases with every change of leadership, cluster-wide;
	// leader-only requests carry it so that receivers can refuse a
	// deposed leader's late messages.
	Term uint64
	// Since is when PNN became leader, by the leader's clock.
	Since Timestamp
	// Heard is when this node last heard from the leader (its own clock;
	// the leader itself says now).
	Heard Timestamp
	// Mode is LeaderModeNone, LeaderModeLock or LeaderModeNoLock.
	Mode uint8
}

// Known reports whether a leader is known.
func (l *Leader) Known() bool { return l.PNN != PNNUnknown }

// AppendTo encodes l.
func (l *Leader) AppendTo(b []byte) []byte {
	b = AppendU32(b, l.PNN)
	b = AppendU64(b, l.Term)
	b = AppendI64(b, int64(l.Since))
	b = AppendI64(b, int64(l.Heard))
	return AppendU8(b, l.Mode)
}

// DecodeFrom decodes l.
func (l *Leader) DecodeFrom(d *Decoder) {
	l.PNN = d.U32()
	l.Term = d.U64()
	l.Since = Timestamp(d.I64())
	l.Heard = Timestamp(d.I64())
	l.Mode = d.U8()
	if d.Err() == nil && l.Mode > LeaderModeNoLock {
		d.Fail(fmt.Errorf("%w: leader mode %d", ErrMalformed, l.Mode))
	}
}

// LeaderCheck asks OpVerifyLeader about a term; 0 means the current one.
type LeaderCheck struct {
	Term uint64
}

// AppendTo encodes c.
func (c *LeaderCheck) AppendTo(b []byte) []byte { return AppendU64(b, c.Term) }

// DecodeFrom decodes c.
func (c *LeaderCheck) DecodeFrom(d *Decoder) { c.Term = d.U64() }

// LeaderVerdict answers a successful OpVerifyLeader.
type LeaderVerdict struct {
	Term uint64
	// ValidFor is how long leadership is guaranteed from the moment the
	// answer was sent: the rest of the lock helper's lease. A step that
	// takes longer must verify again.
	ValidFor time.Duration
	// Fenced is true when the lock holder proved within ValidFor that it
	// still holds the lock on the current lock file (gctdb's helper);
	// false for helpers without a lease (CTDB's), whose lock is only
	// known to be held while their process lives, and without a lock.
	Fenced bool
}

// AppendTo encodes v.
func (v *LeaderVerdict) AppendTo(b []byte) []byte {
	b = AppendU64(b, v.Term)
	b = AppendI64(b, int64(v.ValidFor))
	return AppendBool(b, v.Fenced)
}

// DecodeFrom decodes v.
func (v *LeaderVerdict) DecodeFrom(d *Decoder) {
	v.Term = d.U64()
	v.ValidFor = time.Duration(d.I64())
	v.Fenced = d.Bool()
	if d.Err() == nil && v.ValidFor < 0 {
		d.Fail(fmt.Errorf("%w: negative validity %d", ErrMalformed, v.ValidFor))
	}
}

// ClusterStatus answers OpClusterStatus.
type ClusterStatus struct {
	Leader Leader
	// Lock is the configured cluster lock, empty for none.
	Lock string
	// LockHeld is true while this node holds the cluster lock.
	LockHeld bool
	// Stats counts elections and lock attempts since Stats.Start, with
	// the names of docs/cluster.md ("elections", "lock_attempts",
	// "lock_taken", "lock_contended", "lock_timeouts", "lock_errors",
	// "lock_lost", "leader_changes", "broadcasts_sent",
	// "broadcasts_received"), and the latency of taking the lock under
	// CTDB's name "reclock_recd".
	Stats Statistics
}

// AppendTo encodes s.
func (s *ClusterStatus) AppendTo(b []byte) []byte {
	b = s.Leader.AppendTo(b)
	b = AppendString(b, s.Lock)
	b = AppendBool(b, s.LockHeld)
	return s.Stats.AppendTo(b)
}

// DecodeFrom decodes s.
func (s *ClusterStatus) DecodeFrom(d *Decoder) {
	s.Leader.DecodeFrom(d)
	s.Lock = d.String(MaxPath)
	s.LockHeld = d.Bool()
	s.Stats.DecodeFrom(d)
}

// MaxPath bounds file names and command lines in messages.
const MaxPath = 4096
