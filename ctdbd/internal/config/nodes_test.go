package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listNodes renders nodes as "ctdb -X listnodes" does (live nodes only),
// so that cases can be checked against what CTDB 4.17 printed.
func listNodes(nodes []Node) string {
	var b strings.Builder
	for _, n := range nodes {
		if !n.Deleted {
			fmt.Fprintf(&b, "|%d|%s|\n", n.PNN, n.Addr)
		}
	}
	return b.String()
}

func TestParseNodes(t *testing.T) {
	// Expected outputs are what CTDB 4.17's "ctdb -X listnodes" printed
	// for the same files.
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"two", "10.0.0.1\n10.0.0.2\n", "|0|10.0.0.1|\n|1|10.0.0.2|\n"},
		{"blank lines take no PNN", "10.0.0.1\n\n   \n10.0.0.2\n", "|0|10.0.0.1|\n|1|10.0.0.2|\n"},
		{"deleted node keeps its PNN", "10.0.0.1\n#10.0.0.2\n10.0.0.3\n", "|0|10.0.0.1|\n|2|10.0.0.3|\n"},
		{"a comment line is a deleted node", "# comment\n10.0.0.1\n", "|1|10.0.0.1|\n"},
		{"lone hash", "#\n10.0.0.1\n", "|1|10.0.0.1|\n"},
		{"white space around", "  10.0.0.1  \n\t10.0.0.2\t\n", "|0|10.0.0.1|\n|1|10.0.0.2|\n"},
		{"crlf", "10.0.0.1\r\n10.0.0.2\r\n", "|0|10.0.0.1|\n|1|10.0.0.2|\n"},
		{"ipv6", "fe80::1\n::1\n", "|0|fe80::1|\n|1|::1|\n"},
		{"ipv6 canonical form", "2001:DB8:0:0::1\n", "|0|2001:db8::1|\n"},
		{"no final newline", "10.0.0.1", "|0|10.0.0.1|\n"},
		{"trailing blank lines", "10.0.0.1\n\n\n", "|0|10.0.0.1|\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := ParseNodes([]byte(tc.in), "nodes")
			require.NoError(t, err)
			assert.Equal(t, tc.want, listNodes(nodes))
		})
	}

	nodes, err := ParseNodes([]byte("\n10.0.0.1\n# gone\n\n10.0.0.3\n"), "nodes")
	require.NoError(t, err)
	assert.Equal(t, []Node{
		{PNN: 0, Addr: netip.MustParseAddr("10.0.0.1"), Line: 2},
		{PNN: 1, Deleted: true, Line: 3},
		{PNN: 2, Addr: netip.MustParseAddr("10.0.0.3"), Line: 5},
	}, nodes)
}

func TestParseNodesErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
		is   error
	}{
		{"trailing comment", "10.0.0.1 # c\n", `nodes:1: "10.0.0.1 # c": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"port", "10.0.0.1:4379\n", `nodes:1: "10.0.0.1:4379": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"bracketed port", "[::1]:4379\n", `nodes:1: "[::1]:4379": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"host name", "bogus\n", `nodes:1: "bogus": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"zone", "fe80::1%eth0\n", `nodes:1: "fe80::1%eth0": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"short ipv4", "1.2.3\n", `nodes:1: "1.2.3": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"leading zero", "010.0.0.1\n", `nodes:1: "010.0.0.1": invalid value: not an IPv4 or IPv6 address`, ErrInvalidValue},
		{"duplicate", "10.0.0.1\n\n10.0.0.1\n", `nodes:3: "10.0.0.1": duplicate node address (also on line 1)`, ErrDuplicateNode},
		{"duplicate mapped", "10.0.0.1\n::ffff:10.0.0.1\n", `nodes:2: "::ffff:10.0.0.1": duplicate node address (also on line 1)`, ErrDuplicateNode},
		{"several", "x\n10.0.0.1\ny\n", "nodes:1: \"x\": invalid value: not an IPv4 or IPv6 address\nnodes:3: \"y\": invalid value: not an IPv4 or IPv6 address", ErrInvalidValue},
		{"empty", "", `nodes: no nodes`, ErrNoNodes},
		{"blank", "\n \n\t\n", `nodes: no nodes`, ErrNoNodes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNodes([]byte(tc.in), "nodes")
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.ErrorIs(t, err, tc.is)
		})
	}
}

func TestReadNodes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes")
	_, err := ReadNodes(path)
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.WriteFile(path, []byte("127.0.0.1\n127.0.0.2\n"), 0o644))
	nodes, err := ReadNodes(path)
	require.NoError(t, err)
	assert.Len(t, nodes, 2)

	require.NoError(t, os.WriteFile(path, []byte("127.0.0.1\nnope\n"), 0o644))
	_, err = ReadNodes(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+`:2: "nope"`)
}

func TestFindPNN(t *testing.T) {
	nodes, err := ParseNodes([]byte("#10.0.0.1\n10.0.0.2\n10.0.0.3\nfd00::4\n"), "nodes")
	require.NoError(t, err)
	local := func(addrs ...string) func(netip.Addr) bool {
		return func(a netip.Addr) bool {
			for _, s := range addrs {
				if netip.MustParseAddr(s) == a {
					return true
				}
			}
			return false
		}
	}
	none := local()

	pnn, err := FindPNN(nodes, netip.MustParseAddr("10.0.0.3"), none)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), pnn)

	pnn, err = FindPNN(nodes, netip.MustParseAddr("::ffff:10.0.0.2"), none)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), pnn)

	_, err = FindPNN(nodes, netip.MustParseAddr("10.0.0.9"), local("10.0.0.2"))
	require.ErrorIs(t, err, ErrNodeNotFound, "node address wins over local addresses")

	// Without node address: the first live node configured here; the
	// deleted node's old address does not count.
	pnn, err = FindPNN(nodes, netip.Addr{}, local("10.0.0.1", "fd00::4", "10.0.0.3"))
	require.NoError(t, err)
	assert.Equal(t, uint32(2), pnn)

	_, err = FindPNN(nodes, netip.Addr{}, none)
	require.ErrorIs(t, err, ErrNodeNotFound)

	isLocal, err := LocalAddrs()
	require.NoError(t, err)
	lo, err := ParseNodes([]byte("192.0.2.1\n127.0.0.1\n"), "nodes")
	require.NoError(t, err)
	pnn, err = FindPNN(lo, netip.Addr{}, isLocal)
	require.NoError(t, err, "127.0.0.1 is on the loopback interface")
	assert.Equal(t, uint32(1), pnn)
}
