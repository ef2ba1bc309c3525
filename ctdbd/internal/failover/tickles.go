package failover

import (
	"net/netip"
	"slices"

	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/transportd/proto"
)

// tickleSet is what one node knows about the client connections to one
// public address.
type tickleSet struct {
	// manual were added explicitly (ctdb addtickle, smbd) and stay until
	// deleted.
	manual map[tcpconn.Connection]struct{}
	// scanned were found in the kernel's socket table while this node
	// hosted the address.
	scanned []tcpconn.Connection
	// remote is the list the holder last shared.
	remote []tcpconn.Connection
	// sent is the list this node last shared as holder.
	sent []tcpconn.Connection
}

// tickles holds the tickle sets of every public address. It does no I/O
// and is not safe for concurrent use.
type tickles struct {
	sets map[netip.Addr]*tickleSet
}

func newTickles() *tickles { return &tickles{sets: make(map[netip.Addr]*tickleSet)} }

func (t *tickles) set(addr netip.Addr) *tickleSet {
	s := t.sets[addr]
	if s == nil {
		s = &tickleSet{manual: make(map[tcpconn.Connection]struct{})}
		t.sets[addr] = s
	}
	return s
}

func (t *tickles) add(c tcpconn.Connection) { t.set(c.Server.Addr()).add(c) }

func (s *tickleSet) add(c tcpconn.Connection) { s.manual[c] = struct{}{} }

func (t *tickles) del(c tcpconn.Connection) {
	if s := t.sets[c.Server.Addr()]; s != nil {
		delete(s.manual, c)
		s.scanned = slices.DeleteFunc(s.scanned, func(x tcpconn.Connection) bool { return x == c })
		s.remote = slices.DeleteFunc(s.remote, func(x tcpconn.Connection) bool { return x == c })
	}
}

// all returns every connection known for addr, sorted and without
// duplicates.
func (t *tickles) all(addr netip.Addr) []tcpconn.Connection {
	s := t.sets[addr]
	if s == nil {
		return nil
	}
	out := slices.Concat(s.scanned, s.remote)
	for c := range s.manual {
		out = append(out, c)
	}
	slices.SortFunc(out, tcpconn.Connection.Compare)
	return slices.Compact(out)
}

// local is what a holder shares: its own connections, not the ones the
// previous holder reported.
func (t *tickles) local(addr netip.Addr) []tcpconn.Connection {
	s := t.sets[addr]
	if s == nil {
		return nil
	}
	out := slices.Clone(s.scanned)
	for c := range s.manual {
		out = append(out, c)
	}
	slices.SortFunc(out, tcpconn.Connection.Compare)
	return slices.Compact(out)
}

// setScanned replaces the connections found in the socket table.
func (t *tickles) setScanned(addr netip.Addr, conns []tcpconn.Connection) {
	t.set(addr).scanned = conns
}

// setRemote replaces the holder's shared list.
func (t *tickles) setRemote(addr netip.Addr, conns []tcpconn.Connection) {
	t.set(addr).remote = conns
}

// toShare returns the list to send for an address this node hosts, and
// whether it differs from what was sent last (or force is set).
func (t *tickles) toShare(addr netip.Addr, force bool) ([]tcpconn.Connection, bool) {
	cur := t.local(addr)
	s := t.set(addr)
	if !force && slices.Equal(cur, s.sent) {
		return nil, false
	}
	s.sent = cur
	return cur, true
}

// tookOver drops what the previous holder reported once its clients have
// been tickled: those connections are gone.
func (t *tickles) tookOver(addr netip.Addr) {
	if s := t.sets[addr]; s != nil {
		s.remote, s.sent = nil, nil
	}
}

// released forgets what this node found while it hosted addr.
func (t *tickles) released(addr netip.Addr) {
	if s := t.sets[addr]; s != nil {
		s.scanned, s.sent = nil, nil
	}
}

func toConn(c proto.TCPConnection) tcpconn.Connection {
	return tcpconn.Connection{Client: unmapPort(c.Client), Server: unmapPort(c.Server)}
}

func fromConn(c tcpconn.Connection) proto.TCPConnection {
	return proto.TCPConnection{Client: c.Client, Server: c.Server}
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func tickleList(addr netip.Addr, conns []tcpconn.Connection) *proto.TickleList {
	l := &proto.TickleList{Addr: addr}
	for _, c := range conns {
		l.Conns = append(l.Conns, fromConn(c))
	}
	return l
}
