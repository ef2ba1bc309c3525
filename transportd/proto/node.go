package proto

import "time"

// Node family: the node service's state and administration.
const (
	OpPing            = FamilyNode | 0x0001
	OpGetPNN          = FamilyNode | 0x0002
	OpGetPID          = FamilyNode | 0x0003
	OpGetRunstate     = FamilyNode | 0x0004
	OpUptime          = FamilyNode | 0x0005
	OpGetNodeMap      = FamilyNode | 0x0006
	OpGetTunable      = FamilyNode | 0x0007
	OpSetTunable      = FamilyNode | 0x0008
	OpListTunables    = FamilyNode | 0x0009
	OpGetDebug        = FamilyNode | 0x000A
	OpSetDebug        = FamilyNode | 0x000B
	OpGetCapabilities = FamilyNode | 0x000C
	OpStatistics      = FamilyNode | 0x000D
	OpStatisticsReset = FamilyNode | 0x000E
	OpShutdown        = FamilyNode | 0x000F
	OpModifyFlags     = FamilyNode | 0x0010
	OpNodeFlags       = FamilyNode | 0x0011
	OpSetCapabilities = FamilyNode | 0x0012
	OpRecoveryTimes   = FamilyNode | 0x0013
	// OpOpenGate lets the service responsible for a start-up step tell
	// the node service the step is done (payload Name: "setup",
	// "first_recovery" or "startup").
	OpOpenGate = FamilyNode | 0x0014
	// OpRunstate publishes the runstate (U32) on SrvIDRunstate.
	OpRunstate = FamilyNode | 0x0015
)

var nodeOpcodeNames = map[Opcode]string{
	OpPing:            "ping",
	OpGetPNN:          "get_pnn",
	OpGetPID:          "get_pid",
	OpGetRunstate:     "get_runstate",
	OpUptime:          "uptime",
	OpGetNodeMap:      "get_nodemap",
	OpGetTunable:      "get_tunable",
	OpSetTunable:      "set_tunable",
	OpListTunables:    "list_tunables",
	OpGetDebug:        "get_debug",
	OpSetDebug:        "set_debug",
	OpGetCapabilities: "get_capabilities",
	OpStatistics:      "statistics",
	OpStatisticsReset: "statistics_reset",
	OpShutdown:        "shutdown",
	OpModifyFlags:     "modify_flags",
	OpNodeFlags:       "node_flags",
	OpSetCapabilities: "set_capabilities",
	OpRecoveryTimes:   "recovery_times",
	OpOpenGate:        "open_gate",
	OpRunstate:        "runstate",
}

// Node flags, with CTDB's values.
const (
	NodeFlagDisconnected        uint32 = 0x00000001
	NodeFlagUnhealthy           uint32 = 0x00000002
	NodeFlagPermanentlyDisabled uint32 = 0x00000004
	NodeFlagBanned              uint32 = 0x00000008
	NodeFlagDeleted             uint32 = 0x00000010
	NodeFlagStopped             uint32 = 0x00000020

	NodeFlagsDisabled = NodeFlagUnhealthy | NodeFlagPermanentlyDisabled
	NodeFlagsInactive = NodeFlagDeleted | NodeFlagDisconnected | NodeFlagBanned | NodeFlagStopped
)

// nodeFlagNames are CTDB 4.17's flag names in its order; INACTIVE is any
// of the inactive flags.
var nodeFlagNames = []struct {
	mask uint32
	name string
}{
	{NodeFlagDisconnected, "DISCONNECTED"},
	{NodeFlagPermanentlyDisabled, "DISABLED"},
	{NodeFlagBanned, "BANNED"},
	{NodeFlagUnhealthy, "UNHEALTHY"},
	{NodeFlagDeleted, "DELETED"},
	{NodeFlagStopped, "STOPPED"},
	{NodeFlagsInactive, "INACTIVE"},
}

// NodeFlagsString renders node flags as ctdb status does: OK, or the
// names joined by |.
func NodeFlagsString(flags uint32) string {
	out := ""
	for _, f := range nodeFlagNames {
		if flags&f.mask != 0 {
			if out != "" {
				out += "|"
			}
			out += f.name
		}
	}
	if out == "" {
		return "OK"
	}
	return out
}

// Capabilities, with CTDB's values.
const (
	CapLeader  uint32 = 0x00000001 // CTDB_CAP_RECMASTER
	CapLMaster uint32 = 0x00000002
)

// Runstate is the daemon's start-up state machine, with CTDB's values.
type Runstate uint32

// Runstates.
const (
	RunstateUnknown       Runstate = 0
	RunstateInit          Runstate = 1
	RunstateSetup         Runstate = 2
	RunstateFirstRecovery Runstate = 3
	RunstateStartup       Runstate = 4
	RunstateRunning       Runstate = 5
	RunstateShutdown      Runstate = 6
)

var runstateNames = []string{"UNKNOWN", "INIT", "SETUP", "FIRST_RECOVERY", "STARTUP", "RUNNING", "SHUTDOWN"}

func (r Runstate) String() string {
	if int(r) < len(runstateNames) {
		return runstateNames[r]
	}
	return "UNKNOWN"
}

// ParseRunstate accepts CTDB's names in any case.
func ParseRunstate(s string) (Runstate, bool) {
	for i, n := range runstateNames {
		if equalFold(n, s) {
			return Runstate(i), true
		}
	}
	return RunstateUnknown, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// PingReply answers OpPing.
type PingReply struct {
	NumClients uint32
}

// AppendTo encodes p.
func (p *PingReply) AppendTo(b []byte) []byte { return AppendU32(b, p.NumClients) }

// DecodeFrom decodes p.
func (p *PingReply) DecodeFrom(d *Decoder) { p.NumClients = d.U32() }

// Timestamp is a wall-clock time with nanoseconds; zero means never.
type Timestamp int64

// TimestampOf converts t; the zero time maps to 0.
func TimestampOf(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	return Timestamp(t.UnixNano())
}

// Time converts back; 0 maps to the zero time.
func (ts Timestamp) Time() time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ts))
}

// Uptime answers OpUptime.
type Uptime struct {
	Now                  Timestamp
	Start                Timestamp
	LastRecoveryStarted  Timestamp
	LastRecoveryFinished Timestamp
}

// AppendTo encodes u.
func (u *Uptime) AppendTo(b []byte) []byte {
	b = AppendI64(b, int64(u.Now))
	b = AppendI64(b, int64(u.Start))
	b = AppendI64(b, int64(u.LastRecoveryStarted))
	return AppendI64(b, int64(u.LastRecoveryFinished))
}

// DecodeFrom decodes u.
func (u *Uptime) DecodeFrom(d *Decoder) {
	u.Now = Timestamp(d.I64())
	u.Start = Timestamp(d.I64())
	u.LastRecoveryStarted = Timestamp(d.I64())
	u.LastRecoveryFinished = Timestamp(d.I64())
}

// RecoveryTimes tells the node service when a recovery or takeover run
// started and finished (zero Finished while it runs), for `ctdb uptime`.
type RecoveryTimes struct {
	Started  Timestamp
	Finished Timestamp
}

// AppendTo encodes r.
func (r *RecoveryTimes) AppendTo(b []byte) []byte {
	b = AppendI64(b, int64(r.Started))
	return AppendI64(b, int64(r.Finished))
}

// DecodeFrom decodes r.
func (r *RecoveryTimes) DecodeFrom(d *Decoder) {
	r.Started = Timestamp(d.I64())
	r.Finished = Timestamp(d.I64())
}

// NodeInfo is one entry of the node map.
type NodeInfo struct {
	PNN   uint32
	Addr  string
	Flags uint32
	// Caps holds the node's capabilities as last heard; 0 when unknown.
	Caps uint32
}

// AppendTo encodes n.
func (n *NodeInfo) AppendTo(b []byte) []byte {
	b = AppendU32(b, n.PNN)
	b = AppendString(b, n.Addr)
	b = AppendU32(b, n.Flags)
	return AppendU32(b, n.Caps)
}

// DecodeFrom decodes n.
func (n *NodeInfo) DecodeFrom(d *Decoder) {
	n.PNN = d.U32()
	n.Addr = d.String(MaxName)
	n.Flags = d.U32()
	n.Caps = d.U32()
}

// NodeMap answers OpGetNodeMap: every node of the nodes file, as this
// node sees it.
type NodeMap struct {
	Nodes []NodeInfo
}

// AppendTo encodes m.
func (m *NodeMap) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.Nodes)))
	for i := range m.Nodes {
		b = m.Nodes[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes m.
func (m *NodeMap) DecodeFrom(d *Decoder) {
	n := d.Count(16)
	m.Nodes = make([]NodeInfo, n)
	for i := range m.Nodes {
		m.Nodes[i].DecodeFrom(d)
	}
}

// Tunable is a name and a value (set_tunable; get_tunable replies use U32).
type Tunable struct {
	Name  string
	Value uint32
}

// AppendTo encodes t.
func (t *Tunable) AppendTo(b []byte) []byte {
	b = AppendString(b, t.Name)
	return AppendU32(b, t.Value)
}

// DecodeFrom decodes t.
func (t *Tunable) DecodeFrom(d *Decoder) {
	t.Name = d.String(MaxName)
	t.Value = d.U32()
}

// Name carries one name (get_tunable, set_debug).
type Name struct {
	Name string
}

// AppendTo encodes n.
func (n *Name) AppendTo(b []byte) []byte { return AppendString(b, n.Name) }

// DecodeFrom decodes n.
func (n *Name) DecodeFrom(d *Decoder) { n.Name = d.String(MaxName) }

// TunableList answers OpListTunables, in CTDB's listing order.
type TunableList struct {
	Tunables []Tunable
}

// AppendTo encodes l.
func (l *TunableList) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(l.Tunables)))
	for i := range l.Tunables {
		b = l.Tunables[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes l.
func (l *TunableList) DecodeFrom(d *Decoder) {
	n := d.Count(8)
	l.Tunables = make([]Tunable, n)
	for i := range l.Tunables {
		l.Tunables[i].DecodeFrom(d)
	}
}

// Counter is one named statistic.
type Counter struct {
	Name  string
	Value uint64
}

// Latency is a min/avg/max latency statistic over Count samples, seconds.
type Latency struct {
	Name  string
	Count uint32
	Min   float64
	Max   float64
	Total float64
}

// Add counts one duration.
func (l *Latency) Add(d time.Duration) {
	sec := d.Seconds()
	if l.Count == 0 || sec < l.Min {
		l.Min = sec
	}
	l.Max = max(l.Max, sec)
	l.Total += sec
	l.Count++
}

// Statistics answers OpStatistics. Counters use CTDB's names where CTDB
// has the same counter ("num_clients", "node.req_control", ...).
type Statistics struct {
	Start     Timestamp
	Now       Timestamp
	Counters  []Counter
	Latencies []Latency
}

// AppendTo encodes s.
func (s *Statistics) AppendTo(b []byte) []byte {
	b = AppendI64(b, int64(s.Start))
	b = AppendI64(b, int64(s.Now))
	b = AppendU32(b, uint32(len(s.Counters)))
	for _, c := range s.Counters {
		b = AppendString(b, c.Name)
		b = AppendU64(b, c.Value)
	}
	b = AppendU32(b, uint32(len(s.Latencies)))
	for _, l := range s.Latencies {
		b = AppendString(b, l.Name)
		b = AppendU32(b, l.Count)
		b = AppendF64(b, l.Min)
		b = AppendF64(b, l.Max)
		b = AppendF64(b, l.Total)
	}
	return b
}

// DecodeFrom decodes s.
func (s *Statistics) DecodeFrom(d *Decoder) {
	s.Start = Timestamp(d.I64())
	s.Now = Timestamp(d.I64())
	n := d.Count(12)
	s.Counters = make([]Counter, n)
	for i := range s.Counters {
		s.Counters[i].Name = d.String(MaxName)
		s.Counters[i].Value = d.U64()
	}
	n = d.Count(32)
	s.Latencies = make([]Latency, n)
	for i := range s.Latencies {
		l := &s.Latencies[i]
		l.Name = d.String(MaxName)
		l.Count = d.U32()
		l.Min = d.F64()
		l.Max = d.F64()
		l.Total = d.F64()
	}
}

// ModifyFlags sets and clears administrative flags of the receiving node
// (stop/continue, disable/enable). Set and Clear must not overlap.
type ModifyFlags struct {
	Set   uint32
	Clear uint32
}

// AppendTo encodes m.
func (m *ModifyFlags) AppendTo(b []byte) []byte {
	b = AppendU32(b, m.Set)
	return AppendU32(b, m.Clear)
}

// DecodeFrom decodes m.
func (m *ModifyFlags) DecodeFrom(d *Decoder) {
	m.Set = d.U32()
	m.Clear = d.U32()
}

// NodeFlags announces a node's own flags and capabilities to the other
// nodes (OpNodeFlags, and on SrvIDNodeFlags locally).
type NodeFlags struct {
	PNN      uint32
	Flags    uint32
	OldFlags uint32
	Caps     uint32
	Runstate Runstate
}

// AppendTo encodes f.
func (f *NodeFlags) AppendTo(b []byte) []byte {
	b = AppendU32(b, f.PNN)
	b = AppendU32(b, f.Flags)
	b = AppendU32(b, f.OldFlags)
	b = AppendU32(b, f.Caps)
	return AppendU32(b, uint32(f.Runstate))
}

// DecodeFrom decodes f.
func (f *NodeFlags) DecodeFrom(d *Decoder) {
	f.PNN = d.U32()
	f.Flags = d.U32()
	f.OldFlags = d.U32()
	f.Caps = d.U32()
	f.Runstate = Runstate(d.U32())
}

// Capabilities sets or clears capability bits (setleaderrole,
// setlmasterrole).
type Capabilities struct {
	Set   uint32
	Clear uint32
}

// AppendTo encodes c.
func (c *Capabilities) AppendTo(b []byte) []byte {
	b = AppendU32(b, c.Set)
	return AppendU32(b, c.Clear)
}

// DecodeFrom decodes c.
func (c *Capabilities) DecodeFrom(d *Decoder) {
	c.Set = d.U32()
	c.Clear = d.U32()
}
