package ipalloc

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// ipKey is an address as four 32-bit words, IPv4 in the last word and
// zeros before it (not the v4-mapped form). CTDB sorts and measures
// addresses in this form, so IPv4 addresses order before IPv6 ones.
type ipKey [4]uint32

func keyOf(a netip.Addr) ipKey {
	var k ipKey
	if a.Is4() {
		b := a.As4()
		k[3] = binary.BigEndian.Uint32(b[:])
		return k
	}
	b := a.As16()
	for i := range k {
		k[i] = binary.BigEndian.Uint32(b[i*4:])
	}
	return k
}

func (k ipKey) compare(o ipKey) int {
	for i := range k {
		switch {
		case k[i] < o[i]:
			return -1
		case k[i] > o[i]:
			return 1
		}
	}
	return 0
}

// distance is LCP2's measure of how close two addresses are. It is meant
// to be the length of their common prefix, but CTDB adds up the leading
// equal bits of every 32-bit word separately instead of stopping at the
// first difference. That quirk shapes every LCP2 placement (it only shows
// for IPv6), so it is kept.
func distance(a, b ipKey) uint32 {
	if a[0]|a[1]|a[2]|b[0]|b[1]|b[2] == 0 {
		// Both IPv4, the common case.
		return 96 + uint32(bits.LeadingZeros32(a[3]^b[3]))
	}
	var d uint32
	for i := range a {
		d += uint32(bits.LeadingZeros32(a[i] ^ b[i]))
	}
	return d
}

// distance2 is the squared distance, the unit of LCP2's imbalance metric.
// It is 64-bit so that large address sets cannot overflow (CTDB's 32-bit
// sums wrap beyond roughly 750 addresses on one node).
func distance2(a, b ipKey) uint64 {
	d := uint64(distance(a, b))
	return d * d
}
