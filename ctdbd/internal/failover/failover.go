// Package failover is the failover service: it keeps a node's public
// addresses (public_addresses, `ctdb addip/delip/reloadips`), their
// interfaces and link states, takes and releases addresses through the
// takeip/releaseip/updateip events, announces taken addresses with
// gratuitous ARP and tickles the clients recorded for them so they
// reconnect at once, and shares those client lists with the other nodes.
//
// On the leader it also drives takeover runs (takeover.go): it asks every
// connected node for its addresses, allocates them with package ipalloc
// (LCP2 by default), releases everywhere first and then takes, and ends
// with ipreallocated on every node. Runs start at once when a node's
// flags, connectivity or runstate change, when a node asks (its interface
// went down, `ctdb ipreallocate`, `ctdb addip`) and after a failed run.
//
// Every second each node checks its own addresses: an address found on
// an interface that this node does not hold is removed (a rogue address
// left by a node that was cut off or killed), a held address whose
// interface went away is taken again, and an inactive (banned or
// stopped) node releases everything it holds.
package failover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/failover/ipalloc"
	"gctdb/ctdbd/internal/failover/publicaddr"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// errCannotHost refuses to take an address on a node that may not host.
var errCannotHost = errors.New("node cannot host public addresses now")

// Options are the failover service's settings.
type Options struct {
	// PublicAddressesFile is public_addresses; a missing file means no
	// public addresses.
	PublicAddressesFile string
	// Disabled is [failover] disabled: addresses are listed but never
	// hosted, and takeover runs do nothing.
	Disabled bool
	// Network is the host's network; nil means NewHostNetwork.
	Network Network
	// VerifyInterval is how often the node checks its own addresses and
	// shares its client connections; 0 means one second.
	VerifyInterval time.Duration
}

// Service is the failover service.
type Service struct {
	service.Base
	opts Options
	log  *slog.Logger
	port rpc.Port
	pnn  uint32
	net  Network
	lead leadership
	drv  *driver

	mu           sync.Mutex
	tab          *table
	tick         *tickles
	tun          config.Tunables
	runstate     proto.Runstate
	flags        uint32
	peerRunstate map[uint32]proto.Runstate
	nodeMap      *proto.NodeMap
	nodeSig      string
	evacuating   bool
	// fwdBusy is set while a request for a takeover run is on its way to
	// the leader; fwdWanted and fwdRebalance collect the next one.
	fwdBusy      bool
	fwdWanted    bool
	fwdRebalance []uint32
	rogueTried   map[netip.Addr]time.Time
	// maxTerm is the newest leader term seen in takes and releases.
	maxTerm   uint64
	lastShare time.Time

	// ipMu serialises changes of the addresses this node hosts.
	ipMu sync.Mutex
	work service.Workers
}

var _ service.Service = (*Service)(nil)

// New returns the failover service.
func New(opts Options) *Service {
	if opts.VerifyInterval == 0 {
		opts.VerifyInterval = time.Second
	}
	return &Service{opts: opts, peerRunstate: make(map[uint32]proto.Runstate), rogueTried: make(map[netip.Addr]time.Time)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceFailover }

// Init implements service.Service: it reads public_addresses.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.tun = config.DefaultTunables()
	if env.Tunables != nil {
		s.tun = *env.Tunables
	}
	s.net = s.opts.Network
	if s.net == nil {
		s.net = NewHostNetwork(s.log)
	}
	s.tab, s.tick = newTable(s.pnn), newTickles()
	addrs, err := s.readAddresses()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := s.tab.add(a); err != nil {
			return fmt.Errorf("failover: %w", err)
		}
	}
	s.lead = newClusterLeader(s.pnn, s.port)
	s.drv = newDriver(portCluster{s}, s.lead, s.driverConfig, s.log)
	for _, srvid := range append([]uint64{proto.SrvIDNodeMap, proto.SrvIDRunstate, proto.SrvIDTunables, proto.SrvIDRecovered}, s.lead.srvids()...) {
		if err := s.port.RegisterSrvID(ctx, srvid); err != nil {
			return fmt.Errorf("failover: register srvid %#x: %w", srvid, err)
		}
	}
	return nil
}

func (s *Service) readAddresses() ([]publicaddr.Address, error) {
	if s.opts.PublicAddressesFile == "" {
		return nil, nil
	}
	addrs, err := publicaddr.ParseFile(s.opts.PublicAddressesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	return addrs, nil
}

// Reconfigure implements service.Service.
func (s *Service) Reconfigure(_ context.Context, env *service.Env) error {
	if env.Tunables != nil {
		s.mu.Lock()
		s.tun = *env.Tunables
		s.mu.Unlock()
	}
	return nil
}

func (s *Service) driverConfig() driverConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return driverConfig{
		tunables: ipalloc.Tunables{
			Algorithm:    ipalloc.Algorithm(s.tun.IPAllocAlgorithm),
			NoIPFailback: s.tun.NoIPFailback != 0,
			NoIPTakeover: s.tun.NoIPTakeover != 0,
			// CTDB 4.17 made NoIPHostOnAllDisabled obsolete and always
			// behaves as if it were set.
			NoIPHostOnAllDisabled: true,
		},
		timeout:  time.Duration(max(s.tun.TakeoverTimeout, 1)) * time.Second,
		disabled: s.opts.Disabled,
	}
}

// Run implements service.Service: the takeover driver (used while this
// node leads) and the once-a-second check of the node's own addresses.
func (s *Service) Run(ctx context.Context) error {
	s.lead.start(ctx)
	s.goWork(func() { s.drv.loop(ctx) })
	s.syncNodeState(ctx)
	t := time.NewTicker(s.opts.VerifyInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.work.Close()
			if c, ok := s.net.(interface{ Close() error }); ok {
				c.Close()
			}
			return nil
		case <-t.C:
			s.verify(ctx)
		}
	}
}

// syncNodeState learns the runstate and the node map from the node
// service, whose announcements may have gone out before this service
// listened.
func (s *Service) syncNodeState(ctx context.Context) {
	var rs proto.U32
	if err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpGetRunstate, nil, &rs); err == nil {
		s.mu.Lock()
		s.runstate = max(s.runstate, proto.Runstate(rs.V))
		running := s.runstate == proto.RunstateRunning
		s.mu.Unlock()
		if running {
			s.requestRun(ctx, []uint32{s.pnn})
		}
	}
	var nm proto.NodeMap
	if err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpGetNodeMap, nil, &nm); err == nil {
		s.mu.Lock()
		if s.nodeMap == nil {
			s.nodeMap = &nm
			for _, n := range nm.Nodes {
				if n.PNN == s.pnn {
					s.flags = n.Flags
				}
			}
		}
		s.mu.Unlock()
	}
}

// canHostLocked reports whether this node may host addresses now.
func (s *Service) canHostLocked() bool {
	return s.runstate == proto.RunstateRunning && !s.evacuating && !s.opts.Disabled && s.flags&proto.NodeFlagsInactive == 0
}

// goWork runs fn in a goroutine the service owns; after shutdown began
// it does nothing.
func (s *Service) goWork(fn func()) { s.work.Go(fn) }

// Dispatch implements service.Service. Requests that run events or wait
// for other nodes are served in goroutines the service owns.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleMessage(ctx, m)
		return
	}
	reply := func(st proto.Status, msg string, body proto.Payload) { s.port.Reply(m, st, msg, body) }
	// done answers with the outcome of a request that has no result.
	done := func(err error) {
		if err != nil {
			reply(statusOf(err), err.Error(), nil)
			return
		}
		reply(proto.StatusOK, "", nil)
	}
	spawn := func(fn func() error) {
		if !s.work.Go(func() { done(fn()) }) {
			reply(proto.StatusShutdown, "failover service is stopping", nil)
		}
	}
	decode := func(p proto.Payload) bool {
		if err := proto.DecodePayload(m, p); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return false
		}
		return true
	}
	switch m.Opcode {
	case proto.OpGetPublicIPs:
		s.mu.Lock()
		l := s.tab.list(s.canHostLocked())
		s.mu.Unlock()
		reply(proto.StatusOK, "", l)
	case proto.OpGetPublicIPInfo:
		var a proto.IPAddr
		if !decode(&a) {
			return
		}
		s.mu.Lock()
		info, err := s.tab.info(a.Addr)
		s.mu.Unlock()
		if err != nil {
			done(err)
			return
		}
		reply(proto.StatusOK, "", info)
	case proto.OpGetIfaces:
		s.mu.Lock()
		l := s.tab.ifaceList()
		s.mu.Unlock()
		reply(proto.StatusOK, "", l)
	case proto.OpSetIfaceLink:
		var l proto.IfaceLink
		if decode(&l) {
			done(s.setIfaceLink(ctx, &l))
		}
	case proto.OpTakeIP:
		var a proto.IPAssignment
		if decode(&a) {
			spawn(func() error { return s.takeIP(ctx, a) })
		}
	case proto.OpReleaseIP:
		var a proto.IPAssignment
		if decode(&a) {
			spawn(func() error { return s.releaseIP(ctx, a) })
		}
	case proto.OpIPReallocated:
		spawn(func() error { return s.runEvent(ctx, "ipreallocated") })
	case proto.OpAddPublicIP:
		var a proto.PublicAddress
		if decode(&a) {
			done(s.addIP(ctx, &a))
		}
	case proto.OpDelPublicIP:
		var a proto.IPAddr
		if decode(&a) {
			spawn(func() error { return s.delIP(ctx, a.Addr) })
		}
	case proto.OpReloadIPs:
		spawn(func() error { return s.reloadIPs(ctx) })
	case proto.OpTakeoverRun:
		var r proto.TakeoverRequest
		if decode(&r) {
			spawn(func() error { return s.takeoverRun(ctx, &r) })
		}
	case proto.OpMoveIP:
		var a proto.IPAssignment
		if decode(&a) {
			spawn(func() error { return s.moveIP(ctx, a) })
		}
	case proto.OpGetTickles:
		var q proto.IPAddrPort
		if !decode(&q) {
			return
		}
		s.mu.Lock()
		conns := s.tick.all(q.Addr.Unmap())
		s.mu.Unlock()
		if q.Port != 0 {
			conns = slices.DeleteFunc(conns, func(c tcpconn.Connection) bool { return c.Server.Port() != q.Port })
		}
		reply(proto.StatusOK, "", tickleList(q.Addr, conns))
	case proto.OpAddTickle, proto.OpDelTickle:
		var c proto.TCPConnection
		if decode(&c) {
			done(s.changeTickle(toConn(c), m.Opcode == proto.OpAddTickle))
		}
	case proto.OpSetTickles:
		var l proto.TickleList
		if decode(&l) {
			s.setRemoteTickles(&l)
		}
	case proto.OpSendGratArp:
		var a proto.AddrIface
		if decode(&a) {
			done(s.net.Announce(a.Iface, a.Addr.Unmap()))
		}
	case proto.OpSendTickle:
		var c proto.TCPConnection
		if decode(&c) {
			done(s.net.Tickle([]tcpconn.Connection{toConn(c)}))
		}
	case proto.OpEvacuate:
		var ms proto.U32
		if decode(&ms) {
			spawn(func() error {
				s.evacuate(ctx, time.Duration(ms.V)*time.Millisecond)
				return nil
			})
		}
	default:
		reply(proto.StatusUnsupported, fmt.Sprintf("failover service does not handle %s", m.Opcode), nil)
	}
}

// setIfaceLink serves OpSetIfaceLink; a change asks for a takeover run,
// as addresses may have become available or unavailable.
func (s *Service) setIfaceLink(ctx context.Context, l *proto.IfaceLink) error {
	s.mu.Lock()
	changed, err := s.tab.setLink(l.Name, l.Up)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if changed {
		s.log.Log(ctx, slog.Level(2), "interface link changed", "iface", l.Name, "up", l.Up)
		s.requestRun(ctx, nil)
	}
	return nil
}

// addIP serves OpAddPublicIP; the leader may move addresses onto this
// node now.
func (s *Service) addIP(ctx context.Context, a *proto.PublicAddress) error {
	pfx := netip.PrefixFrom(a.Addr.Unmap(), int(a.Bits))
	pa := publicaddr.Address{Prefix: pfx, Interfaces: a.Ifaces}
	if err := publicaddr.Check(pa); err != nil {
		return &proto.StatusError{Status: proto.StatusInvalid, Msg: fmt.Sprintf("add %s/%d: %v", a.Addr, a.Bits, err)}
	}
	// ipMu: a re-added address may be in the middle of its release.
	s.ipMu.Lock()
	s.mu.Lock()
	err := s.tab.add(pa)
	s.mu.Unlock()
	s.ipMu.Unlock()
	if err != nil {
		return err
	}
	s.log.Log(ctx, slog.Level(2), "public address added", "ip", pfx, "ifaces", a.Ifaces)
	s.requestRun(ctx, []uint32{s.pnn})
	return nil
}

// delIP serves OpDelPublicIP.
func (s *Service) delIP(ctx context.Context, addr netip.Addr) error {
	s.ipMu.Lock()
	s.mu.Lock()
	deferred, err := s.tab.del(addr)
	s.mu.Unlock()
	s.ipMu.Unlock()
	if err != nil {
		return err
	}
	s.log.Log(ctx, slog.Level(2), "public address deleted", "ip", addr, "at_next_takeover_run", deferred)
	return nil
}

// changeTickle records or forgets a client connection of a public
// address of this node.
func (s *Service) changeTickle(c tcpconn.Connection, add bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tab.lookup(c.Server.Addr()); !ok {
		return fmt.Errorf("%w: %s", ErrNotPublic, c.Server.Addr())
	}
	if add {
		s.tick.add(c)
	} else {
		s.tick.del(c)
	}
	return nil
}

// statusOf maps the service's errors to reply statuses.
func statusOf(err error) proto.Status {
	switch {
	case errors.Is(err, ErrNotPublic), errors.Is(err, ErrUnknownIfc):
		return proto.StatusNotFound
	case errors.Is(err, ErrExists):
		return proto.StatusExists
	case errors.Is(err, errCannotHost):
		return proto.StatusBusy
	case errors.Is(err, errNotLeader):
		return proto.StatusNotLeader
	case errors.Is(err, context.DeadlineExceeded):
		return proto.StatusTimeout
	}
	if st := proto.StatusOf(err); st != proto.StatusOK {
		return st
	}
	return proto.StatusFailed
}

func (s *Service) handleMessage(ctx context.Context, m *proto.Message) {
	leaderChanged := s.lead.handle(m)
	switch {
	case m.Dst.ID == proto.SrvIDNodeMap:
		var nm proto.NodeMap
		if proto.DecodePayload(m, &nm) == nil {
			s.mu.Lock()
			var lost []uint32
			if s.nodeMap != nil && len(s.nodeMap.Nodes) == len(nm.Nodes) {
				for i, n := range nm.Nodes {
					if n.Flags&proto.NodeFlagDisconnected != 0 && s.nodeMap.Nodes[i].Flags&proto.NodeFlagDisconnected == 0 {
						lost = append(lost, n.PNN)
					}
				}
			}
			s.nodeMap = &nm
			s.mu.Unlock()
			s.drv.nodesDown(lost)
			s.leaderCheckState()
		}
	case m.Dst.ID == proto.SrvIDNodeFlags && m.Opcode == proto.OpNodeFlags:
		var f proto.NodeFlags
		if proto.DecodePayload(m, &f) != nil {
			break
		}
		s.mu.Lock()
		if f.PNN == s.pnn {
			s.flags = f.Flags
		} else {
			s.peerRunstate[f.PNN] = f.Runstate
		}
		s.mu.Unlock()
		if f.PNN != s.pnn {
			s.leaderCheckState()
		}
	case m.Dst.ID == proto.SrvIDRunstate && m.Opcode == proto.OpRunstate:
		var v proto.U32
		if proto.DecodePayload(m, &v) != nil {
			break
		}
		rs := proto.Runstate(v.V)
		s.mu.Lock()
		s.runstate = rs
		s.mu.Unlock()
		if rs == proto.RunstateRunning {
			// Now this node can host: ask for its share, moving
			// addresses from others if need be (a run may have
			// placed them all elsewhere while this node started).
			s.requestRun(ctx, []uint32{s.pnn})
		}
	case m.Dst.ID == proto.SrvIDRecovered && m.Opcode == proto.OpRecovered:
		// Every recovery is followed by a takeover run, as in CTDB: the
		// node set it recovered is the one that should host.
		if p, ok := s.lead.leader(); ok && p == s.pnn {
			s.drv.request(nil)
		}
	case m.Dst.ID == proto.SrvIDTunables && m.Opcode == proto.OpListTunables:
		var l proto.TunableList
		if proto.DecodePayload(m, &l) == nil {
			s.mu.Lock()
			for _, t := range l.Tunables {
				_ = s.tun.Set(t.Name, t.Value)
			}
			s.mu.Unlock()
		}
	}
	if leaderChanged {
		s.leadershipChanged(ctx)
	}
}

// leadershipChanged starts a takeover run when this node became leader.
func (s *Service) leadershipChanged(ctx context.Context) {
	if p, ok := s.lead.leader(); ok && p == s.pnn {
		s.log.Log(ctx, slog.Level(2), "this node leads: takeover run")
		s.drv.request(nil)
	}
}

// leaderCheckState starts a takeover run on the leader when what matters
// to the allocation (flags, connectivity, who is RUNNING) changed.
func (s *Service) leaderCheckState() {
	s.mu.Lock()
	sig := ""
	if s.nodeMap != nil {
		for _, n := range s.nodeMap.Nodes {
			rs := s.peerRunstate[n.PNN]
			if n.PNN == s.pnn {
				rs = s.runstate
			}
			sig += fmt.Sprintf("%d:%x:%t;", n.PNN, n.Flags, rs == proto.RunstateRunning)
		}
	}
	changed := sig != s.nodeSig
	s.nodeSig = sig
	s.mu.Unlock()
	if p, ok := s.lead.leader(); changed && ok && p == s.pnn {
		s.drv.request(nil)
	}
}

// requestRun asks the leader for a takeover run without waiting for it.
// Requests made while one is on its way to the leader are sent together
// once it is answered.
func (s *Service) requestRun(ctx context.Context, rebalance []uint32) {
	if p, ok := s.lead.leader(); ok && p == s.pnn {
		s.drv.request(rebalance)
		return
	}
	s.mu.Lock()
	s.fwdRebalance = append(s.fwdRebalance, rebalance...)
	s.fwdWanted = true
	busy := s.fwdBusy
	s.fwdBusy = true
	s.mu.Unlock()
	if busy {
		return
	}
	s.goWork(func() {
		for {
			s.mu.Lock()
			if !s.fwdWanted {
				s.fwdBusy = false
				s.mu.Unlock()
				return
			}
			req := &proto.TakeoverRequest{From: s.pnn, Rebalance: s.fwdRebalance}
			s.fwdWanted, s.fwdRebalance = false, nil
			s.mu.Unlock()
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := s.forwardRun(c, req)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("takeover run request failed", "err", err)
			}
		}
	})
}

// takeoverRun serves OpTakeoverRun: on the leader a run, elsewhere the
// request is passed on to the leader.
func (s *Service) takeoverRun(ctx context.Context, r *proto.TakeoverRequest) error {
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return s.forwardRun(c, r)
}

// leaderPoll is how often a node looks for the leader again while it has
// a request for it.
const leaderPoll = 100 * time.Millisecond

// forwardRun runs a takeover on the leader, wherever it is, and waits for
// it, following leadership changes until ctx ends.
func (s *Service) forwardRun(ctx context.Context, r *proto.TakeoverRequest) error {
	for {
		leader, ok := s.lead.leader()
		var err error
		switch {
		case !ok:
			err = errNotLeader
		case leader == s.pnn:
			select {
			case err = <-s.drv.request(r.Rebalance):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			err = rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: leader, Service: proto.ServiceFailover}, proto.OpTakeoverRun, r, nil)
		}
		if err == nil {
			return nil
		}
		st := statusOf(err)
		if !errors.Is(err, errNotLeader) && st != proto.StatusNotLeader && st != proto.StatusUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader ran the takeover: %w", ctx.Err())
		case <-time.After(leaderPoll):
		}
	}
}

// moveIP serves OpMoveIP, on the leader or passed on to it.
func (s *Service) moveIP(ctx context.Context, a proto.IPAssignment) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		leader, ok := s.lead.leader()
		var err error
		switch {
		case !ok:
			err = errNotLeader
		case leader == s.pnn:
			select {
			case err = <-s.drv.move(a.Addr.Unmap(), a.PNN):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			err = rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: leader, Service: proto.ServiceFailover}, proto.OpMoveIP, &a, nil)
		}
		if err == nil || !(errors.Is(err, errNotLeader) || statusOf(err) == proto.StatusNotLeader) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaderPoll):
		}
	}
}

// runEvent runs an event on this node's event service.
func (s *Service) runEvent(ctx context.Context, ev string, args ...string) error {
	s.mu.Lock()
	timeout := time.Duration(s.tun.EventScriptTimeout) * time.Second
	s.mu.Unlock()
	c, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var res proto.EventResult
	err := rpc.CallTyped(c, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceEvent}, proto.OpEventRun,
		&proto.EventRun{Component: "legacy", Event: ev, Args: args}, &res)
	if err != nil {
		return fmt.Errorf("%s event: %w", ev, err)
	}
	if res.Result != proto.EventResultOK {
		for _, sr := range res.Scripts {
			if sr.Status != proto.ScriptOK && sr.Status != proto.ScriptDisabled {
				return fmt.Errorf("%s event failed: script %s: %q", ev, sr.Name, sr.Output)
			}
		}
		return fmt.Errorf("%s event failed (result %d)", ev, res.Result)
	}
	return nil
}

// present reports whether the public address p is configured on one of
// its interfaces, and on which. The same address on another interface
// is not this public address (a local-daemons address that happens to
// be a real one of the host), and is left alone.
func (s *Service) present(p *pubAddr) (string, bool) {
	all, err := s.net.Present()
	if err != nil {
		s.log.Warn("cannot list local addresses", "err", err)
		return "", false
	}
	return presentOn(all, p)
}

func presentOn(all map[netip.Addr]string, p *pubAddr) (string, bool) {
	iface, ok := all[p.addr]
	if !ok || !slices.Contains(p.ifaces, iface) {
		return "", false
	}
	return iface, true
}

// errStaleTerm refuses a take or release from a deposed leader.
var errStaleTerm = fmt.Errorf("%w: a newer leader has spoken", errNotLeader)

// checkTerm refuses leader requests of a term older than the newest seen
// (a deposed leader's late messages) and remembers the newest. Term 0
// (no cluster lock terms) is always accepted.
func (s *Service) checkTerm(term uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if term != 0 && term < s.maxTerm {
		return errStaleTerm
	}
	s.maxTerm = max(s.maxTerm, term)
	return nil
}

// takeIP hosts an address on this node.
func (s *Service) takeIP(ctx context.Context, a proto.IPAssignment) error {
	if err := s.checkTerm(a.Term); err != nil {
		return err
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.mu.Lock()
	p, ok := s.tab.lookup(a.Addr)
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotPublic, a.Addr)
	}
	if !s.canHostLocked() {
		s.mu.Unlock()
		return errCannotHost
	}
	iface, cur := s.tab.bestIface(p), p.active
	held := p.held(s.pnn)
	s.mu.Unlock()
	if iface == "" {
		return fmt.Errorf("%w: %s", ErrNoIface, p)
	}
	if held && iface == cur {
		return nil
	}
	return s.takeLocked(ctx, p, iface, cur)
}

// takeLocked runs takeip (or updateip when the address moves from
// interface old) and announces the address. ipMu must be held.
func (s *Service) takeLocked(ctx context.Context, p *pubAddr, iface, old string) error {
	start := time.Now()
	var err error
	if old != "" {
		err = s.runEvent(ctx, "updateip", old, iface, p.addr.String(), fmt.Sprint(p.bits))
	} else {
		err = s.runEvent(ctx, "takeip", p.eventArgs(iface)...)
	}
	if err != nil {
		return err
	}
	_, real := s.present(p)
	s.mu.Lock()
	s.tab.taken(p, iface, real)
	conns := s.tick.all(p.addr)
	s.mu.Unlock()
	s.log.Log(ctx, slog.Level(2), "took over public address", "ip", p.addr, "iface", iface, "previous_iface", old,
		"real", real, "tickles", len(conns), "duration", time.Since(start))
	if real {
		s.goWork(func() { s.announce(ctx, iface, p.addr, conns) })
	}
	return nil
}

// announce tells the network that addr lives here now and makes its
// clients reset their stale connections, in a few rounds.
func (s *Service) announce(ctx context.Context, iface string, addr netip.Addr, conns []tcpconn.Connection) {
	start := time.Now()
	for _, at := range announceRounds {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(at))):
		}
		s.mu.Lock()
		p, ok := s.tab.lookup(addr)
		still := ok && p.held(s.pnn) && p.active == iface
		s.mu.Unlock()
		if !still {
			// Moved on meanwhile: announcing it now would point the
			// network back at this node.
			return
		}
		if err := s.net.Announce(iface, addr); err != nil {
			s.log.Warn("gratuitous arp failed", "ip", addr, "iface", iface, "err", err)
		}
		if len(conns) > 0 {
			if err := s.net.Tickle(conns); err != nil {
				s.log.Warn("tickle failed", "ip", addr, "err", err)
			}
		}
	}
	s.mu.Lock()
	if p, ok := s.tab.lookup(addr); ok && p.held(s.pnn) {
		s.tick.tookOver(addr)
	}
	s.mu.Unlock()
}

// releaseIP gives an address up if this node has it and records its new
// holder.
func (s *Service) releaseIP(ctx context.Context, a proto.IPAssignment) error {
	if err := s.checkTerm(a.Term); err != nil {
		return err
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.mu.Lock()
	p, ok := s.tab.lookup(a.Addr)
	if !ok {
		s.mu.Unlock()
		return nil
	}
	if !p.held(s.pnn) {
		p.holder = a.PNN
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.releaseLocked(ctx, p, a.PNN)
}

// smbPorts are the ports whose server side is not reset on release, as
// CTDB's 10.interface does: smbd notices the address going by itself.
var smbPorts = []uint16{139, 445}

// releaseLocked kills the address's connections, runs releaseip and
// records the new holder. ipMu must be held.
func (s *Service) releaseLocked(ctx context.Context, p *pubAddr, newHolder uint32) error {
	start := time.Now()
	s.mu.Lock()
	iface := p.active
	conns := s.tick.all(p.addr)
	s.mu.Unlock()
	if pifc, real := s.present(p); real {
		if est, err := s.net.Established([]netip.Addr{p.addr}); err == nil {
			conns = append(conns, est[p.addr]...)
		}
		var kill []tcpconn.Connection
		for _, c := range conns {
			kill = append(kill, c)
			if !slices.Contains(smbPorts, c.Server.Port()) {
				kill = append(kill, tcpconn.Connection{Client: c.Server, Server: c.Client})
			}
		}
		if len(kill) > 0 {
			kctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.net.Kill(kctx, pifc, kill); err != nil {
				s.log.Warn("killing connections of released address", "ip", p.addr, "err", err)
			}
			cancel()
		}
	}
	if err := s.runEvent(ctx, "releaseip", p.eventArgs(iface)...); err != nil {
		return err
	}
	s.mu.Lock()
	deleted := s.tab.released(p, newHolder)
	s.tick.released(p.addr)
	s.mu.Unlock()
	s.log.Log(ctx, slog.Level(2), "released public address", "ip", p.addr, "iface", iface,
		"new_holder", int32(newHolder), "deleted", deleted, "duration", time.Since(start))
	return nil
}

// reloadIPs re-reads public_addresses.
func (s *Service) reloadIPs(ctx context.Context) error {
	addrs, err := s.readAddresses()
	if err != nil {
		return err
	}
	s.ipMu.Lock()
	s.mu.Lock()
	added, removed := s.tab.reload(addrs)
	s.mu.Unlock()
	s.ipMu.Unlock()
	s.log.Log(ctx, slog.Level(2), "public addresses reloaded", "added", added, "removed", removed)
	return nil
}

// setRemoteTickles stores the connection list shared by an address's
// holder; a node that hosts the address itself knows better.
func (s *Service) setRemoteTickles(l *proto.TickleList) {
	addr := l.Addr.Unmap()
	conns := make([]tcpconn.Connection, 0, len(l.Conns))
	for _, c := range l.Conns {
		conns = append(conns, toConn(c))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only addresses this node may take over are kept (as CTDB does), so
	// the lists cannot grow with addresses it will never host.
	if p, ok := s.tab.lookup(addr); !ok || p.held(s.pnn) {
		return
	}
	s.tick.setRemote(addr, conns)
}

// isolationDelay is how long a node hosts addresses without any leader:
// long enough for a new leader to be elected after the old one died, as
// short as the others' failure detection.
const isolationDelay = 2 * time.Second

// seesMajorityLocked reports whether more than half of the cluster's
// nodes are connected to this one, itself included; s.mu is held.
func (s *Service) seesMajorityLocked() bool {
	if s.nodeMap == nil {
		return true
	}
	total, connected := 0, 0
	for _, n := range s.nodeMap.Nodes {
		if n.Flags&proto.NodeFlagDeleted != 0 {
			continue
		}
		total++
		if n.PNN == s.pnn || n.Flags&proto.NodeFlagDisconnected == 0 {
			connected++
		}
	}
	return 2*connected > total
}

// rogueRetry is how long a node waits before trying again to remove an
// address it does not host from its interface.
const rogueRetry = 5 * time.Second

// verify is the once-a-second check of this node's own addresses, and
// the sharing of its client connections.
func (s *Service) verify(ctx context.Context) {
	s.ipMu.Lock()
	present, err := s.net.Present()
	if err != nil {
		s.ipMu.Unlock()
		s.log.Warn("cannot list local addresses", "err", err)
		return
	}
	type fix struct {
		p        *pubAddr
		iface    string
		old      string
		rogueIfc string
	}
	var retake, rogue, drop []fix
	needRun := false
	s.mu.Lock()
	// A node without a leader that sees no majority of the nodes is cut
	// off: the others take its addresses over, so it must let them go,
	// or both would answer for them when the network heals. With a
	// majority in sight it is only waiting out an election and keeps
	// serving.
	inactive := s.flags&proto.NodeFlagsInactive != 0 || s.lead.leaderless() > isolationDelay && !s.seesMajorityLocked()
	now := time.Now()
	for _, p := range s.tab.sorted() {
		ifc, isPresent := presentOn(present, p)
		switch {
		case p.held(s.pnn) && inactive:
			drop = append(drop, fix{p: p})
		case p.held(s.pnn):
			best := s.tab.bestIface(p)
			switch {
			case best == "" || p.deletePending:
				needRun = true
			case p.real && !isPresent:
				retake = append(retake, fix{p: p, iface: best})
			case best != p.active:
				retake = append(retake, fix{p: p, iface: best, old: p.active})
			}
		case isPresent && now.Sub(s.rogueTried[p.addr]) > rogueRetry:
			s.rogueTried[p.addr] = now
			rogue = append(rogue, fix{p: p, rogueIfc: ifc})
		}
	}
	s.mu.Unlock()
	for _, f := range drop {
		if err := s.releaseLocked(ctx, f.p, proto.PNNUnknown); err != nil {
			s.log.Error("inactive node cannot release address", "ip", f.p.addr, "err", err)
		}
	}
	for _, f := range retake {
		if f.old == "" {
			s.log.Warn("hosted address vanished from its interface, taking it again", "ip", f.p.addr)
			s.mu.Lock()
			f.p.active = ""
			s.mu.Unlock()
		}
		if err := s.takeLocked(ctx, f.p, f.iface, f.old); err != nil {
			s.log.Error("cannot repair hosted address", "ip", f.p.addr, "err", err)
			needRun = true
		}
	}
	for _, f := range rogue {
		s.log.Warn("removing address this node does not host", "ip", f.p.addr, "iface", f.rogueIfc)
		if err := s.runEvent(ctx, "releaseip", f.p.eventArgs(f.rogueIfc)...); err != nil {
			s.log.Error("cannot remove rogue address", "ip", f.p.addr, "err", err)
		}
	}
	s.ipMu.Unlock()
	if needRun {
		s.requestRun(ctx, nil)
	}
	s.shareTickles(ctx)
}

// shareTickles finds the connections to the addresses this node hosts
// and sends every list that changed (all of them every
// TickleUpdateInterval) to the other nodes.
func (s *Service) shareTickles(ctx context.Context) {
	s.mu.Lock()
	var held, real []netip.Addr
	for _, p := range s.tab.heldAddrs() {
		held = append(held, p.addr)
		if p.real {
			real = append(real, p.addr)
		}
	}
	interval := time.Duration(s.tun.TickleUpdateInterval) * time.Second
	force := time.Since(s.lastShare) >= interval
	if force {
		s.lastShare = time.Now()
	}
	s.mu.Unlock()
	var scanned map[netip.Addr][]tcpconn.Connection
	if len(real) > 0 {
		var err error
		if scanned, err = s.net.Established(real); err != nil {
			s.log.Warn("cannot list connections", "err", err)
		}
	}
	var out []*proto.TickleList
	s.mu.Lock()
	for _, a := range real {
		s.tick.setScanned(a, scanned[a])
	}
	for _, a := range held {
		if conns, changed := s.tick.toShare(a, force); changed {
			out = append(out, tickleList(a, conns))
		}
	}
	s.mu.Unlock()
	for _, l := range out {
		m := &proto.Message{Header: proto.Header{Dst: proto.Endpoint{PNN: proto.PNNBroadcastConnected, Service: proto.ServiceFailover}, Opcode: proto.OpSetTickles}, Payload: l.AppendTo(nil)}
		if err := s.port.Send(m); err != nil && ctx.Err() == nil {
			s.log.Debug("sharing tickles failed", "ip", l.Addr, "err", err)
		}
	}
}

// evacuate stops this node hosting addresses before it shuts down: it
// asks for a takeover run without itself and waits until the addresses
// are gone or timeout passes.
func (s *Service) evacuate(ctx context.Context, timeout time.Duration) {
	s.mu.Lock()
	s.evacuating = true
	n := len(s.tab.heldAddrs())
	s.mu.Unlock()
	if n == 0 {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.forwardRun(ctx, &proto.TakeoverRequest{From: s.pnn}); err != nil {
		s.log.Warn("takeover run before shutdown failed", "err", err)
	}
	s.mu.Lock()
	left := len(s.tab.heldAddrs())
	s.mu.Unlock()
	s.log.Log(ctx, slog.Level(2), "addresses moved away before shutdown", "moved", n-left, "left", left, "duration", time.Since(start))
}

// portCluster implements clusterOps with controls on the service's port.
type portCluster struct{ s *Service }

func (c portCluster) ep(pnn uint32, svc proto.ServiceID) proto.Endpoint {
	return proto.Endpoint{PNN: pnn, Service: svc}
}

func (c portCluster) nodeMap(ctx context.Context) (*proto.NodeMap, error) {
	var nm proto.NodeMap
	err := rpc.CallTyped(ctx, c.s.port, c.ep(c.s.pnn, proto.ServiceNode), proto.OpGetNodeMap, nil, &nm)
	return &nm, err
}

func (c portCluster) publicIPs(ctx context.Context, pnn uint32) (*proto.PublicIPList, error) {
	var l proto.PublicIPList
	err := rpc.CallTyped(ctx, c.s.port, c.ep(pnn, proto.ServiceFailover), proto.OpGetPublicIPs, nil, &l)
	return &l, err
}

func (c portCluster) release(ctx context.Context, pnn uint32, a proto.IPAssignment) error {
	return rpc.CallTyped(ctx, c.s.port, c.ep(pnn, proto.ServiceFailover), proto.OpReleaseIP, &a, nil)
}

func (c portCluster) take(ctx context.Context, pnn uint32, a proto.IPAssignment) error {
	return rpc.CallTyped(ctx, c.s.port, c.ep(pnn, proto.ServiceFailover), proto.OpTakeIP, &a, nil)
}

func (c portCluster) ipReallocated(ctx context.Context, pnn uint32, term uint64) error {
	return rpc.CallTyped(ctx, c.s.port, c.ep(pnn, proto.ServiceFailover), proto.OpIPReallocated, &proto.U64{V: term}, nil)
}

func (c portCluster) banCredits(ctx context.Context, b proto.BanCredits) error {
	return rpc.CallTyped(ctx, c.s.port, proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceBanning}, proto.OpBanCredits, &b, nil)
}
