package ipalloc

import "slices"

// lcp2 is CTDB's default algorithm ("longest common prefix squared"): it
// spreads addresses so that each node's addresses are as far apart as
// possible, which spreads subnets (and so client load) over the nodes.
//
// The metric: a node's imbalance is the sum over all pairs of its
// addresses of distance². CTDB recomputes every sum from scratch in each
// step, which is cubic in the number of addresses. Here the sums are kept
// in a matrix dsum[ip][node] (the sum of distance² from ip to every other
// address on node) that is updated on each move, so every decision is a
// lookup while choosing exactly what CTDB chooses, tie-breaks included.
type lcp2State struct {
	*state
	dsum      []uint64 // [ip*nodes+node]
	imbalance []uint64 // per node
}

func (s *state) lcp2(noFailback bool, forceRebalance []int) {
	s.unassignUnsuitable()

	l := &lcp2State{
		state:     s,
		dsum:      make([]uint64, len(s.ips)*s.nodes),
		imbalance: make([]uint64, s.nodes),
	}
	// Nodes that hold nothing now must have been unhealthy before: only
	// they may receive addresses during rebalancing, so that healthy nodes
	// do not shuffle addresses for small gains.
	candidates := make([]bool, s.nodes)
	for i := range candidates {
		candidates[i] = true
	}
	for _, pnn := range s.pnn {
		if pnn != Unassigned {
			candidates[pnn] = false
		}
	}
	l.initSums()
	for _, pnn := range forceRebalance {
		candidates[pnn] = true
	}

	l.allocateUnassigned()

	if noFailback || !slices.Contains(candidates, true) {
		return
	}
	l.failback(candidates)
}

// initSums fills the distance sums and imbalances for the current
// holders, visiting each pair of addresses once.
func (l *lcp2State) initSums() {
	n := l.nodes
	for x := range l.ips {
		px := l.pnn[x]
		for y := x + 1; y < len(l.ips); y++ {
			py := l.pnn[y]
			if px == Unassigned && py == Unassigned {
				continue
			}
			d := distance2(l.ips[x].key, l.ips[y].key)
			if py != Unassigned {
				l.dsum[x*n+py] += d
			}
			if px != Unassigned {
				l.dsum[y*n+px] += d
			}
			if px != Unassigned && px == py {
				l.imbalance[px] += d
			}
		}
	}
}

// place assigns an unassigned address to node and updates the metric.
func (l *lcp2State) place(ip, node int) {
	l.imbalance[node] += l.dsum[ip*l.nodes+node]
	l.pnn[ip] = node
	l.shift(ip, Unassigned, node)
}

// move moves an address between nodes and updates the metric.
func (l *lcp2State) move(ip, from, to int) {
	l.imbalance[from] -= l.dsum[ip*l.nodes+from]
	l.imbalance[to] += l.dsum[ip*l.nodes+to]
	l.pnn[ip] = to
	l.shift(ip, from, to)
}

// shift moves ip's contribution to every other address's distance sum
// from node from to node to (either may be Unassigned). An address never
// counts against itself.
func (l *lcp2State) shift(ip, from, to int) {
	k := l.ips[ip].key
	for other := range l.ips {
		if other == ip {
			continue
		}
		d := distance2(k, l.ips[other].key)
		row := l.dsum[other*l.nodes : (other+1)*l.nodes]
		if from != Unassigned {
			row[from] -= d
		}
		if to != Unassigned {
			row[to] += d
		}
	}
}

// allocateUnassigned repeatedly assigns the unassigned address/node pair
// that adds the least to the imbalance, the first such pair in address
// order on ties, as CTDB does. CTDB rescans every pair in every step;
// here each address keeps a heap of its candidate nodes (see nodeHeaps).
func (l *lcp2State) allocateUnassigned() {
	var pending []int
	for ip, pnn := range l.pnn {
		if pnn == Unassigned {
			pending = append(pending, ip)
		}
	}
	heaps := newNodeHeaps(l, pending)
	for len(pending) > 0 {
		pick, pickNode := -1, Unassigned
		var pickCost uint64
		for i, ip := range pending {
			node, cost, ok := heaps.best(ip)
			if ok && (pick < 0 || cost < pickCost) {
				pick, pickNode, pickCost = i, node, cost
			}
		}
		if pick < 0 {
			return
		}
		l.place(pending[pick], pickNode)
		pending = slices.Delete(pending, pick, pick+1)
	}
}

// failback moves addresses from the most imbalanced nodes onto rebalance
// candidates while that lowers the imbalance. It stops when no node with a
// non-zero imbalance has a profitable move.
func (l *lcp2State) failback(candidates []bool) {
	order := make([]int, l.nodes)
	for {
		for i := range order {
			order[i] = i
		}
		// Stable, like glibc's merge-sort qsort: equal imbalances keep
		// PNN order.
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case l.imbalance[a] > l.imbalance[b]:
				return -1
			case l.imbalance[a] < l.imbalance[b]:
				return 1
			}
			return 0
		})
		moved := false
		for _, src := range order {
			if l.imbalance[src] == 0 {
				// Every node left holds at most one address.
				break
			}
			if l.failbackFrom(src, candidates) {
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// failbackFrom makes the best move of one of src's addresses to a
// candidate node, if any move lowers both src's imbalance and the total.
func (l *lcp2State) failbackFrom(src int, candidates []bool) bool {
	srcImbl := l.imbalance[src]
	bestIP, bestDst := -1, Unassigned
	var bestTotal uint64
	for ip, pnn := range l.pnn {
		if pnn != src {
			continue
		}
		srcDsum := l.dsum[ip*l.nodes+src]
		srcAfter := srcImbl - srcDsum
		for dst := range l.nodes {
			if !candidates[dst] || !l.canTakeover(ip, dst) {
				continue
			}
			dstDsum := l.dsum[ip*l.nodes+dst]
			dstAfter := l.imbalance[dst] + dstDsum
			if dstAfter < srcImbl && dstDsum < srcDsum &&
				(bestDst == Unassigned || srcAfter+dstAfter < bestTotal) {
				bestIP, bestDst, bestTotal = ip, dst, srcAfter+dstAfter
			}
		}
	}
	if bestDst == Unassigned {
		return false
	}
	l.move(bestIP, src, bestDst)
	return true
}
