package netpacket

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TCP flags.
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
)

// TickleWindow is the window CTDB puts in the segments it forges, which
// makes them easy to spot in a capture (and to skip when capturing).
const TickleWindow = 1234

// TCPSegment is a TCP header without options or payload, with the
// addresses from the IP header around it.
type TCPSegment struct {
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	Window   uint16
}

// Marshal returns the IP packet (IPv4 or IPv6 header followed by the TCP
// header) with both checksums set. IPv4 packets get TTL 255 and IPv6
// packets hop limit 64, as CTDB's. A connection between two IPv4-mapped
// IPv6 addresses (an IPv4 client of a dual-stack socket) is sent as IPv4.
func (s TCPSegment) Marshal() ([]byte, error) {
	src, dst := s.Src.Addr(), s.Dst.Addr()
	if !src.IsValid() || !dst.IsValid() {
		return nil, ErrBadAddr
	}
	if src.Is4In6() && dst.Is4In6() {
		src, dst = src.Unmap(), dst.Unmap()
	}
	if src.Is4() != dst.Is4() {
		return nil, ErrMixedFamily
	}
	if src.Is4() {
		b := make([]byte, ipv4HeaderLen+tcpHeaderLen)
		s4, d4 := src.As4(), dst.As4()
		b[0] = 4<<4 | ipv4HeaderLen/4
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[8] = 255
		b[9] = protoTCP
		copy(b[12:16], s4[:])
		copy(b[16:20], d4[:])
		binary.BigEndian.PutUint16(b[10:], checksum(b[:ipv4HeaderLen]))
		s.putTCP(b[ipv4HeaderLen:], pseudoHeader4(s4, d4, protoTCP, tcpHeaderLen))
		return b, nil
	}
	b := make([]byte, ipv6HeaderLen+tcpHeaderLen)
	s16, d16 := src.As16(), dst.As16()
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:], tcpHeaderLen)
	b[6] = protoTCP
	b[7] = 64
	copy(b[8:24], s16[:])
	copy(b[24:40], d16[:])
	s.putTCP(b[ipv6HeaderLen:], pseudoHeader6(s16, d16, protoTCP, tcpHeaderLen))
	return b, nil
}

func (s TCPSegment) putTCP(t, pseudo []byte) {
	binary.BigEndian.PutUint16(t[0:], s.Src.Port())
	binary.BigEndian.PutUint16(t[2:], s.Dst.Port())
	binary.BigEndian.PutUint32(t[4:], s.Seq)
	binary.BigEndian.PutUint32(t[8:], s.Ack)
	t[12] = tcpHeaderLen / 4 << 4
	t[13] = s.Flags
	binary.BigEndian.PutUint16(t[14:], s.Window)
	binary.BigEndian.PutUint16(t[16:], transportChecksum(pseudo, t[:tcpHeaderLen]))
}

// String formats the segment for logs.
func (s TCPSegment) String() string {
	return fmt.Sprintf("%s -> %s seq=%d ack=%d flags=%#02x win=%d", s.Src, s.Dst, s.Seq, s.Ack, s.Flags, s.Window)
}

// ParseFrameTCP decodes the TCP header of a captured Ethernet frame. Like
// CTDB it reads only the fixed header, so a capture length of 128 bytes
// is plenty, and it does not verify checksums (the kernel verifies what it
// accepts; forged segments here are only used to read sequence numbers).
func ParseFrameTCP(frame []byte) (TCPSegment, error) {
	etype, p, err := etherPayload(frame)
	if err != nil {
		return TCPSegment{}, err
	}
	switch etype {
	case EtherTypeIPv4, EtherTypeIPv6:
		return ParseIPTCP(p)
	}
	return TCPSegment{}, ErrNotTCP
}

// ParseIPTCP decodes the TCP header of an IPv4 or IPv6 packet. IPv6
// extension headers are not followed: such packets are reported as not
// TCP. Non-first IPv4 fragments are not TCP headers either.
func ParseIPTCP(p []byte) (TCPSegment, error) {
	if len(p) < 1 {
		return TCPSegment{}, ErrShort
	}
	var src, dst netip.Addr
	var t []byte
	switch p[0] >> 4 {
	case 4:
		if len(p) < ipv4HeaderLen {
			return TCPSegment{}, ErrShort
		}
		ihl := int(p[0]&0x0f) * 4
		if ihl < ipv4HeaderLen || len(p) < ihl {
			return TCPSegment{}, ErrBadHeader
		}
		if p[9] != protoTCP || binary.BigEndian.Uint16(p[6:])&0x1fff != 0 {
			return TCPSegment{}, ErrNotTCP
		}
		src, dst = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		t = p[ihl:]
	case 6:
		if len(p) < ipv6HeaderLen {
			return TCPSegment{}, ErrShort
		}
		if p[6] != protoTCP {
			return TCPSegment{}, ErrNotTCP
		}
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		t = p[ipv6HeaderLen:]
	default:
		return TCPSegment{}, ErrBadHeader
	}
	if len(t) < tcpHeaderLen {
		return TCPSegment{}, ErrShort
	}
	return TCPSegment{
		Src:    netip.AddrPortFrom(src, binary.BigEndian.Uint16(t[0:])),
		Dst:    netip.AddrPortFrom(dst, binary.BigEndian.Uint16(t[2:])),
		Seq:    binary.BigEndian.Uint32(t[4:]),
		Ack:    binary.BigEndian.Uint32(t[8:]),
		Flags:  t[13],
		Window: binary.BigEndian.Uint16(t[14:]),
	}, nil
}
