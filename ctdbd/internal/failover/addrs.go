package failover

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"gctdb/ctdbd/internal/failover/publicaddr"
	"gctdb/transportd/proto"
)

// Errors of the address table.
var (
	ErrNotPublic  = errors.New("not a public address of this node")
	ErrExists     = errors.New("public address already configured")
	ErrNoIface    = errors.New("no interface of the address is up")
	ErrUnknownIfc = errors.New("interface not configured")
)

// pubAddr is one configured public address and what this node knows
// about it.
type pubAddr struct {
	addr   netip.Addr
	bits   uint8
	ifaces []string
	// holder is the node this node believes hosts the address.
	holder uint32
	// active is the interface the address is on while this node hosts
	// it, "" otherwise.
	active string
	// deletePending marks an address removed from the configuration
	// while hosted here; it goes at the next release.
	deletePending bool
	// real is set when the address was found on the interface after
	// takeip, so it is a real address (not local-daemons bookkeeping)
	// whose disappearance must be repaired.
	real bool
}

func (a *pubAddr) held(self uint32) bool { return a.holder == self && a.active != "" }

// ifaceState is an interface's link state as the event scripts report it.
type ifaceState struct {
	up bool
}

// table is a node's public addresses and interfaces. It does no I/O and
// is not safe for concurrent use; the service guards it.
type table struct {
	self   uint32
	addrs  map[netip.Addr]*pubAddr
	ifaces map[string]*ifaceState
}

func newTable(self uint32) *table {
	return &table{self: self, addrs: make(map[netip.Addr]*pubAddr), ifaces: make(map[string]*ifaceState)}
}

func (t *table) iface(name string) *ifaceState {
	i := t.ifaces[name]
	if i == nil {
		// CTDB assumes a new interface is up until 10.interface says
		// otherwise.
		i = &ifaceState{up: true}
		t.ifaces[name] = i
	}
	return i
}

// add configures a new address.
func (t *table) add(a publicaddr.Address) error {
	addr := a.Addr().Unmap()
	if p, ok := t.addrs[addr]; ok {
		if p.deletePending {
			// Re-added before its release: keep it.
			p.deletePending = false
			p.ifaces = slices.Clone(a.Interfaces)
			return nil
		}
		return fmt.Errorf("%w: %s", ErrExists, addr)
	}
	t.addrs[addr] = &pubAddr{addr: addr, bits: uint8(a.Prefix.Bits()), ifaces: slices.Clone(a.Interfaces), holder: proto.PNNUnknown}
	for _, i := range a.Interfaces {
		t.iface(i)
	}
	return nil
}

// del removes an address; one hosted here is only marked and goes when
// it is released (deferred).
func (t *table) del(addr netip.Addr) (deferred bool, err error) {
	p, ok := t.addrs[addr.Unmap()]
	if !ok || p.deletePending {
		return false, fmt.Errorf("%w: %s", ErrNotPublic, addr)
	}
	if p.held(t.self) {
		p.deletePending = true
		return true, nil
	}
	delete(t.addrs, p.addr)
	return false, nil
}

// reload applies a re-read public_addresses file: new addresses are
// added, missing ones deleted (deferred while hosted), and changed masks
// or interface lists are updated in place.
func (t *table) reload(list []publicaddr.Address) (added, removed []netip.Addr) {
	want := make(map[netip.Addr]publicaddr.Address, len(list))
	for _, a := range list {
		want[a.Addr().Unmap()] = a
	}
	for addr, p := range t.addrs {
		a, ok := want[addr]
		if !ok {
			if !p.deletePending {
				if _, err := t.del(addr); err == nil {
					removed = append(removed, addr)
				}
			}
			continue
		}
		delete(want, addr)
		p.deletePending = false
		p.bits, p.ifaces = uint8(a.Prefix.Bits()), slices.Clone(a.Interfaces)
		for _, i := range a.Interfaces {
			t.iface(i)
		}
	}
	for addr, a := range want {
		if t.add(a) == nil {
			added = append(added, addr)
		}
	}
	slices.SortFunc(added, netip.Addr.Compare)
	slices.SortFunc(removed, netip.Addr.Compare)
	return added, removed
}

// sorted returns the addresses in CTDB's `ctdb ip` order.
func (t *table) sorted() []*pubAddr {
	out := make([]*pubAddr, 0, len(t.addrs))
	for _, p := range t.addrs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *pubAddr) int { return a.addr.Compare(b.addr) })
	return out
}

// available reports whether this node could host p now.
func (t *table) available(p *pubAddr) bool {
	return !p.deletePending && t.bestIface(p) != ""
}

// bestIface picks the interface to take p on: the current one while it
// is up, otherwise the up interface with the fewest addresses, first in
// configuration order on a tie, as CTDB chooses.
func (t *table) bestIface(p *pubAddr) string {
	if p.active != "" && slices.Contains(p.ifaces, p.active) && t.iface(p.active).up {
		return p.active
	}
	best, bestRefs := "", uint32(0)
	for _, name := range p.ifaces {
		if !t.iface(name).up {
			continue
		}
		refs := t.refs(name)
		if best == "" || refs < bestRefs {
			best, bestRefs = name, refs
		}
	}
	return best
}

// refs counts the addresses hosted here on an interface.
func (t *table) refs(name string) uint32 {
	var n uint32
	for _, p := range t.addrs {
		if p.active == name {
			n++
		}
	}
	return n
}

func (t *table) publicIP(p *pubAddr) proto.PublicIP {
	return proto.PublicIP{Addr: p.addr, Bits: p.bits, PNN: p.holder, Available: t.available(p)}
}

// list answers OpGetPublicIPs.
func (t *table) list(canHost bool) *proto.PublicIPList {
	l := &proto.PublicIPList{CanHost: canHost}
	for _, p := range t.sorted() {
		l.IPs = append(l.IPs, t.publicIP(p))
	}
	return l
}

func (t *table) ifaceInfo(name string) proto.Iface {
	return proto.Iface{Name: name, LinkUp: t.iface(name).up, References: t.refs(name)}
}

// info answers OpGetPublicIPInfo.
func (t *table) info(addr netip.Addr) (*proto.PublicIPInfo, error) {
	p, ok := t.addrs[addr.Unmap()]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotPublic, addr)
	}
	info := &proto.PublicIPInfo{IP: t.publicIP(p), Active: proto.NoActiveIface}
	for i, name := range p.ifaces {
		info.Ifaces = append(info.Ifaces, t.ifaceInfo(name))
		if name == p.active {
			info.Active = uint32(i)
		}
	}
	return info, nil
}

// ifaceNames lists the interfaces in use: those of configured addresses
// and those addresses are still on. An interface nothing refers to any
// more is forgotten (CTDB's interface garbage collection).
func (t *table) ifaceNames() []string {
	seen := make(map[string]bool)
	for _, p := range t.addrs {
		for _, i := range p.ifaces {
			seen[i] = true
		}
		if p.active != "" {
			seen[p.active] = true
		}
	}
	for name := range t.ifaces {
		if !seen[name] {
			delete(t.ifaces, name)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ifaceList answers OpGetIfaces.
func (t *table) ifaceList() *proto.IfaceList {
	l := &proto.IfaceList{}
	for _, name := range t.ifaceNames() {
		l.Ifaces = append(l.Ifaces, t.ifaceInfo(name))
	}
	return l
}

// setLink records an interface's link state and reports whether it
// changed.
func (t *table) setLink(name string, up bool) (bool, error) {
	if !slices.Contains(t.ifaceNames(), name) {
		return false, fmt.Errorf("%w: %s", ErrUnknownIfc, name)
	}
	i := t.iface(name)
	changed := i.up != up
	i.up = up
	return changed, nil
}

// anyLinkDown reports whether an interface in use is down (the node is
// PARTIALLYONLINE in ctdb status).
func (t *table) anyLinkDown() bool {
	for _, n := range t.ifaceNames() {
		if !t.iface(n).up {
			return true
		}
	}
	return false
}

// taken records that this node now hosts p on iface.
func (t *table) taken(p *pubAddr, iface string, real bool) {
	p.holder, p.active, p.real = t.self, iface, real
}

// released records that this node gave p up and who hosts it now. It
// reports whether the address left the configuration (pending delete).
func (t *table) released(p *pubAddr, newHolder uint32) (deleted bool) {
	p.active, p.real = "", false
	p.holder = newHolder
	if p.deletePending {
		delete(t.addrs, p.addr)
		return true
	}
	return false
}

// heldAddrs returns the addresses hosted here, sorted.
func (t *table) heldAddrs() []*pubAddr {
	var out []*pubAddr
	for _, p := range t.sorted() {
		if p.held(t.self) {
			out = append(out, p)
		}
	}
	return out
}

// lookup finds a configured address.
func (t *table) lookup(addr netip.Addr) (*pubAddr, bool) {
	p, ok := t.addrs[addr.Unmap()]
	return p, ok
}

// eventArgs are the takeip/releaseip arguments: iface, address, bits.
func (p *pubAddr) eventArgs(iface string) []string {
	return []string{iface, p.addr.String(), fmt.Sprint(p.bits)}
}

func (p *pubAddr) String() string {
	return fmt.Sprintf("%s/%d %s", p.addr, p.bits, strings.Join(p.ifaces, ","))
}
