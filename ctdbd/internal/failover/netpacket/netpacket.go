// Package netpacket builds and parses the few packets failover sends and
// captures: gratuitous ARP, unsolicited IPv6 neighbour advertisements and
// bare TCP segments (tickle ACKs and resets), byte for byte as CTDB sends
// them. It does no I/O; decoders reject short or inconsistent input.
package netpacket

import (
	"encoding/binary"
	"errors"
	"net"
)

// EtherTypes used here.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
)

const (
	ethHeaderLen  = 14
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	protoTCP      = 6
	protoICMPv6   = 58
)

// Errors returned by the decoders.
var (
	ErrShort       = errors.New("netpacket: packet too short")
	ErrNotARP      = errors.New("netpacket: not an Ethernet/IPv4 ARP packet")
	ErrNotTCP      = errors.New("netpacket: not a TCP segment")
	ErrNotNA       = errors.New("netpacket: not a neighbour advertisement")
	ErrChecksum    = errors.New("netpacket: bad checksum")
	ErrBadHeader   = errors.New("netpacket: inconsistent header")
	ErrBadHWAddr   = errors.New("netpacket: hardware address is not 6-byte Ethernet")
	ErrBadAddr     = errors.New("netpacket: address of the wrong family")
	ErrMixedFamily = errors.New("netpacket: source and destination differ in family")
)

var broadcastHWAddr = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// checksum is the Internet checksum (RFC 1071) of the concatenated parts.
// Parts of odd length are only allowed last.
func checksum(parts ...[]byte) uint16 {
	var sum uint32
	for _, p := range parts {
		for len(p) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(p))
			p = p[2:]
		}
		if len(p) == 1 {
			sum += uint32(p[0]) << 8
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// transportChecksum is the checksum of a TCP or ICMPv6 message. Like CTDB
// it sends a computed zero as 0xffff, its equivalent in ones' complement.
func transportChecksum(parts ...[]byte) uint16 {
	if c := checksum(parts...); c != 0 {
		return c
	}
	return 0xffff
}

// pseudoHeader4 is the IPv4 pseudo header for a transport checksum.
func pseudoHeader4(src, dst [4]byte, proto uint8, length int) []byte {
	b := make([]byte, 12)
	copy(b[0:4], src[:])
	copy(b[4:8], dst[:])
	b[9] = proto
	binary.BigEndian.PutUint16(b[10:], uint16(length))
	return b
}

// pseudoHeader6 is the IPv6 pseudo header for a transport checksum.
func pseudoHeader6(src, dst [16]byte, proto uint8, length int) []byte {
	b := make([]byte, 40)
	copy(b[0:16], src[:])
	copy(b[16:32], dst[:])
	binary.BigEndian.PutUint32(b[32:], uint32(length))
	b[39] = proto
	return b
}

// etherPayload strips the Ethernet header (and one 802.1Q tag) and
// returns the EtherType and payload.
func etherPayload(frame []byte) (uint16, []byte, error) {
	if len(frame) < ethHeaderLen {
		return 0, nil, ErrShort
	}
	etype := binary.BigEndian.Uint16(frame[12:])
	payload := frame[ethHeaderLen:]
	if etype == etherTypeVLAN {
		if len(payload) < 4 {
			return 0, nil, ErrShort
		}
		etype = binary.BigEndian.Uint16(payload[2:])
		payload = payload[4:]
	}
	return etype, payload, nil
}

func putEtherHeader(b []byte, dst, src net.HardwareAddr, etype uint16) {
	copy(b[0:6], dst)
	copy(b[6:12], src)
	binary.BigEndian.PutUint16(b[12:], etype)
}
