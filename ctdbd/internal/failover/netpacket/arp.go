package netpacket

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

const (
	arpLen = 28
	// arpFrameLen is what CTDB sends: the 42-byte frame zero-padded to 64.
	arpFrameLen = 64
)

// ARP is a decoded Ethernet/IPv4 ARP packet.
type ARP struct {
	Op       uint16
	SenderHW net.HardwareAddr
	SenderIP netip.Addr
	TargetHW net.HardwareAddr
	TargetIP netip.Addr
}

// GratuitousARP returns the broadcast frame that announces ip at hw. The
// request form asks for ip with ip as the sender (target hardware address
// zero); the reply form answers it unasked (target hardware address hw).
// CTDB sends both, request first, because hosts differ in which one they
// honour.
func GratuitousARP(hw net.HardwareAddr, ip netip.Addr, reply bool) ([]byte, error) {
	if len(hw) != 6 {
		return nil, ErrBadHWAddr
	}
	if !ip.Is4() {
		return nil, ErrBadAddr
	}
	b := make([]byte, arpFrameLen)
	putEtherHeader(b, broadcastHWAddr, hw, EtherTypeARP)
	a := b[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:], 1) // hardware type: Ethernet
	binary.BigEndian.PutUint16(a[2:], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	op := uint16(ARPRequest)
	if reply {
		op = ARPReply
	}
	binary.BigEndian.PutUint16(a[6:], op)
	ip4 := ip.As4()
	copy(a[8:14], hw)
	copy(a[14:18], ip4[:])
	if reply {
		copy(a[18:24], hw)
	}
	copy(a[24:28], ip4[:])
	return b, nil
}

// ParseARP decodes an Ethernet frame carrying an Ethernet/IPv4 ARP packet.
func ParseARP(frame []byte) (ARP, error) {
	etype, p, err := etherPayload(frame)
	if err != nil {
		return ARP{}, err
	}
	if etype != EtherTypeARP {
		return ARP{}, ErrNotARP
	}
	if len(p) < arpLen {
		return ARP{}, ErrShort
	}
	if binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != EtherTypeIPv4 || p[4] != 6 || p[5] != 4 {
		return ARP{}, ErrNotARP
	}
	return ARP{
		Op:       binary.BigEndian.Uint16(p[6:]),
		SenderHW: net.HardwareAddr(append([]byte(nil), p[8:14]...)),
		SenderIP: netip.AddrFrom4([4]byte(p[14:18])),
		TargetHW: net.HardwareAddr(append([]byte(nil), p[18:24]...)),
		TargetIP: netip.AddrFrom4([4]byte(p[24:28])),
	}, nil
}
