package tcpconn

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/cluster/netns"
)

// hostWord writes a 32-bit address word the way the kernel prints it:
// as a number in host byte order.
func hostWord(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return s.String()
}

func entry(ap netip.AddrPort) string {
	return fmt.Sprintf("%s:%04X", hostWord(ap.Addr().AsSlice()), ap.Port())
}

func TestParseProcNet(t *testing.T) {
	l1, r1 := netip.MustParseAddrPort("198.18.0.10:445"), netip.MustParseAddrPort("198.18.0.2:40000")
	l2, r2 := netip.MustParseAddrPort("0.0.0.0:445"), netip.MustParseAddrPort("0.0.0.0:0")
	table := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: " + entry(l2) + " " + entry(r2) + " 0A 00000000:00000000 00:00000000 00000000     0        0 19755 1 0000000000000000 100 0 0 10 0\n" +
		"   1: " + entry(l1) + " " + entry(r1) + " 01 00000000:00000000 02:00098A3F 00000000     0        0 81632 2 0000000000000000 20 4 30 10 -1\n"
	got, err := ParseProcNet(strings.NewReader(table))
	require.NoError(t, err)
	assert.Equal(t, []Socket{
		{Local: l2, Remote: r2, State: 0x0a},
		{Local: l1, Remote: r1, State: StateEstablished},
	}, got)

	l6, r6 := netip.MustParseAddrPort("[2001:db8::a]:445"), netip.MustParseAddrPort("[::ffff:198.18.0.2]:40001")
	table6 := "  sl  local_address                         remote_address                        st\n" +
		"   0: " + entry(l6) + " " + entry(r6) + " 01 00000000:00000000 00:00000000 00000000  0 0 1 1\n"
	got, err = ParseProcNet(strings.NewReader(table6))
	require.NoError(t, err)
	assert.Equal(t, []Socket{{Local: l6, Remote: r6, State: StateEstablished}}, got)
}

func TestParseProcNetLittleEndianSample(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("sample taken on a little-endian host")
	}
	// A line as printed by an x86 kernel for 127.0.0.1:8080 <- 127.0.0.1:51234.
	got, err := ParseProcNet(strings.NewReader("header\n   0: 0100007F:1F90 0100007F:C822 01 0:0 0:0 0 0 0 1\n"))
	require.NoError(t, err)
	assert.Equal(t, []Socket{{
		Local:  netip.MustParseAddrPort("127.0.0.1:8080"),
		Remote: netip.MustParseAddrPort("127.0.0.1:51234"),
		State:  StateEstablished,
	}}, got)
}

func TestParseProcNetErrors(t *testing.T) {
	for _, line := range []string{
		"0: 0100007F:1F90 01",
		"0: 0100007F1F90 0100007F:C822 01",
		"0: 0100007F:1F9 0100007F:C822 01",
		"0: 0100007:1F90 0100007F:C822 01",
		"0: 0100007G:1F90 0100007F:C822 01",
		"0: 0100007F:1F90 0100007F:C822 1FF",
	} {
		_, err := ParseProcNet(strings.NewReader("header\n" + line + "\n"))
		assert.ErrorIs(t, err, ErrFormat, line)
	}
}

func FuzzParseProcNet(f *testing.F) {
	f.Add("header\n   0: 0100007F:1F90 0100007F:C822 01 0:0 0:0 0 0 0 1\n")
	f.Add("header\n   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A\n")
	f.Add("header\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		socks, err := ParseProcNet(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.Addr().IsValid() || !s.Remote.Addr().IsValid() {
				t.Fatalf("invalid address decoded from %q", in)
			}
		}
	})
}

// Established sees a real connection on a loopback address of a private
// namespace, and only there.
func TestEstablished(t *testing.T) {
	ns := netns.New(t)
	server := netip.MustParseAddr("127.0.0.7")
	srv, _ := netns.TCPPairVia(t, ns, "127.0.0.7:0", ns, "", "127.0.0.8")
	want, err := FromConn(srv)
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddr("127.0.0.8"), want.Client.Addr())

	var got []Connection
	require.NoError(t, ns.Do(func() (err error) {
		got, err = Established(server)
		return err
	}))
	assert.Equal(t, []Connection{want}, got)
	assert.Equal(t, want.Client.String()+" "+want.Server.String(), want.String())

	rootView, err := Established(server)
	require.NoError(t, err)
	assert.NotContains(t, rootView, want)
}

// EstablishedTo reads the tables once for several servers and keys the
// result by server.
func TestEstablishedTo(t *testing.T) {
	ns := netns.New(t)
	s1, _ := netns.TCPPairVia(t, ns, "127.0.0.7:0", ns, "", "127.0.0.9")
	s2, _ := netns.TCPPairVia(t, ns, "127.0.0.8:0", ns, "", "127.0.0.9")
	w1, err := FromConn(s1)
	require.NoError(t, err)
	w2, err := FromConn(s2)
	require.NoError(t, err)
	var got map[netip.Addr][]Connection
	require.NoError(t, ns.Do(func() (err error) {
		got, err = EstablishedTo([]netip.Addr{netip.MustParseAddr("127.0.0.7"), netip.MustParseAddr("::ffff:127.0.0.8"), netip.MustParseAddr("127.0.0.6")})
		return err
	}))
	assert.Equal(t, map[netip.Addr][]Connection{
		netip.MustParseAddr("127.0.0.7"): {w1},
		netip.MustParseAddr("127.0.0.8"): {w2},
	}, got)
	none, err := EstablishedTo(nil)
	require.NoError(t, err)
	assert.Empty(t, none)
}

// A dual-stack listener reports its IPv4 clients with mapped addresses;
// they are listed, and described by FromConn, as plain IPv4.
func TestEstablishedDualStack(t *testing.T) {
	ns := netns.New(t)
	srv, _ := netns.TCPPairVia(t, ns, "[::]:0", ns, "127.0.0.1", "")
	want, err := FromConn(srv)
	require.NoError(t, err)
	require.True(t, want.Server.Addr().Is4(), "%s", want)

	var got []Connection
	require.NoError(t, ns.Do(func() (err error) {
		got, err = Established(netip.MustParseAddr("127.0.0.1"))
		return err
	}))
	require.Len(t, got, 2, "both ends of the loopback connection are local to 127.0.0.1: %v", got)
	assert.Contains(t, got, want)
}

func TestFromConnRejectsOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := FromConn(a)
	assert.Error(t, err)
}
