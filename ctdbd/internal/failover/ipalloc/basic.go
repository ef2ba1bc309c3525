package ipalloc

// deterministic places address i (in CTDB order) on node i mod N, then
// moves what that node cannot host to the least loaded node that can. An
// address therefore always returns to its "home" node, so NoIPFailback
// has no effect (CTDB warns and ignores it too).
func (s *state) deterministic() {
	if s.nodes == 0 {
		for i := range s.pnn {
			s.pnn[i] = Unassigned
		}
		return
	}
	for i := range s.pnn {
		s.pnn[i] = i % s.nodes
	}
	s.unassignUnsuitable()
	s.basicAllocateUnassigned(s.coverage())
}

// nonDeterministic keeps addresses where they are, gives unassigned ones
// to the least loaded nodes and then evens out the counts, so the result
// depends on the history of the cluster.
func (s *state) nonDeterministic(noFailback bool) {
	s.unassignUnsuitable()
	cover := s.coverage()
	s.basicAllocateUnassigned(cover)
	if noFailback {
		return
	}
	s.basicFailback(cover)
}

// coverage counts the addresses each node holds.
func (s *state) coverage() []int {
	cover := make([]int, s.nodes)
	for _, pnn := range s.pnn {
		if pnn != Unassigned {
			cover[pnn]++
		}
	}
	return cover
}

// findTakeoverNode moves ip to the node holding the fewest addresses among
// those that can take it over (lowest PNN on ties). It leaves ip alone and
// reports false when no node can.
func (s *state) findTakeoverNode(ip int, cover []int) bool {
	best := Unassigned
	for node := range s.nodes {
		if !s.canTakeover(ip, node) {
			continue
		}
		if best == Unassigned || cover[node] < cover[best] {
			best = node
		}
	}
	if best == Unassigned {
		return false
	}
	if old := s.pnn[ip]; old != Unassigned {
		cover[old]--
	}
	s.pnn[ip] = best
	cover[best]++
	return true
}

func (s *state) basicAllocateUnassigned(cover []int) {
	for ip, pnn := range s.pnn {
		if pnn == Unassigned {
			s.findTakeoverNode(ip, cover)
		}
	}
}

// basicFailback evens out address counts: while some address could live
// on nodes whose counts differ by two or more, the first address of the
// fullest such node is handed to the emptiest node that can take it. Like
// CTDB it gives up after len(addresses)+5 moves.
func (s *state) basicFailback(cover []int) {
	limit := len(s.ips) + 5
	for retries := 0; retries < limit; retries++ {
		maxNode := s.unevenNode(cover)
		if maxNode == Unassigned {
			return
		}
		for ip, pnn := range s.pnn {
			if pnn == maxNode {
				s.findTakeoverNode(ip, cover)
				break
			}
		}
	}
}

// unevenNode scans the assigned addresses in order and returns the fullest
// of the nodes able to take over the first address whose candidate nodes'
// counts differ by more than one, or Unassigned.
func (s *state) unevenNode(cover []int) int {
	for ip, pnn := range s.pnn {
		if pnn == Unassigned {
			continue
		}
		maxNode, minNode := Unassigned, Unassigned
		for node := range s.nodes {
			if !s.canTakeover(ip, node) {
				continue
			}
			if maxNode == Unassigned || cover[node] > cover[maxNode] {
				maxNode = node
			}
			if minNode == Unassigned || cover[node] < cover[minNode] {
				minNode = node
			}
		}
		if maxNode != Unassigned && cover[maxNode] > cover[minNode]+1 {
			return maxNode
		}
	}
	return Unassigned
}
