package netpacket

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Neighbour advertisement flags (RFC 4861 4.4).
const (
	NAFlagRouter    = 0x80
	NAFlagSolicited = 0x40
	NAFlagOverride  = 0x20
)

const (
	icmpv6TypeNA      = 136
	naLen             = 24
	naOptTargetLLAddr = 2
	naMsgLen          = naLen + 8
	naFrameLen        = ethHeaderLen + ipv6HeaderLen + naMsgLen
)

var allNodes = netip.MustParseAddr("ff02::1")

// NeighborAdvert is a decoded neighbour advertisement.
type NeighborAdvert struct {
	Src, Dst netip.Addr
	HopLimit uint8
	Flags    uint8
	Target   netip.Addr
	// TargetHW is the target link-layer address option, if present.
	TargetHW net.HardwareAddr
}

// UnsolicitedNA returns the Ethernet frame that announces ip at hw to all
// nodes (ff02::1), from ip itself, with the override flag set and the
// target link-layer address option, as CTDB sends it.
func UnsolicitedNA(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if len(hw) != 6 {
		return nil, ErrBadHWAddr
	}
	if !ip.Is6() || ip.Is4In6() {
		return nil, ErrBadAddr
	}
	b := make([]byte, naFrameLen)
	putEtherHeader(b, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, hw, EtherTypeIPv6)
	src, dst := ip.As16(), allNodes.As16()
	ip6 := b[ethHeaderLen:]
	ip6[0] = 6 << 4
	binary.BigEndian.PutUint16(ip6[4:], naMsgLen)
	ip6[6] = protoICMPv6
	ip6[7] = 255 // hop limit 255 is mandatory for neighbour discovery
	copy(ip6[8:24], src[:])
	copy(ip6[24:40], dst[:])

	na := ip6[ipv6HeaderLen:]
	na[0] = icmpv6TypeNA
	na[4] = NAFlagOverride
	copy(na[8:24], src[:])
	na[24] = naOptTargetLLAddr
	na[25] = 1 // option length in units of 8 bytes
	copy(na[26:32], hw)
	binary.BigEndian.PutUint16(na[2:], transportChecksum(pseudoHeader6(src, dst, protoICMPv6, naMsgLen), na))
	return b, nil
}

// ParseNA decodes an Ethernet frame carrying an IPv6 neighbour
// advertisement and verifies its checksum.
func ParseNA(frame []byte) (NeighborAdvert, error) {
	etype, p, err := etherPayload(frame)
	if err != nil {
		return NeighborAdvert{}, err
	}
	if etype != EtherTypeIPv6 {
		return NeighborAdvert{}, ErrNotNA
	}
	if len(p) < ipv6HeaderLen {
		return NeighborAdvert{}, ErrShort
	}
	if p[0]>>4 != 6 {
		return NeighborAdvert{}, ErrBadHeader
	}
	if p[6] != protoICMPv6 {
		return NeighborAdvert{}, ErrNotNA
	}
	plen := int(binary.BigEndian.Uint16(p[4:]))
	if len(p) < ipv6HeaderLen+plen {
		return NeighborAdvert{}, ErrShort
	}
	msg := p[ipv6HeaderLen : ipv6HeaderLen+plen]
	if len(msg) < naLen || msg[0] != icmpv6TypeNA {
		return NeighborAdvert{}, ErrNotNA
	}
	src, dst := [16]byte(p[8:24]), [16]byte(p[24:40])
	if checksum(pseudoHeader6(src, dst, protoICMPv6, plen), msg) != 0 {
		return NeighborAdvert{}, ErrChecksum
	}
	na := NeighborAdvert{
		Src:      netip.AddrFrom16(src),
		Dst:      netip.AddrFrom16(dst),
		HopLimit: p[7],
		Flags:    msg[4],
		Target:   netip.AddrFrom16([16]byte(msg[8:24])),
	}
	for opts := msg[naLen:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || len(opts) < int(opts[1])*8 {
			return NeighborAdvert{}, ErrBadHeader
		}
		if opts[0] == naOptTargetLLAddr && opts[1] == 1 {
			na.TargetHW = net.HardwareAddr(append([]byte(nil), opts[2:8]...))
		}
		opts = opts[int(opts[1])*8:]
	}
	return na, nil
}
