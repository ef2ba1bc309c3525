// Package tcpconn names the TCP connections failover deals with (client
// to public address) and lists the established connections to a local
// address from the kernel's socket tables, so they can be recorded as
// "tickles" and reset after the address moves.
package tcpconn

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Connection is a TCP connection from a client to a public address.
// Client is CTDB's "source" and Server its "destination".
type Connection struct {
	Client netip.AddrPort
	Server netip.AddrPort
}

// String formats the connection as CTDB prints it: "client server".
func (c Connection) String() string { return c.Client.String() + " " + c.Server.String() }

// Compare orders connections by server, then client.
func (c Connection) Compare(o Connection) int {
	if r := c.Server.Compare(o.Server); r != 0 {
		return r
	}
	return c.Client.Compare(o.Client)
}

// FromConn describes an accepted connection (the server's side of it),
// for example one a server on a public address wants recorded as a
// tickle.
func FromConn(serverSide net.Conn) (Connection, error) {
	local, lok := serverSide.LocalAddr().(*net.TCPAddr)
	remote, rok := serverSide.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return Connection{}, fmt.Errorf("tcpconn: %T is not a TCP connection", serverSide)
	}
	c := Connection{Client: remote.AddrPort(), Server: local.AddrPort()}
	if c.Client.Addr().Is4In6() && c.Server.Addr().Is4In6() {
		c.Client = netip.AddrPortFrom(c.Client.Addr().Unmap(), c.Client.Port())
		c.Server = netip.AddrPortFrom(c.Server.Addr().Unmap(), c.Server.Port())
	}
	return c, nil
}

// State is a kernel TCP state as shown in /proc/net/tcp.
type State uint8

// StateEstablished is TCP_ESTABLISHED.
const StateEstablished State = 1

// Socket is one entry of /proc/net/tcp or /proc/net/tcp6.
type Socket struct {
	Local, Remote netip.AddrPort
	State         State
}

// ErrFormat is wrapped by parse errors.
var ErrFormat = errors.New("tcpconn: bad socket table")

const maxLineLength = 1024

// ParseProcNet parses the contents of /proc/net/tcp or /proc/net/tcp6.
func ParseProcNet(r io.Reader) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLineLength)
	var out []Socket
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue // column headings
		}
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 4 {
			return nil, fmt.Errorf("%w: line %d: %d fields", ErrFormat, line, len(f))
		}
		local, err := parseAddrPort(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: local address: %v", ErrFormat, line, err)
		}
		remote, err := parseAddrPort(f[2])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: remote address: %v", ErrFormat, line, err)
		}
		st, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: state %q", ErrFormat, line, f[3])
		}
		out = append(out, Socket{Local: local, Remote: remote, State: State(st)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return out, nil
}

// parseAddrPort decodes "0100007F:1F90". The kernel prints each 32-bit
// word of the address as a hex number in host byte order.
func parseAddrPort(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port in %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	if len(hexAddr) != 8 && len(hexAddr) != 32 {
		return netip.AddrPort{}, fmt.Errorf("bad address length in %q", s)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address in %q", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// Established lists the established TCP connections whose local address
// is server, seen from the calling thread's network namespace. For an
// IPv4 address this includes IPv4 clients of dual-stack sockets. The
// result is sorted.
func Established(server netip.Addr) ([]Connection, error) {
	m, err := EstablishedTo([]netip.Addr{server})
	if err != nil {
		return nil, err
	}
	return m[server.Unmap().WithZone("")], nil
}

// EstablishedTo is Established for several local addresses at once,
// reading each socket table once; the map is keyed by the unmapped
// addresses and holds sorted lists.
func EstablishedTo(servers []netip.Addr) (map[netip.Addr][]Connection, error) {
	want := make(map[netip.Addr]bool, len(servers))
	tables := []string{"tcp6"}
	for _, s := range servers {
		s = s.Unmap().WithZone("")
		want[s] = true
		if s.Is4() {
			tables = []string{"tcp", "tcp6"}
		}
	}
	out := make(map[netip.Addr][]Connection)
	if len(want) == 0 {
		return out, nil
	}
	for _, table := range tables {
		socks, err := readTable(table)
		if err != nil {
			return nil, err
		}
		for _, s := range socks {
			local := s.Local.Addr().Unmap()
			if s.State != StateEstablished || !want[local] {
				continue
			}
			out[local] = append(out[local], Connection{
				Client: netip.AddrPortFrom(s.Remote.Addr().Unmap(), s.Remote.Port()),
				Server: netip.AddrPortFrom(local, s.Local.Port()),
			})
		}
	}
	for a, conns := range out {
		slices.SortFunc(conns, Connection.Compare)
		out[a] = slices.CompactFunc(conns, func(a, b Connection) bool { return a == b })
	}
	return out, nil
}

// readTable reads /proc/<thread>/net/<table>. The per-thread view matters
// for callers that entered another network namespace on a locked thread.
func readTable(table string) ([]Socket, error) {
	f, err := os.Open("/proc/thread-self/net/" + table)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.Open("/proc/self/net/" + table)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && table == "tcp6" {
			return nil, nil // IPv6 disabled
		}
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	socks, err := ParseProcNet(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return socks, nil
}
