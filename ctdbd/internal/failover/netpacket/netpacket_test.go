package netpacket

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var hw = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}

// unhex decodes hex written with spaces, newlines and "|" separators.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// sum16 is a plain re-implementation of the Internet checksum sum, kept
// apart from the code under test: a packet with a correct checksum sums
// to 0xffff.
func sum16(parts ...[]byte) uint16 {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint64
	for i := 0; i < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestGratuitousARPGolden(t *testing.T) {
	ip := netip.MustParseAddr("198.18.0.10")
	pad := strings.Repeat("00", 22)
	tests := []struct {
		reply bool
		want  string
	}{
		{false, `ffffffffffff 020000000001 0806 | 0001 0800 06 04 0001 |
			020000000001 c612000a | 000000000000 c612000a |` + pad},
		{true, `ffffffffffff 020000000001 0806 | 0001 0800 06 04 0002 |
			020000000001 c612000a | 020000000001 c612000a |` + pad},
	}
	for _, tc := range tests {
		got, err := GratuitousARP(hw, ip, tc.reply)
		require.NoError(t, err)
		assert.Equal(t, unhex(t, tc.want), got, "reply=%v", tc.reply)

		a, err := ParseARP(got)
		require.NoError(t, err)
		assert.Equal(t, ip, a.SenderIP)
		assert.Equal(t, ip, a.TargetIP)
		assert.Equal(t, hw, a.SenderHW)
	}

	_, err := GratuitousARP(hw, netip.MustParseAddr("2001:db8::1"), false)
	assert.ErrorIs(t, err, ErrBadAddr)
	_, err = GratuitousARP(net.HardwareAddr{1, 2, 3}, ip, false)
	assert.ErrorIs(t, err, ErrBadHWAddr)
}

func TestUnsolicitedNAGolden(t *testing.T) {
	ip := netip.MustParseAddr("2001:db8::a")
	got, err := UnsolicitedNA(hw, ip)
	require.NoError(t, err)
	want := unhex(t, `333300000001 020000000001 86dd |
		60000000 0020 3a ff | 20010db800000000000000000000000a | ff020000000000000000000000000001 |
		88 00 f918 | 20000000 | 20010db800000000000000000000000a | 02 01 020000000001`)
	assert.Equal(t, want, got)

	// The checksum agrees with x/net/icmp's, computed independently.
	body := got[ethHeaderLen+ipv6HeaderLen:]
	msg := icmp.Message{Type: ipv6.ICMPTypeNeighborAdvertisement, Body: &icmp.RawBody{Data: body[4:]}}
	ref, err := msg.Marshal(icmp.IPv6PseudoHeader(ip.AsSlice(), allNodes.AsSlice()))
	require.NoError(t, err)
	assert.Equal(t, ref, body)

	na, err := ParseNA(got)
	require.NoError(t, err)
	assert.Equal(t, NeighborAdvert{
		Src: ip, Dst: allNodes, HopLimit: 255, Flags: NAFlagOverride, Target: ip, TargetHW: hw,
	}, na)

	got[len(got)-1] ^= 1
	_, err = ParseNA(got)
	assert.ErrorIs(t, err, ErrChecksum)

	for _, bad := range []string{"198.18.0.10", "::ffff:198.18.0.10"} {
		_, err = UnsolicitedNA(hw, netip.MustParseAddr(bad))
		assert.ErrorIs(t, err, ErrBadAddr, bad)
	}
}

func TestTCPSegmentGolden(t *testing.T) {
	tests := []struct {
		name string
		seg  TCPSegment
		want string
	}{
		{
			name: "IPv4 tickle ACK",
			seg: TCPSegment{
				Src: netip.MustParseAddrPort("198.18.0.1:445"), Dst: netip.MustParseAddrPort("198.18.0.2:40000"),
				Flags: TCPFlagACK, Window: TickleWindow,
			},
			want: `45 00 0028 0000 0000 ff 06 2fa8 c6120001 c6120002 |
				01bd 9c40 00000000 00000000 50 10 04d2 80dd 0000`,
		},
		{
			name: "IPv6 tickle ACK",
			seg: TCPSegment{
				Src: netip.MustParseAddrPort("[2001:db8::1]:445"), Dst: netip.MustParseAddrPort("[2001:db8::2]:40000"),
				Flags: TCPFlagACK, Window: TickleWindow,
			},
			want: `60000000 0014 06 40 20010db8000000000000000000000001 20010db8000000000000000000000002 |
				01bd 9c40 00000000 00000000 50 10 04d2 b190 0000`,
		},
		{
			name: "IPv4-mapped addresses go out as IPv4",
			seg: TCPSegment{
				Src: netip.MustParseAddrPort("[::ffff:198.18.0.1]:445"), Dst: netip.MustParseAddrPort("[::ffff:198.18.0.2]:40000"),
				Flags: TCPFlagACK, Window: TickleWindow,
			},
			want: `45 00 0028 0000 0000 ff 06 2fa8 c6120001 c6120002 |
				01bd 9c40 00000000 00000000 50 10 04d2 80dd 0000`,
		},
	}
	for _, tc := range tests {
		got, err := tc.seg.Marshal()
		require.NoError(t, err, tc.name)
		assert.Equal(t, unhex(t, tc.want), got, tc.name)
	}
}

// Checksums of arbitrary segments verify with an independent sum.
func TestTCPSegmentChecksums(t *testing.T) {
	segs := []TCPSegment{
		{Src: netip.MustParseAddrPort("198.18.0.1:445"), Dst: netip.MustParseAddrPort("198.18.0.2:40000"),
			Seq: 0xdeadbeef, Ack: 0x01020304, Flags: TCPFlagACK | TCPFlagRST, Window: TickleWindow},
		{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.2:65535"),
			Seq: 1, Ack: 0xffffffff, Flags: TCPFlagRST},
		{Src: netip.MustParseAddrPort("[fe80::1]:445"), Dst: netip.MustParseAddrPort("[fe80::2]:1024"),
			Seq: 7, Ack: 9, Flags: TCPFlagACK | TCPFlagRST, Window: TickleWindow},
		{Src: netip.MustParseAddrPort("[::1]:5000"), Dst: netip.MustParseAddrPort("[::1]:6000"), Seq: 0x80000000},
	}
	for _, s := range segs {
		b, err := s.Marshal()
		require.NoError(t, err)
		if s.Src.Addr().Is4() {
			assert.Equal(t, uint16(0xffff), sum16(b[:20]), "IPv4 header checksum of %s", s)
			src, dst := s.Src.Addr().As4(), s.Dst.Addr().As4()
			tcp := b[20:]
			assert.Equal(t, uint16(0xffff), sum16(src[:], dst[:], []byte{0, 6, 0, 20}, tcp), "TCP checksum of %s", s)
		} else {
			src, dst := s.Src.Addr().As16(), s.Dst.Addr().As16()
			tcp := b[40:]
			assert.Equal(t, uint16(0xffff), sum16(src[:], dst[:], []byte{0, 0, 0, 20, 0, 0, 0, 6}, tcp), "TCP checksum of %s", s)
		}
		back, err := ParseIPTCP(b)
		require.NoError(t, err)
		want := s
		want.Src = netip.AddrPortFrom(s.Src.Addr().Unmap(), s.Src.Port())
		want.Dst = netip.AddrPortFrom(s.Dst.Addr().Unmap(), s.Dst.Port())
		assert.Equal(t, want, back)
	}
}

func TestTCPSegmentInvalid(t *testing.T) {
	_, err := TCPSegment{Src: netip.MustParseAddrPort("198.18.0.1:1"), Dst: netip.MustParseAddrPort("[::1]:2")}.Marshal()
	assert.ErrorIs(t, err, ErrMixedFamily)
	_, err = TCPSegment{Src: netip.MustParseAddrPort("198.18.0.1:1"), Dst: netip.MustParseAddrPort("[::ffff:198.18.0.2]:2")}.Marshal()
	assert.ErrorIs(t, err, ErrMixedFamily)
	_, err = TCPSegment{Dst: netip.MustParseAddrPort("198.18.0.1:1")}.Marshal()
	assert.ErrorIs(t, err, ErrBadAddr)
}

func ethernet(etype uint16, payload []byte) []byte {
	f := make([]byte, ethHeaderLen, ethHeaderLen+len(payload))
	binary.BigEndian.PutUint16(f[12:], etype)
	return append(f, payload...)
}

func TestParseFrameTCP(t *testing.T) {
	seg := TCPSegment{
		Src: netip.MustParseAddrPort("198.18.0.2:40000"), Dst: netip.MustParseAddrPort("198.18.0.1:445"),
		Seq: 100, Ack: 200, Flags: TCPFlagACK, Window: 501,
	}
	ip, err := seg.Marshal()
	require.NoError(t, err)

	got, err := ParseFrameTCP(ethernet(EtherTypeIPv4, ip))
	require.NoError(t, err)
	assert.Equal(t, seg, got)

	// One VLAN tag is skipped.
	tagged := append([]byte{0, 5, 0x08, 0x00}, ip...)
	got, err = ParseFrameTCP(ethernet(etherTypeVLAN, tagged))
	require.NoError(t, err)
	assert.Equal(t, seg, got)

	// IPv4 header with options.
	withOpts := append(append([]byte{0x46}, ip[1:20]...), 1, 1, 1, 0)
	withOpts = append(withOpts, ip[20:]...)
	got, err = ParseIPTCP(withOpts)
	require.NoError(t, err)
	assert.Equal(t, seg, got)

	frag := append([]byte(nil), ip...)
	frag[7] = 1 // fragment offset 8
	_, err = ParseIPTCP(frag)
	assert.ErrorIs(t, err, ErrNotTCP)

	udp := append([]byte(nil), ip...)
	udp[9] = 17
	_, err = ParseIPTCP(udp)
	assert.ErrorIs(t, err, ErrNotTCP)

	_, err = ParseFrameTCP(ethernet(EtherTypeARP, ip))
	assert.ErrorIs(t, err, ErrNotTCP)
	_, err = ParseFrameTCP(ethernet(EtherTypeIPv4, ip[:30]))
	assert.ErrorIs(t, err, ErrShort)
	_, err = ParseFrameTCP([]byte{1, 2, 3})
	assert.ErrorIs(t, err, ErrShort)
	_, err = ParseIPTCP(append([]byte{0x43}, ip[1:]...))
	assert.ErrorIs(t, err, ErrBadHeader)
}

func FuzzParseFrameTCP(f *testing.F) {
	seg, _ := TCPSegment{Src: netip.MustParseAddrPort("198.18.0.2:40000"), Dst: netip.MustParseAddrPort("198.18.0.1:445"), Flags: TCPFlagACK}.Marshal()
	seg6, _ := TCPSegment{Src: netip.MustParseAddrPort("[::1]:40000"), Dst: netip.MustParseAddrPort("[::1]:445"), Flags: TCPFlagRST}.Marshal()
	f.Add(ethernet(EtherTypeIPv4, seg))
	f.Add(ethernet(EtherTypeIPv6, seg6))
	f.Add(ethernet(etherTypeVLAN, append([]byte{0, 1, 0x86, 0xdd}, seg6...)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		s, err := ParseFrameTCP(frame)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a segment that decodes the same.
		b, err := s.Marshal()
		if err != nil {
			t.Fatalf("marshal %s: %v", s, err)
		}
		want := s
		if s.Src.Addr().Is4In6() && s.Dst.Addr().Is4In6() {
			want.Src = netip.AddrPortFrom(s.Src.Addr().Unmap(), s.Src.Port())
			want.Dst = netip.AddrPortFrom(s.Dst.Addr().Unmap(), s.Dst.Port())
		}
		back, err := ParseIPTCP(b)
		if err != nil || back != want {
			t.Fatalf("round trip %s -> %s (%v)", s, back, err)
		}
	})
}

func FuzzParseARP(f *testing.F) {
	req, _ := GratuitousARP(hw, netip.MustParseAddr("198.18.0.10"), false)
	f.Add(req)
	f.Add(req[:30])
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, err := ParseARP(frame)
		if err != nil {
			return
		}
		if !a.SenderIP.Is4() || len(a.SenderHW) != 6 || len(a.TargetHW) != 6 {
			t.Fatalf("decoded inconsistent ARP %+v", a)
		}
	})
}

func FuzzParseNA(f *testing.F) {
	na, _ := UnsolicitedNA(hw, netip.MustParseAddr("2001:db8::a"))
	f.Add(na)
	f.Add(na[:60])
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, err := ParseNA(frame)
		if err != nil {
			return
		}
		if !a.Target.Is6() || (a.TargetHW != nil && len(a.TargetHW) != 6) {
			t.Fatalf("decoded inconsistent NA %+v", a)
		}
	})
}
