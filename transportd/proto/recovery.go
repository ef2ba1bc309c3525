package proto

import "fmt"

// Recovery family: the recovery service (ServiceRecovery). The leader's
// recovery service runs every recovery; the recovery service of every
// other node forwards requests for one to the leader and republishes the
// leader's announcements on its own node. The steps of a recovery are
// database-family requests (OpRecBegin ... OpRecFinish) from the leader's
// recovery service to the database service of every node taking part.
const (
	// OpRecover asks for a recovery (RecoverRequest): `ctdb recover`, or
	// a node whose databases disagree with the cluster. Any node's
	// recovery service takes it and passes it on to the leader. Unless
	// RecoverNoWait is set, the answer comes once a recovery that started
	// after the request has finished, with its RecoveryEvent.
	OpRecover = FamilyRecovery | 0x0001
	// OpRecoveryStatus answers with the node's RecoveryStatus.
	OpRecoveryStatus = FamilyRecovery | 0x0002
	// OpRecoveryStarted (one-way, RecoveryEvent) is sent by the leader to
	// the recovery service of every node taking part when a recovery
	// starts, and published by each of them on SrvIDRecoveryStarted.
	OpRecoveryStarted = FamilyRecovery | 0x0003
	// OpRecovered (one-way, RecoveryEvent) is sent by the leader to the
	// recovery service of every node that took part once a recovery has
	// finished on all of them, and published by each of them on
	// SrvIDRecovered: the databases are consistent in the event's
	// generation and every node runs with its vnnmap. The failover
	// service's takeover run follows it.
	OpRecovered = FamilyRecovery | 0x0004
)

var recoveryOpcodeNames = map[Opcode]string{
	OpRecover:         "recover",
	OpRecoveryStatus:  "recovery_status",
	OpRecoveryStarted: "recovery_started",
	OpRecovered:       "recovered",
}

// Recovery publications on every node (srvidBase | ServiceRecovery<<16 | n).
const (
	// SrvIDRecoveryStarted carries OpRecoveryStarted (RecoveryEvent) on
	// every node taking part in a recovery, when it starts.
	SrvIDRecoveryStarted = srvidBase | uint64(ServiceRecovery)<<16 | 0x0001
	// SrvIDRecovered carries OpRecovered (RecoveryEvent) on every node
	// that took part in a recovery, once it has finished everywhere.
	SrvIDRecovered = srvidBase | uint64(ServiceRecovery)<<16 | 0x0002
)

// RecoverRequest flags.
const (
	// RecoverNoWait answers at once, before the recovery runs.
	RecoverNoWait uint32 = 0x1
	// RecoverForwarded marks a request one node passed on to the leader,
	// so that it is not passed on again.
	RecoverForwarded uint32 = 0x2
)

// MaxRecoveryReason bounds the reason of a recovery.
const MaxRecoveryReason = 1024

// RecoverRequest asks for a recovery and says why.
type RecoverRequest struct {
	Flags  uint32
	Reason string
}

// AppendTo encodes r.
func (r *RecoverRequest) AppendTo(b []byte) []byte {
	b = AppendU32(b, r.Flags)
	return AppendString(b, r.Reason)
}

// DecodeFrom decodes r.
func (r *RecoverRequest) DecodeFrom(d *Decoder) {
	r.Flags = d.U32()
	r.Reason = d.String(MaxRecoveryReason)
}

// RecoveryEvent describes one recovery: its number and generation, the
// leader that ran it and in which term, the nodes that took part, the
// vnnmap it installed and when it started and finished (Finished is zero
// in OpRecoveryStarted).
type RecoveryEvent struct {
	// Number orders recoveries cluster-wide: it grows with every
	// recovery, across leaders.
	Number     uint64
	Generation uint32
	Term       uint64
	Leader     uint32
	Nodes      []uint32
	VNNMap     []uint32
	Started    Timestamp
	Finished   Timestamp
	Reason     string
}

// AppendTo encodes e.
func (e *RecoveryEvent) AppendTo(b []byte) []byte {
	b = AppendU64(b, e.Number)
	b = AppendU32(b, e.Generation)
	b = AppendU64(b, e.Term)
	b = AppendU32(b, e.Leader)
	b = appendPNNs(b, e.Nodes)
	b = appendPNNs(b, e.VNNMap)
	b = AppendI64(b, int64(e.Started))
	b = AppendI64(b, int64(e.Finished))
	return AppendString(b, e.Reason)
}

// DecodeFrom decodes e.
func (e *RecoveryEvent) DecodeFrom(d *Decoder) {
	e.Number = d.U64()
	e.Generation = d.U32()
	e.Term = d.U64()
	e.Leader = d.U32()
	e.Nodes = decodePNNs(d)
	e.VNNMap = decodePNNs(d)
	e.Started = Timestamp(d.I64())
	e.Finished = Timestamp(d.I64())
	e.Reason = d.String(MaxRecoveryReason)
	if d.Err() == nil && e.Finished != 0 && e.Finished < e.Started {
		d.Fail(fmt.Errorf("%w: recovery finished before it started", ErrMalformed))
	}
}

func appendPNNs(b []byte, pnns []uint32) []byte {
	b = AppendU32(b, uint32(len(pnns)))
	for _, p := range pnns {
		b = AppendU32(b, p)
	}
	return b
}

func decodePNNs(d *Decoder) []uint32 {
	n := d.Count(4)
	out := make([]uint32, n)
	for i := range out {
		out[i] = d.U32()
	}
	return out
}

// RecoveryStatus answers OpRecoveryStatus: whether this node leads
// recoveries now, whether one is running or waiting, the last one this
// node took part in, and the recovery statistics (counters "recoveries",
// "failures", "forced", "coalesced", "bans_requested", and the latency
// "recovery_latency" of the recoveries this node ran as leader).
type RecoveryStatus struct {
	Leading bool
	Running bool
	Pending bool
	Last    RecoveryEvent
	Stats   Statistics
}

// AppendTo encodes s.
func (s *RecoveryStatus) AppendTo(b []byte) []byte {
	b = AppendBool(b, s.Leading)
	b = AppendBool(b, s.Running)
	b = AppendBool(b, s.Pending)
	b = s.Last.AppendTo(b)
	return s.Stats.AppendTo(b)
}

// DecodeFrom decodes s.
func (s *RecoveryStatus) DecodeFrom(d *Decoder) {
	s.Leading = d.Bool()
	s.Running = d.Bool()
	s.Pending = d.Bool()
	s.Last.DecodeFrom(d)
	s.Stats.DecodeFrom(d)
}
