package ipalloc

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func withTunables(in Input, f func(*Tunables)) Input {
	f(&in.Tunables)
	return in
}

func TestNoIPFailback(t *testing.T) {
	// All addresses on node 1, nodes 0 and 2 just became healthy.
	for _, algo := range []Algorithm{LCP2, NonDeterministic} {
		t.Run(algo.String(), func(t *testing.T) {
			in := withTunables(scenario(t, algo, "0,0,0", nineIPsOnNode1, nil),
				func(tu *Tunables) { tu.NoIPFailback = true })
			assert.Equal(t, trimLines(`
192.168.21.254 1
192.168.21.253 1
192.168.21.252 1
192.168.20.254 1
192.168.20.253 1
192.168.20.252 1
192.168.20.251 1
192.168.20.250 1
192.168.20.249 1`), allocate(t, in))
		})
	}
	t.Run("deterministic ignores it", func(t *testing.T) {
		in := scenario(t, Deterministic, "0,0,0", nineIPsOnNode1, nil)
		want := allocate(t, in)
		in.Tunables.NoIPFailback = true
		assert.Equal(t, want, allocate(t, in))
	})
}

func TestNonDeterministicEvensOutCounts(t *testing.T) {
	in := scenario(t, NonDeterministic, "0,0,0", nineIPsOnNode1, nil)
	out, err := Allocate(in)
	require.NoError(t, err)
	assert.Equal(t, []int{3, 3, 3}, counts(3, out))
}

func TestNoIPTakeover(t *testing.T) {
	// Node 1 fails: its addresses become unassigned instead of moving, the
	// others stay where they are.
	in := withTunables(scenario(t, LCP2, "0,2,0", nineIPsSpread, nil),
		func(tu *Tunables) { tu.NoIPTakeover = true })
	assert.Equal(t, trimLines(`
192.168.21.254 2
192.168.21.253 -1
192.168.21.252 0
192.168.20.254 2
192.168.20.253 -1
192.168.20.252 0
192.168.20.251 2
192.168.20.250 -1
192.168.20.249 0`), allocate(t, in))

	// Nothing is assigned on a fresh cluster.
	in = withTunables(scenario(t, LCP2, "0,0,0", nineIPsUnassigned, nil),
		func(tu *Tunables) { tu.NoIPTakeover = true })
	out, err := Allocate(in)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 0, 0}, counts(3, out))
}

func TestNoIPHostOnAllDisabled(t *testing.T) {
	const allOnNode2 = `
192.168.21.254 2
192.168.20.254 2
192.168.20.253 2`
	tests := []struct {
		name   string
		nodes  string
		noHost bool
		want   string
	}{
		{"all unhealthy, set: CTDB 4.17 releases everything", "2,2,2", true, `
192.168.21.254 -1
192.168.20.254 -1
192.168.20.253 -1`},
		// Every node is as good as any other, so LCP2 also spreads them:
		// 20.254 costs node 2 the most (14161+15876), then 21.254.
		{"all unhealthy, unset: disabled nodes keep serving", "2,2,2", false, `
192.168.21.254 1
192.168.20.254 0
192.168.20.253 2`},
		{"unset, one healthy node: disabled nodes do not host", "2,0,2", false, `
192.168.21.254 1
192.168.20.254 1
192.168.20.253 1`},
		{"unset, inactive nodes never host", "2,0x20,0x8", false, `
192.168.21.254 0
192.168.20.254 0
192.168.20.253 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := scenario(t, LCP2, tc.nodes, allOnNode2, nil)
			if tc.name != "unset, inactive nodes never host" {
				// Node 2 still holds them in these cases.
				require.Equal(t, 2, in.IPs[0].Holder)
			}
			in.Tunables.NoIPHostOnAllDisabled = tc.noHost
			assert.Equal(t, trimLines(tc.want), allocate(t, in))
		})
	}
}

func TestForceRebalance(t *testing.T) {
	// lcp2.028's layout stays unbalanced because every node holds
	// something; forcing node 2 makes it a rebalance target.
	in := scenario(t, LCP2, "0,0,0,0", unbalancedSixteen, nil)
	before, err := Allocate(in)
	require.NoError(t, err)
	require.Equal(t, []int{6, 5, 1, 4}, counts(4, before))

	in.ForceRebalance = []int{2}
	after, err := Allocate(in)
	require.NoError(t, err)
	c := counts(4, after)
	assert.Equal(t, 4, c[2], "%v", c)
	for i, a := range after {
		if a.PNN != before[i].PNN {
			assert.Equal(t, 2, a.PNN, "%s moved to a node that was not forced", a.Addr)
		}
	}
}

func TestUnknownAlgorithmFallsBackToLCP2(t *testing.T) {
	in := scenario(t, LCP2, "0,0,0", nineIPsOnNode1, nil)
	want := allocate(t, in)
	in.Tunables.Algorithm = 7
	assert.Equal(t, want, allocate(t, in))
}

func TestIPv6AndMixedFamilies(t *testing.T) {
	in := scenario(t, LCP2, "0,0", `
2001:db8::1 -1
2001:db8::2 -1
2001:db8:1::1 -1
10.0.0.1 -1
10.0.0.2 -1
10.0.1.1 -1`, nil)
	// IPv6 sorts first (descending keys). The metric sees IPv4 and IPv6
	// addresses as far apart (10.0.1.1 to 2001:db8:1::1 is 2+15+32+4 = 53
	// against 111 between the two 2001:db8 addresses), so after the first
	// two placements the IPv4 addresses join node 0 before 2001:db8::1.
	assert.Equal(t, trimLines(`
2001:db8:1::1 0
2001:db8::2 1
2001:db8::1 1
10.0.1.1 0
10.0.0.2 1
10.0.0.1 0`), allocate(t, in))
}

func TestNoNodes(t *testing.T) {
	for _, algo := range []Algorithm{Deterministic, NonDeterministic, LCP2} {
		out, err := Allocate(Input{
			IPs:      []IP{{Addr: netip.MustParseAddr("10.0.0.1"), Holder: Unassigned}},
			Tunables: Tunables{Algorithm: algo},
		})
		require.NoError(t, err)
		assert.Equal(t, []Assignment{{Addr: netip.MustParseAddr("10.0.0.1"), PNN: Unassigned}}, out)
	}
}

func TestCanHostIPs(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	nodes := []Node{{PNN: 0}, {PNN: 1, Flags: Unhealthy}}
	tests := []struct {
		name string
		in   Input
		want bool
	}{
		{"no addresses", Input{Nodes: nodes}, false},
		{"hosted somewhere", Input{Nodes: nodes, IPs: []IP{{Addr: a, Holder: 1}}}, true},
		{"available on a healthy node", Input{Nodes: nodes, IPs: []IP{{Addr: a, Holder: Unassigned, Available: []int{0}}}}, true},
		{"available only on a disabled node", Input{Nodes: nodes, IPs: []IP{{Addr: a, Holder: Unassigned, Available: []int{1}}}}, false},
		{"available nowhere", Input{Nodes: nodes, IPs: []IP{{Addr: a, Holder: Unassigned}}}, false},
	}
	for _, tc := range tests {
		got, err := CanHostIPs(tc.in)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestInvalidInput(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	two := []Node{{PNN: 0}, {PNN: 1}}
	tests := []struct {
		name string
		in   Input
		err  error
	}{
		{"PNN does not match index", Input{Nodes: []Node{{PNN: 1}}}, ErrNodeOrder},
		{"unknown flag bits", Input{Nodes: []Node{{PNN: 0, Flags: 0x100}}}, ErrUnknownFlags},
		{"zero address", Input{Nodes: two, IPs: []IP{{Holder: Unassigned}}}, ErrBadAddress},
		{"address with zone", Input{Nodes: two, IPs: []IP{{Addr: netip.MustParseAddr("fe80::1%eth0"), Holder: Unassigned}}}, ErrBadAddress},
		{"duplicate", Input{Nodes: two, IPs: []IP{{Addr: a, Holder: Unassigned}, {Addr: a, Holder: Unassigned}}}, ErrDuplicateIP},
		{"holder out of range", Input{Nodes: two, IPs: []IP{{Addr: a, Holder: 2}}}, ErrUnknownNode},
		{"negative holder", Input{Nodes: two, IPs: []IP{{Addr: a, Holder: -2}}}, ErrUnknownNode},
		{"available out of range", Input{Nodes: two, IPs: []IP{{Addr: a, Holder: Unassigned, Available: []int{5}}}}, ErrUnknownNode},
		{"rebalance target out of range", Input{Nodes: two, ForceRebalance: []int{2}}, ErrUnknownNode},
	}
	for _, tc := range tests {
		_, err := Allocate(tc.in)
		assert.ErrorIs(t, err, tc.err, tc.name)
		_, err = CanHostIPs(tc.in)
		assert.ErrorIs(t, err, tc.err, tc.name)
	}
}

func TestMergeTrustsOnlySelfClaims(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	ips, err := Merge([]NodeView{
		{Known: []KnownIP{{Addr: a, Holder: 1}, {Addr: b, Holder: 0}}, Available: []netip.Addr{a, b}},
		{Known: []KnownIP{{Addr: a, Holder: 2}}, Available: []netip.Addr{a}},
		{Known: []KnownIP{{Addr: a, Holder: 2}, {Addr: b, Holder: 2}}},
		{}, // an inactive node nobody asked
	})
	require.NoError(t, err)
	assert.Equal(t, []IP{
		{Addr: a, Holder: 2, Available: []int{0, 1}},
		{Addr: b, Holder: 2, Available: []int{0}},
	}, ips)

	_, err = Merge([]NodeView{{Known: []KnownIP{{Holder: 0}}}})
	assert.ErrorIs(t, err, ErrBadAddress)
}
