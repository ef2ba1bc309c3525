package ipalloc

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addrStyle chooses how random addresses are drawn.
type addrStyle int

const (
	fewSubnets4 addrStyle = iota // IPv4 in a handful of /24s, the usual setup
	anywhere4                    // any IPv4 address
	subnets46                    // IPv4 subnets mixed with IPv6 in a /64
	anywhere6                    // any IPv6 address: worst case for LCP2's metric
)

func randomAddrs(r *rand.Rand, style addrStyle, count int) []netip.Addr {
	seen := make(map[netip.Addr]bool, count)
	out := make([]netip.Addr, 0, count)
	for len(out) < count {
		var a netip.Addr
		switch style {
		case fewSubnets4:
			a = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(256))})
		case anywhere4:
			a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		case subnets46:
			if r.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{192, 168, byte(r.IntN(3)), byte(r.IntN(256))})
			} else {
				b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(r.IntN(4)), 14: byte(r.IntN(256)), 15: byte(r.IntN(256))}
				a = netip.AddrFrom16(b)
			}
		case anywhere6:
			var b [16]byte
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			a = netip.AddrFrom16(b)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// randomInput draws a cluster with random flags, availability, holders
// and tunables.
func randomInput(r *rand.Rand) Input {
	n := 1 + r.IntN(12)
	in := Input{Tunables: Tunables{
		Algorithm:             Algorithm(r.IntN(3)),
		NoIPFailback:          r.IntN(3) == 0,
		NoIPTakeover:          r.IntN(6) == 0,
		NoIPHostOnAllDisabled: r.IntN(2) == 0,
	}}
	flagChoices := []Flags{0, 0, 0, Unhealthy, PermanentlyDisabled, Banned, Stopped, Disconnected, Unhealthy | Stopped}
	for i := range n {
		in.Nodes = append(in.Nodes, Node{PNN: i, Flags: flagChoices[r.IntN(len(flagChoices))], NoIPHost: r.IntN(10) == 0})
	}
	for _, a := range randomAddrs(r, addrStyle(r.IntN(4)), r.IntN(60)) {
		ip := IP{Addr: a, Holder: Unassigned}
		for pnn := range n {
			if r.IntN(4) != 0 {
				ip.Available = append(ip.Available, pnn)
			}
		}
		if r.IntN(3) != 0 {
			ip.Holder = r.IntN(n)
		}
		in.IPs = append(in.IPs, ip)
	}
	if r.IntN(4) == 0 {
		in.ForceRebalance = []int{r.IntN(n)}
	}
	return in
}

// eligible reports whether node may host ip under in's flags and tunables.
func eligible(in Input, ip IP, pnn int) bool {
	return slices.Contains(ip.Available, pnn) && !noIPHost(in.Nodes, in.Tunables.NoIPHostOnAllDisabled)[pnn]
}

func byAddr(as []Assignment) map[netip.Addr]int {
	m := make(map[netip.Addr]int, len(as))
	for _, a := range as {
		m[a.Addr] = a.PNN
	}
	return m
}

func TestPropertiesRandomClusters(t *testing.T) {
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b9))
		in := randomInput(r)
		out, err := Allocate(in)
		require.NoError(t, err, "seed %d", seed)
		require.Len(t, out, len(in.IPs))
		got := byAddr(out)

		for _, ip := range in.IPs {
			pnn := got[ip.Addr]
			canTake := false
			for node := range in.Nodes {
				canTake = canTake || eligible(in, ip, node)
			}
			holderStays := ip.Holder != Unassigned && eligible(in, ip, ip.Holder)
			switch {
			case pnn != Unassigned:
				// Every address sits on a node that can host it.
				assert.True(t, eligible(in, ip, pnn), "seed %d: %s on node %d", seed, ip.Addr, pnn)
			case !in.Tunables.NoIPTakeover:
				// Nothing stays unassigned while some node could host it.
				assert.False(t, canTake, "seed %d: %s left unassigned", seed, ip.Addr)
			}
			if in.Tunables.NoIPTakeover && in.Tunables.Algorithm != Deterministic {
				// Addresses only stay with a holder that can keep them.
				// (Deterministic resets every address to its home node
				// first, in CTDB too, so the tunable cannot pin them.)
				if holderStays {
					assert.Equal(t, ip.Holder, pnn, "seed %d: %s moved under NoIPTakeover", seed, ip.Addr)
				} else {
					assert.Equal(t, Unassigned, pnn, "seed %d: %s taken over under NoIPTakeover", seed, ip.Addr)
				}
			}
			if in.Tunables.NoIPFailback && in.Tunables.Algorithm != Deterministic && holderStays {
				// No needless moves: a holder that can keep an address keeps it.
				assert.Equal(t, ip.Holder, pnn, "seed %d: %s moved under NoIPFailback", seed, ip.Addr)
			}
		}

		// The result does not depend on the order of the input.
		shuffled := in
		shuffled.IPs = slices.Clone(in.IPs)
		r.Shuffle(len(shuffled.IPs), func(i, j int) { shuffled.IPs[i], shuffled.IPs[j] = shuffled.IPs[j], shuffled.IPs[i] })
		for i := range shuffled.IPs {
			av := slices.Clone(shuffled.IPs[i].Available)
			slices.Reverse(av)
			shuffled.IPs[i].Available = av
		}
		again, err := Allocate(shuffled)
		require.NoError(t, err)
		assert.Equal(t, out, again, "seed %d: order changed the result", seed)
	}
}

// LCP2 reaches a fixed point: a second run over its own result moves
// nothing (CTDB's lcp2.035), and the deterministic algorithm does not look
// at the current holders at all.
func TestPropertiesStableResults(t *testing.T) {
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 7))
		in := randomInput(r)
		out, err := Allocate(in)
		require.NoError(t, err)
		next := in
		next.IPs = slices.Clone(in.IPs)
		next.ForceRebalance = nil
		for i := range next.IPs {
			next.IPs[i].Holder = byAddr(out)[next.IPs[i].Addr]
		}
		switch in.Tunables.Algorithm {
		case LCP2:
			again, err := Allocate(next)
			require.NoError(t, err)
			assert.Equal(t, out, again, "seed %d", seed)
		case Deterministic:
			for i := range next.IPs {
				next.IPs[i].Holder = Unassigned
			}
			again, err := Allocate(next)
			require.NoError(t, err)
			assert.Equal(t, out, again, "seed %d", seed)
		}
	}
}

func uniformCluster(nodes int, addrs []netip.Addr) Input {
	in := Input{Tunables: Tunables{Algorithm: LCP2}}
	for i := range nodes {
		in.Nodes = append(in.Nodes, Node{PNN: i})
	}
	for _, a := range addrs {
		ip := IP{Addr: a, Holder: Unassigned}
		for pnn := range nodes {
			ip.Available = append(ip.Available, pnn)
		}
		in.IPs = append(in.IPs, ip)
	}
	return in
}

func counts(nodes int, as []Assignment) []int {
	c := make([]int, nodes)
	for _, a := range as {
		if a.PNN != Unassigned {
			c[a.PNN]++
		}
	}
	return c
}

// LCP2 spreads subnets, not counts, but with addresses from a few subnets
// the counts end up within one of each other; even for addresses drawn
// from the whole IPv6 space (where CTDB's per-word metric is weakest) no
// node gets more than one address above its fair share.
func TestPropertiesLCP2Balance(t *testing.T) {
	for seed := range uint64(1500) {
		r := rand.New(rand.NewPCG(seed, 11))
		nodes := 1 + r.IntN(20)
		style := addrStyle(r.IntN(4))
		addrs := randomAddrs(r, style, r.IntN(200))
		out, err := Allocate(uniformCluster(nodes, addrs))
		require.NoError(t, err)
		c := counts(nodes, out)
		fair := (len(addrs) + nodes - 1) / nodes
		if style == anywhere6 {
			assert.LessOrEqual(t, slices.Max(c), fair+1, "seed %d: %v", seed, c)
		} else {
			assert.LessOrEqual(t, slices.Max(c)-slices.Min(c), 1, "seed %d: %v", seed, c)
		}
	}
}

// When a node fails, LCP2 moves exactly its addresses; the others stay.
func TestPropertiesLCP2NodeFailureMovesOnlyItsAddresses(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 13))
		nodes := 2 + r.IntN(15)
		in := uniformCluster(nodes, randomAddrs(r, addrStyle(r.IntN(4)), 1+r.IntN(150)))
		before, err := Allocate(in)
		require.NoError(t, err)
		held := byAddr(before)
		for i := range in.IPs {
			in.IPs[i].Holder = held[in.IPs[i].Addr]
		}
		failed := r.IntN(nodes)
		in.Nodes[failed].Flags = Unhealthy
		after, err := Allocate(in)
		require.NoError(t, err)
		for _, a := range after {
			if held[a.Addr] == failed {
				assert.NotEqual(t, failed, a.PNN, "seed %d", seed)
				assert.NotEqual(t, Unassigned, a.PNN, "seed %d", seed)
			} else {
				assert.Equal(t, held[a.Addr], a.PNN, "seed %d: %s moved needlessly", seed, a.Addr)
			}
		}
	}
}
