package proto

import "fmt"

// Transport family: the handshake and the router's own messages.
const (
	OpHello           = FamilyTransport | 0x0001
	OpHelloAccept     = FamilyTransport | 0x0002
	OpHelloReject     = FamilyTransport | 0x0003
	OpRegisterSrvID   = FamilyTransport | 0x0010
	OpDeregisterSrvID = FamilyTransport | 0x0011
	OpRegisterService = FamilyTransport | 0x0012
	OpLinkStatus      = FamilyTransport | 0x0020
	OpPeerDown        = FamilyTransport | 0x0021
	OpClientCount     = FamilyTransport | 0x0022
	OpTransportStats  = FamilyTransport | 0x0030
	OpProcessExists   = FamilyTransport | 0x0031
	OpEcho            = FamilyTransport | 0x0040
	OpClientGone      = FamilyTransport | 0x0041
)

var transportOpcodeNames = map[Opcode]string{
	OpHello:           "hello",
	OpHelloAccept:     "hello_accept",
	OpHelloReject:     "hello_reject",
	OpRegisterSrvID:   "register_srvid",
	OpDeregisterSrvID: "deregister_srvid",
	OpRegisterService: "register_service",
	OpLinkStatus:      "link_status",
	OpPeerDown:        "peer_down",
	OpClientCount:     "client_count",
	OpTransportStats:  "transport_stats",
	OpProcessExists:   "process_exists",
	OpEcho:            "echo",
	OpClientGone:      "client_gone",
}

// Role says what kind of peer opened a connection.
type Role uint8

// Connection roles.
const (
	RoleNode    Role = 1 // another node's transport, over TCP
	RoleClient  Role = 2 // a client of the local daemon (ctdb, smbd, tests)
	RoleService Role = 3 // a process hosting services (ctdbd with an external transportd)
)

func (r Role) String() string {
	switch r {
	case RoleNode:
		return "node"
	case RoleClient:
		return "client"
	case RoleService:
		return "service"
	}
	return fmt.Sprintf("role-%d", uint8(r))
}

// MaxName bounds identity strings and names in messages.
const MaxName = 256

// Hello opens every connection. Its layout is frozen across protocol
// versions (new fields may only be appended), so any version can read it
// and answer with a precise refusal.
type Hello struct {
	MinVersion uint16
	MaxVersion uint16
	Role       Role
	// PNN is the sender's node number (RoleNode) or PNNUnknown.
	PNN uint32
	// Name identifies the software, e.g. "gctdb ctdbd 0.1".
	Name string
	// Services lists the services a RoleService process hosts.
	Services []ServiceID
}

// AppendTo encodes h.
func (h *Hello) AppendTo(b []byte) []byte {
	b = AppendU16(b, h.MinVersion)
	b = AppendU16(b, h.MaxVersion)
	b = AppendU8(b, uint8(h.Role))
	b = AppendU32(b, h.PNN)
	b = AppendString(b, h.Name)
	b = AppendU32(b, uint32(len(h.Services)))
	for _, s := range h.Services {
		b = AppendU32(b, uint32(s))
	}
	return b
}

// DecodeFrom decodes h.
func (h *Hello) DecodeFrom(d *Decoder) {
	h.MinVersion = d.U16()
	h.MaxVersion = d.U16()
	h.Role = Role(d.U8())
	h.PNN = d.U32()
	h.Name = d.String(MaxName)
	n := d.Count(4)
	h.Services = nil
	for i := 0; i < n; i++ {
		h.Services = append(h.Services, ServiceID(d.U32()))
	}
	if d.Err() == nil {
		if h.Role < RoleNode || h.Role > RoleService {
			d.Fail(fmt.Errorf("%w: hello role %d", ErrMalformed, h.Role))
		}
		if h.MinVersion > h.MaxVersion {
			d.Fail(fmt.Errorf("%w: hello versions %d..%d", ErrMalformed, h.MinVersion, h.MaxVersion))
		}
	}
}

// HelloAccept answers a Hello with the version both sides will speak.
type HelloAccept struct {
	Version uint16
	// PNN is the accepting node's number.
	PNN uint32
	// ConnID is the id assigned to a client or service connection; a
	// client's endpoint is {PNN, ServiceClient, ConnID}.
	ConnID uint64
	Name   string
}

// AppendTo encodes a.
func (a *HelloAccept) AppendTo(b []byte) []byte {
	b = AppendU16(b, a.Version)
	b = AppendU32(b, a.PNN)
	b = AppendU64(b, a.ConnID)
	return AppendString(b, a.Name)
}

// DecodeFrom decodes a.
func (a *HelloAccept) DecodeFrom(d *Decoder) {
	a.Version = d.U16()
	a.PNN = d.U32()
	a.ConnID = d.U64()
	a.Name = d.String(MaxName)
}

// HelloReject refuses a connection; the connection is closed after it.
type HelloReject struct {
	// MinVersion and MaxVersion are what the refusing side speaks.
	MinVersion uint16
	MaxVersion uint16
	Reason     string
}

// AppendTo encodes r.
func (r *HelloReject) AppendTo(b []byte) []byte {
	b = AppendU16(b, r.MinVersion)
	b = AppendU16(b, r.MaxVersion)
	return AppendString(b, r.Reason)
}

// DecodeFrom decodes r.
func (r *HelloReject) DecodeFrom(d *Decoder) {
	r.MinVersion = d.U16()
	r.MaxVersion = d.U16()
	r.Reason = d.String(MaxErrorMessage)
}

// NegotiateVersion returns the highest version in both ranges.
func NegotiateVersion(aMin, aMax, bMin, bMax uint16) (uint16, bool) {
	hi := min(aMax, bMax)
	lo := max(aMin, bMin)
	if hi < lo {
		return 0, false
	}
	return hi, true
}

// SrvID carries a message srvid (register/deregister).
type SrvID struct {
	SrvID uint64
}

// AppendTo encodes s.
func (s *SrvID) AppendTo(b []byte) []byte { return AppendU64(b, s.SrvID) }

// DecodeFrom decodes s.
func (s *SrvID) DecodeFrom(d *Decoder) { s.SrvID = d.U64() }

// ServiceList carries service ids (register_service).
type ServiceList struct {
	Services []ServiceID
}

// AppendTo encodes l.
func (l *ServiceList) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(l.Services)))
	for _, s := range l.Services {
		b = AppendU32(b, uint32(s))
	}
	return b
}

// DecodeFrom decodes l.
func (l *ServiceList) DecodeFrom(d *Decoder) {
	n := d.Count(4)
	l.Services = make([]ServiceID, 0, n)
	for i := 0; i < n; i++ {
		l.Services = append(l.Services, ServiceID(d.U32()))
	}
}

// LinkStatus reports a change of the transport's link to a peer node.
type LinkStatus struct {
	PNN    uint32
	Up     bool
	Reason string
}

// AppendTo encodes s.
func (s *LinkStatus) AppendTo(b []byte) []byte {
	b = AppendU32(b, s.PNN)
	b = AppendBool(b, s.Up)
	return AppendString(b, s.Reason)
}

// DecodeFrom decodes s.
func (s *LinkStatus) DecodeFrom(d *Decoder) {
	s.PNN = d.U32()
	s.Up = d.Bool()
	s.Reason = d.String(MaxErrorMessage)
}

// ClientCount tells the node service how many clients are connected.
type ClientCount struct {
	Count uint32
}

// AppendTo encodes c.
func (c *ClientCount) AppendTo(b []byte) []byte { return AppendU32(b, c.Count) }

// DecodeFrom decodes c.
func (c *ClientCount) DecodeFrom(d *Decoder) { c.Count = d.U32() }

// PeerStats describes one peer link.
type PeerStats struct {
	PNN        uint32
	Addr       string
	Up         bool
	FramesSent uint64
	FramesRecv uint64
	BytesSent  uint64
	BytesRecv  uint64
	Dropped    uint64
	Queued     uint32
	Reconnects uint64
}

// AppendTo encodes p.
func (p *PeerStats) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.PNN)
	b = AppendString(b, p.Addr)
	b = AppendBool(b, p.Up)
	b = AppendU64(b, p.FramesSent)
	b = AppendU64(b, p.FramesRecv)
	b = AppendU64(b, p.BytesSent)
	b = AppendU64(b, p.BytesRecv)
	b = AppendU64(b, p.Dropped)
	b = AppendU32(b, p.Queued)
	return AppendU64(b, p.Reconnects)
}

// DecodeFrom decodes p.
func (p *PeerStats) DecodeFrom(d *Decoder) {
	p.PNN = d.U32()
	p.Addr = d.String(MaxName)
	p.Up = d.Bool()
	p.FramesSent = d.U64()
	p.FramesRecv = d.U64()
	p.BytesSent = d.U64()
	p.BytesRecv = d.U64()
	p.Dropped = d.U64()
	p.Queued = d.U32()
	p.Reconnects = d.U64()
}

// TransportStats is the router's view of its links and clients.
type TransportStats struct {
	Peers             []PeerStats
	Clients           uint32
	ClientFramesSent  uint64
	ClientFramesRecv  uint64
	BadConnections    uint64
	UndeliverableMsgs uint64
	// Goroutines is the number of goroutines of the process running the
	// transport, to spot leaks.
	Goroutines uint32
}

// AppendTo encodes s.
func (s *TransportStats) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(s.Peers)))
	for i := range s.Peers {
		b = s.Peers[i].AppendTo(b)
	}
	b = AppendU32(b, s.Clients)
	b = AppendU64(b, s.ClientFramesSent)
	b = AppendU64(b, s.ClientFramesRecv)
	b = AppendU64(b, s.BadConnections)
	b = AppendU64(b, s.UndeliverableMsgs)
	return AppendU32(b, s.Goroutines)
}

// DecodeFrom decodes s.
func (s *TransportStats) DecodeFrom(d *Decoder) {
	n := d.Count(4 + 4 + 1 + 6*8 + 4)
	s.Peers = make([]PeerStats, n)
	for i := range s.Peers {
		s.Peers[i].DecodeFrom(d)
	}
	s.Clients = d.U32()
	s.ClientFramesSent = d.U64()
	s.ClientFramesRecv = d.U64()
	s.BadConnections = d.U64()
	s.UndeliverableMsgs = d.U64()
	s.Goroutines = d.U32()
}

// ProcessExists asks whether a client process with PID is connected and,
// when SrvID is non-zero, has registered that srvid.
type ProcessExists struct {
	PID   uint32
	SrvID uint64
}

// AppendTo encodes p.
func (p *ProcessExists) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.PID)
	return AppendU64(b, p.SrvID)
}

// DecodeFrom decodes p.
func (p *ProcessExists) DecodeFrom(d *Decoder) {
	p.PID = d.U32()
	p.SrvID = d.U64()
}

// Empty is the payload of messages that carry nothing.
type Empty struct{}

// AppendTo encodes nothing.
func (Empty) AppendTo(b []byte) []byte { return b }

// DecodeFrom decodes nothing; trailing bytes are left for Finish.
func (*Empty) DecodeFrom(*Decoder) {}

// U32 is a payload of one u32.
type U32 struct{ V uint32 }

// AppendTo encodes u.
func (u *U32) AppendTo(b []byte) []byte { return AppendU32(b, u.V) }

// DecodeFrom decodes u.
func (u *U32) DecodeFrom(d *Decoder) { u.V = d.U32() }

// Blob is a payload that is an opaque byte string, used by echo and
// message frames.
type Blob struct{ Data []byte }

// AppendTo encodes the bytes as they are.
func (p *Blob) AppendTo(b []byte) []byte { return append(b, p.Data...) }

// DecodeFrom takes the rest of the buffer.
func (p *Blob) DecodeFrom(d *Decoder) { p.Data = d.Rest() }

// ClientGone announces that a local client disconnected (on
// SrvIDClientGone), so services release what it held.
type ClientGone struct {
	ConnID uint64
	PID    uint32
}

// AppendTo encodes g.
func (g *ClientGone) AppendTo(b []byte) []byte {
	b = AppendU64(b, g.ConnID)
	return AppendU32(b, g.PID)
}

// DecodeFrom decodes g.
func (g *ClientGone) DecodeFrom(d *Decoder) {
	g.ConnID = d.U64()
	g.PID = d.U32()
}
