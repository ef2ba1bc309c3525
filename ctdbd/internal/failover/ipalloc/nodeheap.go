package ipalloc

// nodeHeaps keeps, for each unassigned address, a min-heap of the nodes
// that can take it over, ordered by (cost, PNN). While addresses are being
// placed, costs only grow, so the heaps are repaired lazily: an entry
// remembers the cost it was sorted by, and only the top entry is checked
// against the live cost when the best node is asked for. A stale top is
// refreshed and sifted down until the top is current; it is then the true
// minimum, with CTDB's lowest-PNN tie-break, because every other entry's
// live cost is at least its remembered one.
type nodeHeaps struct {
	nodes int
	live  []uint64 // the lcp2State.dsum matrix, read only
	cost  []uint64 // [ip*nodes+slot] remembered cost
	node  []int    // [ip*nodes+slot]
	size  []int    // per address
}

func newNodeHeaps(l *lcp2State, pending []int) *nodeHeaps {
	h := &nodeHeaps{
		nodes: l.nodes,
		live:  l.dsum,
		cost:  make([]uint64, len(l.ips)*l.nodes),
		node:  make([]int, len(l.ips)*l.nodes),
		size:  make([]int, len(l.ips)),
	}
	for _, ip := range pending {
		base := ip * l.nodes
		n := 0
		for node := range l.nodes {
			if l.canTakeover(ip, node) {
				h.cost[base+n] = l.dsum[base+node]
				h.node[base+n] = node
				n++
			}
		}
		h.size[ip] = n
		for i := n/2 - 1; i >= 0; i-- {
			h.down(ip, i)
		}
	}
	return h
}

func (h *nodeHeaps) less(base, i, j int) bool {
	ci, cj := h.cost[base+i], h.cost[base+j]
	return ci < cj || (ci == cj && h.node[base+i] < h.node[base+j])
}

func (h *nodeHeaps) down(ip, i int) {
	base, n := ip*h.nodes, h.size[ip]
	for {
		smallest := i
		if l := 2*i + 1; l < n && h.less(base, l, smallest) {
			smallest = l
		}
		if r := 2*i + 2; r < n && h.less(base, r, smallest) {
			smallest = r
		}
		if smallest == i {
			return
		}
		h.cost[base+i], h.cost[base+smallest] = h.cost[base+smallest], h.cost[base+i]
		h.node[base+i], h.node[base+smallest] = h.node[base+smallest], h.node[base+i]
		i = smallest
	}
}

// best returns the cheapest node for ip and its cost; ok is false when no
// node can take ip over.
func (h *nodeHeaps) best(ip int) (node int, cost uint64, ok bool) {
	if h.size[ip] == 0 {
		return Unassigned, 0, false
	}
	base := ip * h.nodes
	for {
		top := h.node[base]
		live := h.live[base+top]
		if h.cost[base] == live {
			return top, live, true
		}
		h.cost[base] = live
		h.down(ip, 0)
	}
}
