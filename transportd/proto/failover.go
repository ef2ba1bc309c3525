package proto

import (
	"fmt"
	"net/netip"
)

// Failover family: public addresses, interfaces and tickles, answered by
// the failover service (ServiceFailover) of each node.
const (
	// OpGetPublicIPs answers with PublicIPList: every public address the
	// node is configured with, who it believes hosts each one and whether
	// it could host it now. The leader's takeover runs and `ctdb ip` use it.
	OpGetPublicIPs = FamilyFailover | 0x0001
	// OpGetPublicIPInfo (IPAddr) answers with PublicIPInfo (`ctdb ipinfo`,
	// `ctdb ip -v`); StatusNotFound when the node does not know the address.
	OpGetPublicIPInfo = FamilyFailover | 0x0002
	// OpGetIfaces answers with IfaceList (`ctdb ifaces`).
	OpGetIfaces = FamilyFailover | 0x0003
	// OpSetIfaceLink (IfaceLink) sets an interface's link state, as
	// 10.interface does after checking it (`ctdb setifacelink`).
	OpSetIfaceLink = FamilyFailover | 0x0004
	// OpTakeIP (IPAssignment) tells the new holder to take an address:
	// run takeip, announce it, tickle its clients. Leader only.
	OpTakeIP = FamilyFailover | 0x0005
	// OpReleaseIP (IPAssignment, PNN = the new holder) tells a node to
	// give an address up if it has it and to remember the new holder.
	// Leader only.
	OpReleaseIP = FamilyFailover | 0x0006
	// OpIPReallocated (U64: the leader's term) ends a takeover run: every
	// active node runs the ipreallocated event.
	OpIPReallocated = FamilyFailover | 0x0007
	// OpAddPublicIP (PublicAddress) adds an address to the node's
	// configuration (`ctdb addip`).
	OpAddPublicIP = FamilyFailover | 0x0008
	// OpDelPublicIP (IPAddr) removes an address from the node's
	// configuration (`ctdb delip`); a hosted address goes at the next
	// takeover run.
	OpDelPublicIP = FamilyFailover | 0x0009
	// OpReloadIPs makes the node re-read its public_addresses file
	// (`ctdb reloadips`).
	OpReloadIPs = FamilyFailover | 0x000A
	// OpTakeoverRun (TakeoverRequest) asks for a takeover run. Sent to any
	// node's failover service it is passed on to the leader; the reply
	// comes when a run that started after the request has finished
	// (`ctdb ipreallocate`).
	OpTakeoverRun = FamilyFailover | 0x000B
	// OpMoveIP (IPAssignment) moves one address to node PNN: released
	// everywhere else, then taken there (`ctdb moveip`).
	OpMoveIP = FamilyFailover | 0x000C
	// OpGetTickles (IPAddrPort; port 0 for all) answers with TickleList:
	// the client connections recorded for a public address.
	OpGetTickles = FamilyFailover | 0x000D
	// OpAddTickle (TCPConnection) records a client connection to a
	// public address (`ctdb addtickle`, smbd).
	OpAddTickle = FamilyFailover | 0x000E
	// OpDelTickle (TCPConnection) forgets one (`ctdb deltickle`).
	OpDelTickle = FamilyFailover | 0x000F
	// OpSetTickles (TickleList) is the holder of an address sharing its
	// connection list with the other nodes. One-way.
	OpSetTickles = FamilyFailover | 0x0010
	// OpSendGratArp (AddrIface) announces an address on an interface
	// (`ctdb gratarp`).
	OpSendGratArp = FamilyFailover | 0x0011
	// OpSendTickle (TCPConnection) sends one tickle ACK from the server
	// side to the client (`ctdb tickle`).
	OpSendTickle = FamilyFailover | 0x0012
	// OpEvacuate (U32: milliseconds) asks the local failover service to
	// stop hosting addresses and wait up to that long until other nodes
	// have taken them, before the daemon shuts down.
	OpEvacuate = FamilyFailover | 0x0013
)

var failoverOpcodeNames = map[Opcode]string{
	OpGetPublicIPs:    "get_public_ips",
	OpGetPublicIPInfo: "get_public_ip_info",
	OpGetIfaces:       "get_ifaces",
	OpSetIfaceLink:    "set_iface_link_state",
	OpTakeIP:          "takeover_ip",
	OpReleaseIP:       "release_ip",
	OpIPReallocated:   "ipreallocated",
	OpAddPublicIP:     "add_public_ip",
	OpDelPublicIP:     "del_public_ip",
	OpReloadIPs:       "reload_public_ips",
	OpTakeoverRun:     "takeover_run",
	OpMoveIP:          "move_ip",
	OpGetTickles:      "get_tcp_tickle_list",
	OpAddTickle:       "tcp_add",
	OpDelTickle:       "tcp_remove",
	OpSetTickles:      "set_tcp_tickle_list",
	OpSendGratArp:     "send_gratuitous_arp",
	OpSendTickle:      "send_tickle",
	OpEvacuate:        "evacuate",
}

// MaxIfaceName bounds interface names (Linux allows 15 bytes; CTDB 16).
const MaxIfaceName = 16

// Address families on the wire.
const (
	addrNone uint8 = 0
	addrV4   uint8 = 4
	addrV6   uint8 = 6
)

// AppendAddr appends an IP address: a family byte (0 for none, 4, 6)
// followed by 0, 4 or 16 address bytes. Zones are not carried.
func AppendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, addrNone)
	case a.Is4():
		v := a.As4()
		return append(append(b, addrV4), v[:]...)
	default:
		v := a.As16()
		return append(append(b, addrV6), v[:]...)
	}
}

// Addr reads an address written by AppendAddr.
func (d *Decoder) Addr() netip.Addr {
	switch fam := d.U8(); fam {
	case addrNone:
		return netip.Addr{}
	case addrV4:
		p := d.take(4)
		if p == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(p))
	case addrV6:
		p := d.take(16)
		if p == nil {
			return netip.Addr{}
		}
		return netip.AddrFrom16([16]byte(p))
	default:
		d.Fail(fmt.Errorf("%w: address family %d", ErrMalformed, fam))
		return netip.Addr{}
	}
}

// AppendAddrPort appends an address and a port.
func AppendAddrPort(b []byte, ap netip.AddrPort) []byte {
	b = AppendAddr(b, ap.Addr())
	return AppendU16(b, ap.Port())
}

// AddrPort reads what AppendAddrPort wrote.
func (d *Decoder) AddrPort() netip.AddrPort {
	a := d.Addr()
	p := d.U16()
	if !a.IsValid() {
		if p != 0 {
			d.Fail(fmt.Errorf("%w: port %d without an address", ErrMalformed, p))
		}
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, p)
}

// requireAddr fails d when a is not a valid address.
func requireAddr(d *Decoder, a netip.Addr, what string) {
	if d.Err() == nil && !a.IsValid() {
		d.Fail(fmt.Errorf("%w: %s without an address", ErrMalformed, what))
	}
}

func checkBits(d *Decoder, a netip.Addr, bits uint8) {
	if d.Err() == nil && a.IsValid() && int(bits) > a.BitLen() {
		d.Fail(fmt.Errorf("%w: /%d on %s", ErrMalformed, bits, a))
	}
}

// IPAddr carries one address.
type IPAddr struct {
	Addr netip.Addr
}

// AppendTo encodes a.
func (a *IPAddr) AppendTo(b []byte) []byte { return AppendAddr(b, a.Addr) }

// DecodeFrom decodes a; the address must be valid.
func (a *IPAddr) DecodeFrom(d *Decoder) {
	a.Addr = d.Addr()
	requireAddr(d, a.Addr, "ip")
}

// IPAddrPort carries an address and a port (gettickles: port 0 for any).
type IPAddrPort struct {
	Addr netip.Addr
	Port uint16
}

// AppendTo encodes a.
func (a *IPAddrPort) AppendTo(b []byte) []byte {
	return AppendU16(AppendAddr(b, a.Addr), a.Port)
}

// DecodeFrom decodes a; the address must be valid.
func (a *IPAddrPort) DecodeFrom(d *Decoder) {
	a.Addr = d.Addr()
	a.Port = d.U16()
	requireAddr(d, a.Addr, "ip")
}

// PublicIP is one public address as one node knows it.
type PublicIP struct {
	Addr netip.Addr
	// Bits is the netmask length configured with the address.
	Bits uint8
	// PNN is the node this node believes hosts the address, PNNUnknown
	// when none.
	PNN uint32
	// Available is true when this node could host the address now: it is
	// configured here, one of its interfaces is up and it is not being
	// deleted.
	Available bool
}

// AppendTo encodes p.
func (p *PublicIP) AppendTo(b []byte) []byte {
	b = AppendAddr(b, p.Addr)
	b = AppendU8(b, p.Bits)
	b = AppendU32(b, p.PNN)
	return AppendBool(b, p.Available)
}

// DecodeFrom decodes p.
func (p *PublicIP) DecodeFrom(d *Decoder) {
	p.Addr = d.Addr()
	p.Bits = d.U8()
	p.PNN = d.U32()
	p.Available = d.Bool()
	requireAddr(d, p.Addr, "public ip")
	checkBits(d, p.Addr, p.Bits)
}

// PublicIPList answers OpGetPublicIPs.
type PublicIPList struct {
	// CanHost is false when the node may not host any address right now
	// whatever its flags say: it has not reached RUNNING, is shutting
	// down, or has failover disabled.
	CanHost bool
	IPs     []PublicIP
}

// AppendTo encodes l.
func (l *PublicIPList) AppendTo(b []byte) []byte {
	b = AppendBool(b, l.CanHost)
	b = AppendU32(b, uint32(len(l.IPs)))
	for i := range l.IPs {
		b = l.IPs[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes l.
func (l *PublicIPList) DecodeFrom(d *Decoder) {
	l.CanHost = d.Bool()
	n := d.Count(11)
	l.IPs = make([]PublicIP, n)
	for i := range l.IPs {
		l.IPs[i].DecodeFrom(d)
	}
}

// Iface is one interface public addresses may live on.
type Iface struct {
	Name   string
	LinkUp bool
	// References counts the public addresses this node hosts on it.
	References uint32
}

// AppendTo encodes i.
func (i *Iface) AppendTo(b []byte) []byte {
	b = AppendString(b, i.Name)
	b = AppendBool(b, i.LinkUp)
	return AppendU32(b, i.References)
}

// DecodeFrom decodes i.
func (i *Iface) DecodeFrom(d *Decoder) {
	i.Name = d.String(MaxIfaceName)
	i.LinkUp = d.Bool()
	i.References = d.U32()
	if d.Err() == nil && i.Name == "" {
		d.Fail(fmt.Errorf("%w: empty interface name", ErrMalformed))
	}
}

func appendIfaces(b []byte, ifaces []Iface) []byte {
	b = AppendU32(b, uint32(len(ifaces)))
	for i := range ifaces {
		b = ifaces[i].AppendTo(b)
	}
	return b
}

func decodeIfaces(d *Decoder) []Iface {
	n := d.Count(9)
	out := make([]Iface, n)
	for i := range out {
		out[i].DecodeFrom(d)
	}
	return out
}

// IfaceList answers OpGetIfaces, in name order.
type IfaceList struct {
	Ifaces []Iface
}

// AppendTo encodes l.
func (l *IfaceList) AppendTo(b []byte) []byte { return appendIfaces(b, l.Ifaces) }

// DecodeFrom decodes l.
func (l *IfaceList) DecodeFrom(d *Decoder) { l.Ifaces = decodeIfaces(d) }

// NoActiveIface is PublicIPInfo.Active for an address not hosted here.
const NoActiveIface uint32 = 0xFFFFFFFF

// PublicIPInfo answers OpGetPublicIPInfo.
type PublicIPInfo struct {
	IP PublicIP
	// Active indexes Ifaces: the interface the address is on while this
	// node hosts it, NoActiveIface otherwise.
	Active uint32
	// Ifaces are the interfaces configured for the address, in the
	// order of public_addresses.
	Ifaces []Iface
}

// AppendTo encodes p.
func (p *PublicIPInfo) AppendTo(b []byte) []byte {
	b = p.IP.AppendTo(b)
	b = AppendU32(b, p.Active)
	return appendIfaces(b, p.Ifaces)
}

// DecodeFrom decodes p.
func (p *PublicIPInfo) DecodeFrom(d *Decoder) {
	p.IP.DecodeFrom(d)
	p.Active = d.U32()
	p.Ifaces = decodeIfaces(d)
	if d.Err() == nil && p.Active != NoActiveIface && int64(p.Active) >= int64(len(p.Ifaces)) {
		d.Fail(fmt.Errorf("%w: active interface %d of %d", ErrMalformed, p.Active, len(p.Ifaces)))
	}
}

// IfaceLink sets an interface's link state.
type IfaceLink struct {
	Name string
	Up   bool
}

// AppendTo encodes l.
func (l *IfaceLink) AppendTo(b []byte) []byte {
	return AppendBool(AppendString(b, l.Name), l.Up)
}

// DecodeFrom decodes l.
func (l *IfaceLink) DecodeFrom(d *Decoder) {
	l.Name = d.String(MaxIfaceName)
	l.Up = d.Bool()
}

// IPAssignment names an address and a node: the node to take it (take,
// move) or the node that now holds it (release). Term is the leader's
// term, 0 when not sent by a leader.
type IPAssignment struct {
	Addr netip.Addr
	PNN  uint32
	Term uint64
}

// AppendTo encodes a.
func (a *IPAssignment) AppendTo(b []byte) []byte {
	b = AppendAddr(b, a.Addr)
	b = AppendU32(b, a.PNN)
	return AppendU64(b, a.Term)
}

// DecodeFrom decodes a.
func (a *IPAssignment) DecodeFrom(d *Decoder) {
	a.Addr = d.Addr()
	a.PNN = d.U32()
	a.Term = d.U64()
	requireAddr(d, a.Addr, "assignment")
}

// PublicAddress is one line of public_addresses: an address with its
// netmask length and the interfaces it may live on.
type PublicAddress struct {
	Addr   netip.Addr
	Bits   uint8
	Ifaces []string
}

// AppendTo encodes p.
func (p *PublicAddress) AppendTo(b []byte) []byte {
	b = AppendAddr(b, p.Addr)
	b = AppendU8(b, p.Bits)
	b = AppendU32(b, uint32(len(p.Ifaces)))
	for _, i := range p.Ifaces {
		b = AppendString(b, i)
	}
	return b
}

// DecodeFrom decodes p; it needs an address and at least one interface.
func (p *PublicAddress) DecodeFrom(d *Decoder) {
	p.Addr = d.Addr()
	p.Bits = d.U8()
	n := d.Count(5)
	p.Ifaces = make([]string, 0, n)
	for i := 0; i < n; i++ {
		p.Ifaces = append(p.Ifaces, d.String(MaxIfaceName))
	}
	requireAddr(d, p.Addr, "public address")
	checkBits(d, p.Addr, p.Bits)
	if d.Err() == nil && len(p.Ifaces) == 0 {
		d.Fail(fmt.Errorf("%w: public address %s without interfaces", ErrMalformed, p.Addr))
	}
}

// TakeoverRequest asks for a takeover run.
type TakeoverRequest struct {
	// From is the node that asked first (for the log).
	From uint32
	// Rebalance names nodes LCP2 may move addresses onto although they
	// already host some, for example after `ctdb addip` on them.
	Rebalance []uint32
}

// AppendTo encodes r.
func (r *TakeoverRequest) AppendTo(b []byte) []byte {
	b = AppendU32(b, r.From)
	b = AppendU32(b, uint32(len(r.Rebalance)))
	for _, p := range r.Rebalance {
		b = AppendU32(b, p)
	}
	return b
}

// DecodeFrom decodes r.
func (r *TakeoverRequest) DecodeFrom(d *Decoder) {
	r.From = d.U32()
	n := d.Count(4)
	r.Rebalance = make([]uint32, n)
	for i := range r.Rebalance {
		r.Rebalance[i] = d.U32()
	}
}

// TCPConnection is a client's connection to a public address: CTDB's
// "src" is the client and "dst" the server.
type TCPConnection struct {
	Client netip.AddrPort
	Server netip.AddrPort
}

// AppendTo encodes c.
func (c *TCPConnection) AppendTo(b []byte) []byte {
	b = AppendAddrPort(b, c.Client)
	return AppendAddrPort(b, c.Server)
}

// DecodeFrom decodes c; both ends must be addresses.
func (c *TCPConnection) DecodeFrom(d *Decoder) {
	c.Client = d.AddrPort()
	c.Server = d.AddrPort()
	requireAddr(d, c.Client.Addr(), "connection client")
	requireAddr(d, c.Server.Addr(), "connection server")
}

// TickleList is the client connections recorded for one public address.
type TickleList struct {
	Addr  netip.Addr
	Conns []TCPConnection
}

// AppendTo encodes l.
func (l *TickleList) AppendTo(b []byte) []byte {
	b = AppendAddr(b, l.Addr)
	b = AppendU32(b, uint32(len(l.Conns)))
	for i := range l.Conns {
		b = l.Conns[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes l.
func (l *TickleList) DecodeFrom(d *Decoder) {
	l.Addr = d.Addr()
	n := d.Count(14)
	l.Conns = make([]TCPConnection, n)
	for i := range l.Conns {
		l.Conns[i].DecodeFrom(d)
	}
	requireAddr(d, l.Addr, "tickle list")
}

// AddrIface is an address on an interface (gratarp).
type AddrIface struct {
	Addr  netip.Addr
	Iface string
}

// AppendTo encodes a.
func (a *AddrIface) AppendTo(b []byte) []byte {
	return AppendString(AppendAddr(b, a.Addr), a.Iface)
}

// DecodeFrom decodes a.
func (a *AddrIface) DecodeFrom(d *Decoder) {
	a.Addr = d.Addr()
	a.Iface = d.String(MaxIfaceName)
	requireAddr(d, a.Addr, "gratarp")
}
