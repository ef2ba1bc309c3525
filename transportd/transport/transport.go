// Package transport is gctdb's message router: TCP links between nodes
// with reconnect and backoff, a unix socket for local clients and service
// processes, in-process ports for services embedded in the same binary,
// routing by endpoint, and bounded per-link queues so that a slow or dead
// peer never stalls the others.
//
// A frame for another node goes into that node's link queue. When the
// link is down or its queue is full the frame is dropped at once and, if
// it was a request, the sender gets an error reply (StatusUnavailable or
// StatusQueueFull) instead of waiting for a timeout.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// sink is anything the router can hand a frame to locally.
type sink interface {
	deliver(m *proto.Message) error
	String() string
}

type srvKey struct {
	service proto.ServiceID
	id      uint64
}

// Transport is the router of one node.
type Transport struct {
	cfg  Config
	log  *slog.Logger
	self uint32

	peers map[uint32]*peer

	mu       sync.RWMutex
	services map[proto.ServiceID]sink
	srvids   map[srvKey]map[sink]struct{}
	locals   map[uint64]*localConn
	inbound  map[uint32]*inboundConn
	nextConn atomic.Uint64

	clientFramesSent  atomic.Uint64
	clientFramesRecv  atomic.Uint64
	badConnections    atomic.Uint64
	undeliverableMsgs atomic.Uint64

	ready chan struct{}
	wg    sync.WaitGroup
}

// New validates cfg and builds a transport; Run starts it.
func New(cfg Config) (*Transport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:      c,
		log:      c.Logger.With("component", "transport"),
		self:     c.PNN,
		peers:    make(map[uint32]*peer),
		services: make(map[proto.ServiceID]sink),
		srvids:   make(map[srvKey]map[sink]struct{}),
		locals:   make(map[uint64]*localConn),
		inbound:  make(map[uint32]*inboundConn),
		ready:    make(chan struct{}),
	}
	for _, n := range c.Nodes {
		if n.PNN == c.PNN || n.Deleted {
			continue
		}
		t.peers[n.PNN] = newPeer(t, n)
	}
	return t, nil
}

// Ready is closed once Run listens on both sockets.
func (t *Transport) Ready() <-chan struct{} { return t.ready }

// PNN returns this node's number.
func (t *Transport) PNN() uint32 { return t.self }

func (t *Transport) selfAddr() net.IP { return t.cfg.node(t.self).Addr }

// Run listens on the node's TCP address and the unix socket, keeps links
// to every peer, and routes until ctx ends. It returns after every
// connection is closed and every goroutine it started has exited.
func (t *Transport) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	tcpAddr := net.JoinHostPort(t.selfAddr().String(), strconv.Itoa(t.cfg.Port))
	tl, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", tcpAddr, err)
	}
	if err := removeStaleSocket(t.cfg.SocketPath); err != nil {
		tl.Close()
		return err
	}
	ul, err := net.Listen("unix", t.cfg.SocketPath)
	if err != nil {
		tl.Close()
		return fmt.Errorf("listen on %s: %w", t.cfg.SocketPath, err)
	}
	if err := os.Chmod(t.cfg.SocketPath, 0o600); err != nil {
		tl.Close()
		ul.Close()
		return fmt.Errorf("chmod %s: %w", t.cfg.SocketPath, err)
	}
	t.log.Info("transport listening", "tcp", tcpAddr, "socket", t.cfg.SocketPath,
		"versions", fmt.Sprintf("%d..%d", t.cfg.MinVersion, t.cfg.MaxVersion))
	close(t.ready)

	t.wg.Add(2)
	go func() { defer t.wg.Done(); t.acceptLoop(ctx, tl, t.serveInbound) }()
	go func() { defer t.wg.Done(); t.acceptLoop(ctx, ul, t.serveLocal) }()
	for _, p := range t.peers {
		t.wg.Add(1)
		go func() { defer t.wg.Done(); p.run(ctx) }()
	}

	<-ctx.Done()
	tl.Close()
	ul.Close()
	t.closeAllConns()
	t.wg.Wait()
	os.Remove(t.cfg.SocketPath)
	return nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("%s is in use by a running daemon", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

func (t *Transport) acceptLoop(ctx context.Context, l net.Listener, serve func(context.Context, net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("accept failed", "listener", l.Addr().String(), "err", err)
			continue
		}
		t.wg.Add(1)
		go func() { defer t.wg.Done(); serve(ctx, c) }()
	}
}

func (t *Transport) closeAllConns() {
	t.mu.Lock()
	locals := make([]*localConn, 0, len(t.locals))
	for _, c := range t.locals {
		locals = append(locals, c)
	}
	inbound := make([]*inboundConn, 0, len(t.inbound))
	for _, c := range t.inbound {
		inbound = append(inbound, c)
	}
	t.mu.Unlock()
	for _, c := range locals {
		c.close("transport shutting down")
	}
	for _, c := range inbound {
		c.conn.Close()
	}
}

// route delivers m to its destination. It returns an error when the frame
// cannot be delivered; the caller decides whether to bounce it.
func (t *Transport) route(m *proto.Message) error {
	dst := m.Dst.PNN
	if dst == proto.PNNLocal {
		dst = t.self
	}
	switch {
	case dst == t.self:
		m.Dst.PNN = t.self
		return t.deliverLocal(m)
	case dst == proto.PNNBroadcastAll || dst == proto.PNNBroadcastConnected:
		if m.IsRequest() {
			return &proto.StatusError{Op: m.Opcode, Status: proto.StatusInvalid, Msg: "a request cannot be broadcast; send one per node"}
		}
		targets := []uint32{t.self}
		for pnn, p := range t.peers {
			if dst == proto.PNNBroadcastAll || p.isUp() {
				targets = append(targets, pnn)
			}
		}
		for _, pnn := range targets {
			c := *m
			c.Dst.PNN = pnn
			if err := t.route(&c); err != nil {
				t.log.Debug("broadcast copy not delivered", "op", m.Opcode, "pnn", pnn, "err", err)
			}
		}
		return nil
	case proto.IsBroadcast(dst):
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusInvalid, Msg: "the transport only broadcasts to all or connected nodes"}
	}
	p := t.peers[dst]
	if p == nil {
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusNotFound, Msg: fmt.Sprintf("no node %d", dst)}
	}
	return p.send(m)
}

// routeOrBounce routes a frame that came from outside the caller's control
// (a connection); a request that cannot be delivered is answered with an
// error reply so its sender does not wait for a timeout.
func (t *Transport) routeOrBounce(m *proto.Message) {
	if err := t.route(m); err != nil {
		t.undeliverableMsgs.Add(1)
		t.bounce(m, err)
	}
}

func (t *Transport) bounce(m *proto.Message, err error) {
	if !m.IsRequest() {
		return
	}
	var se *proto.StatusError
	status, msg := proto.StatusFailed, err.Error()
	if errors.As(err, &se) {
		status, msg = se.Status, se.Msg
	}
	reply := rpc.ReplyFrame(m, status, msg, nil)
	reply.Src = proto.Endpoint{PNN: t.self, Service: proto.ServiceTransport}
	if rerr := t.route(reply); rerr != nil {
		t.log.Debug("error reply not delivered", "op", m.Opcode, "to", m.Src, "err", rerr)
	}
}

func (t *Transport) deliverLocal(m *proto.Message) error {
	switch m.Dst.Service {
	case proto.ServiceTransport:
		t.handleTransport(m)
		return nil
	case proto.ServiceClient:
		t.mu.RLock()
		c := t.locals[m.Dst.ID]
		t.mu.RUnlock()
		if c == nil {
			return &proto.StatusError{Op: m.Opcode, Status: proto.StatusNotFound, Msg: fmt.Sprintf("client %d is not connected", m.Dst.ID)}
		}
		return c.deliver(m)
	case proto.ServiceMessage, proto.ServiceTunnel:
		t.mu.RLock()
		regs := t.srvids[srvKey{m.Dst.Service, m.Dst.ID}]
		targets := make([]sink, 0, len(regs))
		for s := range regs {
			targets = append(targets, s)
		}
		t.mu.RUnlock()
		if len(targets) == 0 {
			if m.Dst.Service == proto.ServiceTunnel || m.IsRequest() {
				return &proto.StatusError{Op: m.Opcode, Status: proto.StatusNotFound, Msg: fmt.Sprintf("nobody registered %s id 0x%x", m.Dst.Service, m.Dst.ID)}
			}
			return nil
		}
		for _, s := range targets {
			c := *m
			if err := s.deliver(&c); err != nil {
				t.log.Debug("message not delivered", "to", s, "srvid", m.Dst.ID, "err", err)
			}
		}
		return nil
	}
	t.mu.RLock()
	s := t.services[m.Dst.Service]
	t.mu.RUnlock()
	if s == nil {
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusUnsupported, Msg: fmt.Sprintf("service %s is not running on node %d", m.Dst.Service, t.self)}
	}
	return s.deliver(m)
}

func (t *Transport) registerService(svc proto.ServiceID, s sink) error {
	switch svc {
	case proto.ServiceNone, proto.ServiceTransport, proto.ServiceClient, proto.ServiceMessage, proto.ServiceTunnel:
		return fmt.Errorf("transport: service %s cannot be registered", svc)
	}
	t.mu.Lock()
	if old, ok := t.services[svc]; ok {
		t.mu.Unlock()
		return fmt.Errorf("transport: service %s is already provided by %s", svc, old)
	}
	t.services[svc] = s
	t.mu.Unlock()
	t.log.Debug("service registered", "service", svc, "by", s)
	t.replayState(svc)
	return nil
}

// replayState tells a newly registered service what it missed: the
// membership service learns every link's state, the node service the
// client count.
func (t *Transport) replayState(svc proto.ServiceID) {
	switch svc {
	case proto.ServiceMembership:
		for _, p := range t.peers {
			t.publishLink(p.pnn, p.isUp(), "current state")
		}
	case proto.ServiceNode:
		t.publishClientCount()
	}
}

// closeClients drops every local client connection.
func (t *Transport) closeClients(reason string) {
	t.mu.RLock()
	var clients []*localConn
	for _, c := range t.locals {
		if c.role == proto.RoleClient {
			clients = append(clients, c)
		}
	}
	t.mu.RUnlock()
	for _, c := range clients {
		c.close(reason)
	}
}

func (t *Transport) unregisterSink(s sink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for svc, v := range t.services {
		if v == s {
			delete(t.services, svc)
		}
	}
	for k, regs := range t.srvids {
		delete(regs, s)
		if len(regs) == 0 {
			delete(t.srvids, k)
		}
	}
}

func (t *Transport) registerSrvID(key srvKey, s sink) {
	t.mu.Lock()
	regs := t.srvids[key]
	if regs == nil {
		regs = make(map[sink]struct{})
		t.srvids[key] = regs
	}
	regs[s] = struct{}{}
	t.mu.Unlock()
}

func (t *Transport) deregisterSrvID(key srvKey, s sink) {
	t.mu.Lock()
	if regs := t.srvids[key]; regs != nil {
		delete(regs, s)
		if len(regs) == 0 {
			delete(t.srvids, key)
		}
	}
	t.mu.Unlock()
}

// notify sends a one-way frame from the transport to a local service.
func (t *Transport) notify(dst proto.Endpoint, op proto.Opcode, p proto.Payload, priority bool) {
	m := &proto.Message{
		Header: proto.Header{
			Dst:    dst,
			Src:    proto.Endpoint{PNN: t.self, Service: proto.ServiceTransport},
			Opcode: op,
		},
		Payload: p.AppendTo(nil),
	}
	if priority {
		m.Flags |= proto.FlagPriority
	}
	if err := t.deliverLocal(m); err != nil {
		t.log.Debug("notification not delivered", "op", op, "to", dst, "err", err)
	}
}

func (t *Transport) publishLink(pnn uint32, up bool, reason string) {
	t.notify(proto.Endpoint{PNN: t.self, Service: proto.ServiceMembership},
		proto.OpLinkStatus, &proto.LinkStatus{PNN: pnn, Up: up, Reason: reason}, true)
}

func (t *Transport) publishClientCount() {
	t.mu.RLock()
	n := 0
	for _, c := range t.locals {
		if c.role == proto.RoleClient {
			n++
		}
	}
	t.mu.RUnlock()
	t.notify(proto.Endpoint{PNN: t.self, Service: proto.ServiceNode}, proto.OpClientCount, &proto.ClientCount{Count: uint32(n)}, false)
}

// handleTransport answers frames addressed to the router itself.
func (t *Transport) handleTransport(m *proto.Message) {
	reply := func(status proto.Status, msg string, body proto.Payload) {
		if !m.IsRequest() {
			return
		}
		r := rpc.ReplyFrame(m, status, msg, body)
		if err := t.route(r); err != nil {
			t.log.Debug("transport reply not delivered", "op", m.Opcode, "to", m.Src, "err", err)
		}
	}
	switch m.Opcode {
	case proto.OpEcho:
		reply(proto.StatusOK, "", &proto.Blob{Data: m.Payload})
	case proto.OpTransportStats:
		reply(proto.StatusOK, "", t.Stats())
	case proto.OpProcessExists:
		var req proto.ProcessExists
		if err := proto.DecodePayload(m, &req); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		if t.processExists(req.PID, req.SrvID) {
			reply(proto.StatusOK, "", nil)
		} else {
			reply(1, fmt.Sprintf("no client with pid %d", req.PID), nil)
		}
	case proto.OpRegisterSrvID, proto.OpDeregisterSrvID, proto.OpRegisterService:
		// Only connections can send these; in-process ports call methods.
		c := t.connOf(m.Src)
		if c == nil {
			reply(proto.StatusInvalid, "registration must come from a local connection", nil)
			return
		}
		if err := c.handleRegistration(m); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		reply(proto.StatusOK, "", nil)
	case proto.OpPeerDown:
		var req proto.LinkStatus
		if err := proto.DecodePayload(m, &req); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		if p := t.peers[req.PNN]; p != nil {
			p.drop(req.Reason)
		}
		reply(proto.StatusOK, "", nil)
	default:
		reply(proto.StatusUnsupported, fmt.Sprintf("transport does not handle %s", m.Opcode), nil)
	}
}

// connOf finds the local connection a frame came from.
func (t *Transport) connOf(src proto.Endpoint) *localConn {
	if src.PNN != t.self {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if src.Service == proto.ServiceClient {
		return t.locals[src.ID]
	}
	if c, ok := t.services[src.Service].(*localConn); ok {
		return c
	}
	return nil
}

func (t *Transport) processExists(pid uint32, srvid uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, c := range t.locals {
		if c.pid != int32(pid) || pid == 0 {
			continue
		}
		if srvid == 0 {
			return processAlive(int(pid))
		}
		if _, ok := t.srvids[srvKey{proto.ServiceMessage, srvid}][c]; ok {
			return processAlive(int(pid))
		}
	}
	return false
}

// Stats returns the router's counters.
func (t *Transport) Stats() *proto.TransportStats {
	s := &proto.TransportStats{
		ClientFramesSent:  t.clientFramesSent.Load(),
		ClientFramesRecv:  t.clientFramesRecv.Load(),
		BadConnections:    t.badConnections.Load(),
		UndeliverableMsgs: t.undeliverableMsgs.Load(),
		Goroutines:        uint32(runtime.NumGoroutine()),
	}
	t.mu.RLock()
	for _, c := range t.locals {
		if c.role == proto.RoleClient {
			s.Clients++
		}
	}
	t.mu.RUnlock()
	for _, n := range t.cfg.Nodes {
		if p := t.peers[n.PNN]; p != nil {
			s.Peers = append(s.Peers, p.stats())
		}
	}
	return s
}
