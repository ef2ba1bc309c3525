package ipalloc

import (
	"fmt"
	"net/netip"
)

// KnownIP is an address configured on a node together with the node's
// idea of who holds it.
type KnownIP struct {
	Addr   netip.Addr
	Holder int
}

// NodeView is what one node reports for a takeover run: the addresses
// configured on it and the subset it could host right now. The leader
// asks only active nodes; the views of the others stay empty.
type NodeView struct {
	Known     []KnownIP
	Available []netip.Addr
}

// Merge builds the cluster-wide address list from per-node views indexed
// by PNN, as CTDB's takeover helper does. A node is believed only about
// the addresses it says it holds itself; when several nodes claim one
// address the highest PNN wins. An address is available on every node
// that reports it available.
func Merge(views []NodeView) ([]IP, error) {
	index := make(map[netip.Addr]int)
	var out []IP
	for pnn, v := range views {
		for _, k := range v.Known {
			if !k.Addr.IsValid() {
				return nil, fmt.Errorf("%w: node %d reports %q", ErrBadAddress, pnn, k.Addr)
			}
			i, ok := index[k.Addr]
			if !ok {
				i = len(out)
				index[k.Addr] = i
				out = append(out, IP{Addr: k.Addr, Holder: Unassigned})
			}
			if k.Holder == pnn {
				out[i].Holder = pnn
			}
		}
	}
	for pnn, v := range views {
		for _, a := range v.Available {
			i, ok := index[a]
			if !ok {
				// An address a node can host but does not know is an
				// inconsistent report; CTDB ignores it as well.
				continue
			}
			out[i].Available = append(out[i].Available, pnn)
		}
	}
	return out, nil
}
