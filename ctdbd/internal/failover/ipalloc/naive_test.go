package ipalloc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveLCP2 is LCP2 the way CTDB computes it: every distance sum is
// recomputed from the current assignment whenever it is needed. It is
// slow and obviously faithful, so it serves as the oracle for the
// incremental implementation.
func naiveLCP2(s *state, noFailback bool, force []int) {
	s.unassignUnsuitable()
	dsum := func(ip, node int) uint64 {
		var sum uint64
		for other, pnn := range s.pnn {
			if pnn == node && other != ip {
				sum += distance2(s.ips[ip].key, s.ips[other].key)
			}
		}
		return sum
	}
	imbalance := make([]uint64, s.nodes)
	candidates := make([]bool, s.nodes)
	for node := range s.nodes {
		candidates[node] = true
		for ip, pnn := range s.pnn {
			if pnn == node {
				candidates[node] = false
				for other := ip + 1; other < len(s.pnn); other++ {
					if s.pnn[other] == node {
						imbalance[node] += distance2(s.ips[ip].key, s.ips[other].key)
					}
				}
			}
		}
	}
	for _, n := range force {
		candidates[n] = true
	}

	for {
		minIP, minNode := -1, -1
		var minDsum uint64
		for ip, pnn := range s.pnn {
			if pnn != Unassigned {
				continue
			}
			for node := range s.nodes {
				if !s.canTakeover(ip, node) {
					continue
				}
				if d := dsum(ip, node); minNode == -1 || d < minDsum {
					minIP, minNode, minDsum = ip, node, d
				}
			}
		}
		if minNode == -1 {
			break
		}
		imbalance[minNode] += minDsum
		s.pnn[minIP] = minNode
	}

	if noFailback || !slices.Contains(candidates, true) {
		return
	}
	for moved := true; moved; {
		moved = false
		order := make([]int, s.nodes)
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case imbalance[a] > imbalance[b]:
				return -1
			case imbalance[a] < imbalance[b]:
				return 1
			}
			return 0
		})
		for _, src := range order {
			if imbalance[src] == 0 {
				break
			}
			bestIP, bestDst := -1, -1
			var bestSrcAfter, bestDstAfter uint64
			for ip, pnn := range s.pnn {
				if pnn != src {
					continue
				}
				srcDsum := dsum(ip, src)
				srcAfter := imbalance[src] - srcDsum
				for dst := range s.nodes {
					if !candidates[dst] || !s.canTakeover(ip, dst) {
						continue
					}
					dstDsum := dsum(ip, dst)
					dstAfter := imbalance[dst] + dstDsum
					if dstAfter < imbalance[src] && dstDsum < srcDsum &&
						(bestDst == -1 || srcAfter+dstAfter < bestSrcAfter+bestDstAfter) {
						bestIP, bestDst, bestSrcAfter, bestDstAfter = ip, dst, srcAfter, dstAfter
					}
				}
			}
			if bestDst != -1 {
				imbalance[src], imbalance[bestDst] = bestSrcAfter, bestDstAfter
				s.pnn[bestIP] = bestDst
				moved = true
				break
			}
		}
	}
}

func naiveAllocate(t testing.TB, in Input) []Assignment {
	s, err := newState(in)
	require.NoError(t, err)
	naiveLCP2(s, in.Tunables.NoIPFailback, in.ForceRebalance)
	out := make([]Assignment, len(s.ips))
	for i, ip := range s.ips {
		out[i] = Assignment{Addr: ip.addr, PNN: s.pnn[i]}
	}
	return out
}

// The incremental LCP2 makes exactly the choices of the naive one.
func TestLCP2MatchesNaiveTranscription(t *testing.T) {
	for seed := range uint64(1500) {
		r := rand.New(rand.NewPCG(seed, 17))
		in := randomInput(r)
		in.Tunables.Algorithm = LCP2
		got, err := Allocate(in)
		require.NoError(t, err)
		assert.Equal(t, naiveAllocate(t, in), got, "seed %d", seed)
	}
	for _, tc := range []struct{ nodes, addrs int }{{5, 200}, {16, 64}} {
		in := benchCluster(tc.nodes, tc.addrs)
		got, err := Allocate(in)
		require.NoError(t, err)
		assert.Equal(t, naiveAllocate(t, in), got, "%dx%d", tc.nodes, tc.addrs)
	}
}

// BenchmarkNaiveLCP2 measures CTDB's way of computing LCP2, for
// comparison with BenchmarkAllocate/LCP2.
func BenchmarkNaiveLCP2(b *testing.B) {
	for _, sz := range []struct{ nodes, addrs int }{{3, 64}, {16, 64}, {16, 256}} {
		in := benchCluster(sz.nodes, sz.addrs)
		b.Run(fmt.Sprintf("%dx%d/fresh", sz.nodes, sz.addrs), func(b *testing.B) {
			for b.Loop() {
				naiveAllocate(b, in)
			}
		})
	}
}
