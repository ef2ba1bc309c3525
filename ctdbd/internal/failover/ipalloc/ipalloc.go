// Package ipalloc computes which node hosts each public IP address, the
// way CTDB 4.17's takeover helper does: the deterministic, non-deterministic
// and LCP2 algorithms with the NoIPFailback, NoIPTakeover and
// NoIPHostOnAllDisabled tunables.
//
// The package is pure: it takes a snapshot of the cluster (node flags, the
// public addresses, which nodes can host each one and who holds it now) and
// returns the new assignment. The same input always gives the same output,
// including the tie-breaks, which follow CTDB's iteration order so that
// operators see the same placements as with CTDB.
package ipalloc

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Algorithm is the IPAllocAlgorithm tunable.
type Algorithm int

// The values of the IPAllocAlgorithm tunable.
const (
	Deterministic    Algorithm = 0
	NonDeterministic Algorithm = 1
	LCP2             Algorithm = 2
)

// String returns CTDB's name of the algorithm.
func (a Algorithm) String() string {
	switch a {
	case Deterministic:
		return "deterministic"
	case NonDeterministic:
		return "non-deterministic"
	case LCP2:
		return "LCP2"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Unassigned is the PNN of an address that no node hosts.
const Unassigned = -1

// Flags are a node's state flags, with CTDB's bit values.
type Flags uint32

// Node flags as in CTDB's protocol.
const (
	Disconnected        Flags = 0x01
	Unhealthy           Flags = 0x02
	PermanentlyDisabled Flags = 0x04
	Banned              Flags = 0x08
	Deleted             Flags = 0x10
	Stopped             Flags = 0x20

	// Disabled covers both reasons for a node to be disabled.
	Disabled = Unhealthy | PermanentlyDisabled
	// Inactive nodes take no part in the cluster at all.
	Inactive = Deleted | Disconnected | Banned | Stopped
)

// Node describes one node. Nodes are identified by their PNN, which is
// their index in Input.Nodes.
type Node struct {
	PNN   int
	Flags Flags
	// NoIPHost is set when the node may not host public addresses whatever
	// its flags say, for example because it has not reached the RUNNING
	// runstate yet.
	NoIPHost bool
}

// IP is one public address.
type IP struct {
	Addr netip.Addr
	// Holder is the PNN currently hosting the address, or Unassigned.
	Holder int
	// Available lists the nodes on which the address is configured and
	// usable (at least one of its interfaces is up). Node flags are applied
	// on top of this by the allocation.
	Available []int
}

// Tunables are the tunables that influence the allocation.
type Tunables struct {
	Algorithm Algorithm
	// NoIPFailback stops addresses from moving back to nodes that become
	// healthy; they only move when their holder can no longer host them.
	NoIPFailback bool
	// NoIPTakeover stops addresses from moving to another node at all:
	// addresses stay where they are or become unassigned.
	NoIPTakeover bool
	// NoIPHostOnAllDisabled stops disabled (unhealthy or administratively
	// disabled) nodes from hosting addresses even when every node is
	// disabled. CTDB 4.17 always behaves as if it were set; with it unset
	// a cluster whose nodes are all unhealthy keeps serving its addresses.
	NoIPHostOnAllDisabled bool
}

// Input is a snapshot of the cluster for one allocation.
type Input struct {
	Nodes    []Node
	IPs      []IP
	Tunables Tunables
	// ForceRebalance names nodes that LCP2 may move addresses onto even
	// though they already host some, for example after addresses were
	// added to them.
	ForceRebalance []int
}

// Assignment is the outcome for one address.
type Assignment struct {
	Addr netip.Addr
	PNN  int
}

// Errors returned for inconsistent input.
var (
	ErrNodeOrder    = errors.New("ipalloc: node PNNs must equal their index")
	ErrBadAddress   = errors.New("ipalloc: invalid address")
	ErrDuplicateIP  = errors.New("ipalloc: duplicate address")
	ErrUnknownNode  = errors.New("ipalloc: unknown node")
	ErrUnknownFlags = errors.New("ipalloc: unknown node flags")
)

const knownFlags = Disconnected | Unhealthy | PermanentlyDisabled | Banned | Deleted | Stopped

// Allocate computes the new assignment. The result lists every address of
// the input, in CTDB's processing order (descending address, IPv6 before
// IPv4), each with its new holder or Unassigned.
func Allocate(in Input) ([]Assignment, error) {
	s, err := newState(in)
	if err != nil {
		return nil, err
	}
	switch in.Tunables.Algorithm {
	case Deterministic:
		s.deterministic()
	case NonDeterministic:
		s.nonDeterministic(in.Tunables.NoIPFailback)
	default:
		// CTDB falls back to LCP2 for any value it does not know, so a
		// mistyped tunable never stops takeover runs.
		s.lcp2(in.Tunables.NoIPFailback, in.ForceRebalance)
	}
	out := make([]Assignment, len(s.ips))
	for i, ip := range s.ips {
		out[i] = Assignment{Addr: ip.addr, PNN: s.pnn[i]}
	}
	return out, nil
}

// CanHostIPs reports whether a takeover run has anything to do: some
// address is hosted already or some node could host one. CTDB skips the
// allocation (and the release and take phases) when this is false.
func CanHostIPs(in Input) (bool, error) {
	if err := validate(in); err != nil {
		return false, err
	}
	noHost := noIPHost(in.Nodes, in.Tunables.NoIPHostOnAllDisabled)
	for _, ip := range in.IPs {
		if ip.Holder != Unassigned {
			return true, nil
		}
	}
	for _, ip := range in.IPs {
		for _, pnn := range ip.Available {
			if !noHost[pnn] {
				return true, nil
			}
		}
	}
	return false, nil
}

func validate(in Input) error {
	for i, n := range in.Nodes {
		if n.PNN != i {
			return fmt.Errorf("%w: node %d at index %d", ErrNodeOrder, n.PNN, i)
		}
		if n.Flags&^knownFlags != 0 {
			return fmt.Errorf("%w: node %d has %#x", ErrUnknownFlags, n.PNN, uint32(n.Flags))
		}
	}
	known := func(pnn int) bool { return pnn >= 0 && pnn < len(in.Nodes) }
	seen := make(map[netip.Addr]struct{}, len(in.IPs))
	for _, ip := range in.IPs {
		if !ip.Addr.IsValid() || ip.Addr.Zone() != "" {
			return fmt.Errorf("%w: %q", ErrBadAddress, ip.Addr)
		}
		if _, dup := seen[ip.Addr]; dup {
			return fmt.Errorf("%w: %s", ErrDuplicateIP, ip.Addr)
		}
		seen[ip.Addr] = struct{}{}
		if ip.Holder != Unassigned && !known(ip.Holder) {
			return fmt.Errorf("%w: %s is held by node %d", ErrUnknownNode, ip.Addr, ip.Holder)
		}
		for _, pnn := range ip.Available {
			if !known(pnn) {
				return fmt.Errorf("%w: %s is available on node %d", ErrUnknownNode, ip.Addr, pnn)
			}
		}
	}
	for _, pnn := range in.ForceRebalance {
		if !known(pnn) {
			return fmt.Errorf("%w: rebalance target %d", ErrUnknownNode, pnn)
		}
	}
	return nil
}

// noIPHost returns, per node, whether the node must not host addresses.
// Inactive nodes never host; disabled nodes host only when every node is
// disabled and NoIPHostOnAllDisabled is unset.
func noIPHost(nodes []Node, noHostOnAllDisabled bool) []bool {
	allDisabled := true
	for _, n := range nodes {
		if n.Flags&(Inactive|Disabled) == 0 {
			allDisabled = false
			break
		}
	}
	out := make([]bool, len(nodes))
	for i, n := range nodes {
		switch {
		case n.NoIPHost, n.Flags&Inactive != 0:
			out[i] = true
		case n.Flags&Disabled != 0:
			out[i] = !allDisabled || noHostOnAllDisabled
		}
	}
	return out
}

type ipEntry struct {
	addr netip.Addr
	key  ipKey
}

// state is the working copy of one allocation. Addresses are indexed in
// CTDB's order; per-address data lives in flat slices.
type state struct {
	ips          []ipEntry
	nodes        int
	pnn          []int  // current holder per address
	canHost      []bool // [ip*nodes+node]: available there and the node may host
	noIPTakeover bool
}

func newState(in Input) (*state, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	order := make([]int, len(in.IPs))
	for i := range order {
		order[i] = i
	}
	keys := make([]ipKey, len(in.IPs))
	for i, ip := range in.IPs {
		keys[i] = keyOf(ip.Addr)
	}
	// CTDB keeps the merged list in a tree keyed by the address and then
	// prepends while walking it in ascending order: the list is descending.
	slices.SortStableFunc(order, func(a, b int) int {
		if c := keys[b].compare(keys[a]); c != 0 {
			return c
		}
		// Only an IPv4 address and its IPv4-compatible IPv6 form share a
		// key; CTDB would merge them, we keep both in a fixed order.
		return in.IPs[b].Addr.Compare(in.IPs[a].Addr)
	})

	n := len(in.Nodes)
	noHost := noIPHost(in.Nodes, in.Tunables.NoIPHostOnAllDisabled)
	s := &state{
		ips:          make([]ipEntry, len(order)),
		nodes:        n,
		pnn:          make([]int, len(order)),
		canHost:      make([]bool, len(order)*n),
		noIPTakeover: in.Tunables.NoIPTakeover,
	}
	for i, src := range order {
		ip := in.IPs[src]
		s.ips[i] = ipEntry{addr: ip.Addr, key: keys[src]}
		s.pnn[i] = ip.Holder
		for _, pnn := range ip.Available {
			s.canHost[i*n+pnn] = !noHost[pnn]
		}
	}
	return s, nil
}

func (s *state) canHostIP(ip, node int) bool { return s.canHost[ip*s.nodes+node] }

func (s *state) canTakeover(ip, node int) bool {
	return !s.noIPTakeover && s.canHost[ip*s.nodes+node]
}

// unassignUnsuitable drops every address from a holder that can no longer
// host it. NoIPTakeover does not apply: holding on is not taking over.
func (s *state) unassignUnsuitable() {
	for i, pnn := range s.pnn {
		if pnn != Unassigned && !s.canHostIP(i, pnn) {
			s.pnn[i] = Unassigned
		}
	}
}
