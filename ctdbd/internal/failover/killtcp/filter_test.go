package killtcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"gctdb/ctdbd/internal/failover/netpacket"
)

func frameOf(t *testing.T, src, dst string) []byte {
	t.Helper()
	ip, err := netpacket.TCPSegment{
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Flags: netpacket.TCPFlagACK,
	}.Marshal()
	require.NoError(t, err)
	etype := uint16(netpacket.EtherTypeIPv4)
	if ip[0]>>4 == 6 {
		etype = netpacket.EtherTypeIPv6
	}
	f := make([]byte, 14, 14+len(ip))
	binary.BigEndian.PutUint16(f[12:], etype)
	return append(f, ip...)
}

func accepts(t *testing.T, prog []bpf.Instruction, frame []byte) bool {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	require.NoError(t, err)
	n, err := vm.Run(frame)
	require.NoError(t, err)
	return n > 0
}

func TestCaptureFilter(t *testing.T) {
	prog := captureFilter([]netip.Addr{
		netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.11"),
		netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::11"),
	})
	assert.True(t, accepts(t, prog, frameOf(t, "198.18.0.2:40000", "198.18.0.10:445")))
	assert.True(t, accepts(t, prog, frameOf(t, "198.18.0.2:40000", "198.18.0.11:445")))
	assert.False(t, accepts(t, prog, frameOf(t, "198.18.0.10:445", "198.18.0.2:40000")), "server to client")
	assert.False(t, accepts(t, prog, frameOf(t, "198.18.0.2:40000", "198.18.0.12:445")))
	assert.True(t, accepts(t, prog, frameOf(t, "[2001:db8::2]:40000", "[2001:db8::11]:445")))
	assert.False(t, accepts(t, prog, frameOf(t, "[2001:db8::2]:40000", "[2001:db8::12]:445")))
	assert.False(t, accepts(t, prog, frameOf(t, "[2001:db8::2]:40000", "[2001:db8:1::11]:445")))

	frag := frameOf(t, "198.18.0.2:40000", "198.18.0.10:445")
	frag[14+7] = 1
	assert.False(t, accepts(t, prog, frag), "non-first fragment")
	udp := frameOf(t, "198.18.0.2:40000", "198.18.0.10:445")
	udp[14+9] = 17
	assert.False(t, accepts(t, prog, udp), "UDP")
	arp, err := netpacket.GratuitousARP([]byte{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("198.18.0.10"), false)
	require.NoError(t, err)
	assert.False(t, accepts(t, prog, arp), "ARP")
}

func TestCaptureFilterSingleFamily(t *testing.T) {
	only4 := captureFilter([]netip.Addr{netip.MustParseAddr("198.18.0.10")})
	assert.True(t, accepts(t, only4, frameOf(t, "198.18.0.2:1", "198.18.0.10:2")))
	assert.False(t, accepts(t, only4, frameOf(t, "[::1]:1", "[::1]:2")))
	only6 := captureFilter([]netip.Addr{netip.MustParseAddr("::1")})
	assert.True(t, accepts(t, only6, frameOf(t, "[::1]:1", "[::1]:2")))
	assert.False(t, accepts(t, only6, frameOf(t, "198.18.0.2:1", "198.18.0.10:2")))
}

// Beyond the address limits the filter takes every TCP segment.
func TestCaptureFilterManyAddresses(t *testing.T) {
	var many []netip.Addr
	for i := range maxFilterAddrs6 + 1 {
		many = append(many, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)))
	}
	prog := captureFilter(many)
	assert.True(t, accepts(t, prog, frameOf(t, "[2001:db8::ffff]:1", "[2001:db8::fffe]:2")))
	assert.True(t, accepts(t, prog, frameOf(t, "198.18.0.2:1", "198.18.0.3:2")))
	udp := frameOf(t, "198.18.0.2:1", "198.18.0.3:2")
	udp[14+9] = 17
	assert.False(t, accepts(t, prog, udp))

	// The largest specific filters still assemble.
	var v4, v6 []netip.Addr
	for i := range maxFilterAddrs4 {
		v4 = append(v4, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	v6 = many[:maxFilterAddrs6]
	prog, err := buildFilter(v4, v6)
	require.NoError(t, err)
	assert.True(t, accepts(t, prog, frameOf(t, "198.18.0.2:1", "198.18.1.63:2")))
	assert.True(t, accepts(t, prog, frameOf(t, "[2001:db8::ffff]:1", "[2001:db8::10]:2")))
	assert.False(t, accepts(t, prog, frameOf(t, "[2001:db8::ffff]:1", "[2001:db8::11]:2")))
}
