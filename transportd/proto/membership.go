package proto

// Membership family: liveness and connectivity.
const (
	OpGetConnectivity = FamilyMembership | 0x0001
	// OpConnectivity publishes a Connectivity on SrvIDConnectivity.
	OpConnectivity = FamilyMembership | 0x0002
)

var membershipOpcodeNames = map[Opcode]string{
	OpGetConnectivity: "get_connectivity",
	OpConnectivity:    "connectivity",
}

// PeerState is one node's connectivity as seen locally.
type PeerState struct {
	PNN uint32
	// Connected is true when the transport link is up and liveness
	// (memberlist) considers the node alive.
	Connected bool
	LinkUp    bool
	Alive     bool
	// Since is when Connected last changed.
	Since Timestamp
}

// AppendTo encodes p.
func (p *PeerState) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.PNN)
	b = AppendBool(b, p.Connected)
	b = AppendBool(b, p.LinkUp)
	b = AppendBool(b, p.Alive)
	return AppendI64(b, int64(p.Since))
}

// DecodeFrom decodes p.
func (p *PeerState) DecodeFrom(d *Decoder) {
	p.PNN = d.U32()
	p.Connected = d.Bool()
	p.LinkUp = d.Bool()
	p.Alive = d.Bool()
	p.Since = Timestamp(d.I64())
}

// Connectivity is the membership service's view of every other node,
// published on SrvIDConnectivity after each change and returned by
// OpGetConnectivity.
type Connectivity struct {
	Peers []PeerState
}

// AppendTo encodes c.
func (c *Connectivity) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(c.Peers)))
	for i := range c.Peers {
		b = c.Peers[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes c.
func (c *Connectivity) DecodeFrom(d *Decoder) {
	n := d.Count(15)
	c.Peers = make([]PeerState, n)
	for i := range c.Peers {
		c.Peers[i].DecodeFrom(d)
	}
}
