package ipalloc

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want uint32
	}{
		{"192.168.20.249", "192.168.20.249", 128},
		{"192.168.21.254", "192.168.20.254", 119},
		{"192.168.20.254", "192.168.20.253", 126},
		{"10.0.0.1", "192.168.0.1", 96},
		// IPv4 sits in the last word with zeros before it.
		{"10.0.0.1", "::10.0.0.1", 128},
		{"2001:db8::1", "2001:db8::2", 126},
		// CTDB counts every word's common prefix separately, so equal
		// later words still add 32 each after a difference.
		{"2001:db8::1", "3001:db8::1", 3 + 32 + 32 + 32},
		{"fd00::1:0:0:1", "fd00::2:0:0:1", 32 + 32 + 14 + 32},
	}
	for _, tc := range tests {
		a, b := keyOf(netip.MustParseAddr(tc.a)), keyOf(netip.MustParseAddr(tc.b))
		assert.Equal(t, tc.want, distance(a, b), "%s - %s", tc.a, tc.b)
		assert.Equal(t, tc.want, distance(b, a), "%s - %s", tc.b, tc.a)
	}
}

// The sums LCP2 works with, checked against the numbers in CTDB's
// lcp2.005 debug trace (nine addresses on node 1).
func TestLCP2MetricMatchesCTDBTrace(t *testing.T) {
	in := scenario(t, LCP2, "0,0,0", nineIPsOnNode1, nil)
	s, err := newState(in)
	require.NoError(t, err)
	l := &lcp2State{state: s, dsum: make([]uint64, len(s.ips)*s.nodes), imbalance: make([]uint64, s.nodes)}
	l.initSums()
	assert.Equal(t, []uint64{0, 539166, 0}, l.imbalance)

	wantSrcDsum := map[string]uint64{
		"192.168.21.254": 116718,
		"192.168.21.253": 116971,
		"192.168.21.252": 116971,
		"192.168.20.254": 121110,
		"192.168.20.253": 121363,
		"192.168.20.252": 121363,
		"192.168.20.251": 121363,
		"192.168.20.250": 121363,
		"192.168.20.249": 121110,
	}
	for ip, e := range s.ips {
		assert.Equal(t, wantSrcDsum[e.addr.String()], l.dsum[ip*s.nodes+1], e.addr.String())
		assert.Zero(t, l.dsum[ip*s.nodes+0], e.addr.String())
	}

	// First move of the trace: 192.168.20.253 from node 1 to node 0.
	require.True(t, l.failbackFrom(1, []bool{true, false, true}))
	assert.Equal(t, []uint64{0, 539166 - 121363, 0}, l.imbalance)
	for ip, e := range s.ips {
		if e.addr.String() == "192.168.20.253" {
			assert.Equal(t, 0, s.pnn[ip])
		}
	}
}
