// Package fakenet runs several in-process nodes, each a service host with
// the services a test chooses, on a simulated network whose links a test
// can cut and whose nodes it can stop. It plays the membership service:
// every node learns its connectivity as the links say. The tests of the
// cluster and banning services use it.
package fakenet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Services returns the services node pnn runs.
type Services func(pnn uint32) []service.Service

// Net is the simulated cluster.
type Net struct {
	t        testing.TB
	nodes    []config.Node
	conf     *config.Config
	services Services

	mu      sync.Mutex
	ports   map[proto.Endpoint]*port
	subs    map[uint32]map[uint64]map[*port]bool
	cut     map[[2]uint32]bool
	down    map[uint32]bool
	stop    map[uint32]context.CancelFunc
	done    map[uint32]chan struct{}
	clients map[uint32]*port
}

type port struct {
	n      *Net
	ep     proto.Endpoint
	inbox  *rpc.Mailbox
	caller *rpc.Caller
	closed atomic.Bool
}

// New starts n nodes whose ctdb.conf has the given text.
func New(t testing.TB, n int, conf string, services Services) *Net {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "ctdb.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &Net{
		t:        t,
		conf:     cfg,
		services: services,
		ports:    make(map[proto.Endpoint]*port),
		subs:     make(map[uint32]map[uint64]map[*port]bool),
		cut:      make(map[[2]uint32]bool),
		down:     make(map[uint32]bool),
		stop:     make(map[uint32]context.CancelFunc),
		done:     make(map[uint32]chan struct{}),
		clients:  make(map[uint32]*port),
	}
	for i := 0; i < n; i++ {
		f.nodes = append(f.nodes, config.Node{PNN: uint32(i), Addr: netip.AddrFrom4([4]byte{127, 103, 9, byte(i + 1)}), Line: i + 1})
	}
	t.Cleanup(func() {
		for i := range f.nodes {
			f.Stop(uint32(i))
		}
	})
	for i := range f.nodes {
		f.start(uint32(i))
	}
	f.publishConnectivity()
	return f
}

// Nodes is the number of nodes.
func (f *Net) Nodes() int { return len(f.nodes) }

// Logger discards the nodes' logs unless FAKENET_LOG is set.
func Logger(pnn uint32) *slog.Logger {
	if os.Getenv("FAKENET_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("pnn", pnn)
}

func (f *Net) start(pnn uint32) {
	f.mu.Lock()
	f.down[pnn] = false
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	attach := func(svc proto.ServiceID) (rpc.Port, error) {
		p := &port{n: f, ep: proto.Endpoint{PNN: pnn, Service: svc}, inbox: rpc.NewMailbox(), caller: rpc.NewCaller()}
		f.mu.Lock()
		f.ports[p.ep] = p
		f.mu.Unlock()
		return p, nil
	}
	env := service.Env{Logger: Logger(pnn), PNN: pnn, Nodes: f.nodes, Config: f.conf, Paths: config.Paths{TestMode: true, ConfigDir: fmt.Sprintf("node.%d", pnn)}}
	host := service.NewHost(attach, env, f.services(pnn)...)
	go func() {
		defer close(done)
		host.Run(ctx)
	}()
	select {
	case <-host.Ready():
	case <-done:
		f.t.Fatalf("node %d did not start", pnn)
	}
	f.mu.Lock()
	f.stop[pnn], f.done[pnn] = cancel, done
	f.mu.Unlock()
}

// Stop stops a node's services, as a killed daemon.
func (f *Net) Stop(pnn uint32) {
	f.mu.Lock()
	cancel, done := f.stop[pnn], f.done[pnn]
	delete(f.stop, pnn)
	f.down[pnn] = true
	f.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	f.publishConnectivity()
}

// Down reports whether node pnn is stopped.
func (f *Net) Down(pnn uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down[pnn]
}

// SetLink cuts or heals the link between a and b.
func (f *Net) SetLink(a, b uint32, up bool) {
	f.mu.Lock()
	f.cut[[2]uint32{a, b}], f.cut[[2]uint32{b, a}] = !up, !up
	f.mu.Unlock()
	f.publishConnectivity()
}

func (f *Net) connected(a, b uint32) bool {
	return a == b || !f.down[a] && !f.down[b] && !f.cut[[2]uint32{a, b}]
}

// publishConnectivity plays the membership service of every node.
func (f *Net) publishConnectivity() {
	f.mu.Lock()
	var msgs []*proto.Message
	for _, a := range f.nodes {
		if f.down[a.PNN] {
			continue
		}
		c := &proto.Connectivity{}
		for _, b := range f.nodes {
			if b.PNN != a.PNN {
				up := f.connected(a.PNN, b.PNN)
				c.Peers = append(c.Peers, proto.PeerState{PNN: b.PNN, Connected: up, LinkUp: up, Alive: up})
			}
		}
		msgs = append(msgs, &proto.Message{
			Header:  proto.Header{Src: proto.Endpoint{PNN: a.PNN, Service: proto.ServiceMembership}, Dst: proto.Endpoint{PNN: a.PNN, Service: proto.ServiceMessage, ID: proto.SrvIDConnectivity}, Opcode: proto.OpConnectivity},
			Payload: c.AppendTo(nil),
		})
	}
	f.mu.Unlock()
	for _, m := range msgs {
		f.route(m)
	}
}

func (f *Net) route(m *proto.Message) error {
	f.mu.Lock()
	src, dst := m.Src.PNN, m.Dst.PNN
	if dst == proto.PNNLocal {
		dst = src
	}
	if dst == proto.PNNBroadcastConnected || dst == proto.PNNBroadcastAll {
		var targets []uint32
		for _, n := range f.nodes {
			if f.connected(src, n.PNN) {
				targets = append(targets, n.PNN)
			}
		}
		f.mu.Unlock()
		for _, pnn := range targets {
			c := *m
			c.Dst.PNN = pnn
			f.route(&c)
		}
		return nil
	}
	if !f.connected(src, dst) {
		f.mu.Unlock()
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusUnavailable, Msg: fmt.Sprintf("node %d is not connected", dst)}
	}
	m.Dst.PNN = dst
	var targets []*port
	if m.Dst.Service == proto.ServiceMessage {
		for p := range f.subs[dst][m.Dst.ID] {
			targets = append(targets, p)
		}
	} else if p := f.ports[proto.Endpoint{PNN: dst, Service: m.Dst.Service}]; p != nil && !p.closed.Load() {
		targets = append(targets, p)
	}
	f.mu.Unlock()
	if len(targets) == 0 && m.Dst.Service != proto.ServiceMessage {
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusUnsupported, Msg: "no such service"}
	}
	for _, p := range targets {
		c := *m
		if c.IsReply() {
			p.caller.Deliver(&c)
		} else {
			p.inbox.Put(&c)
		}
	}
	return nil
}

func (p *port) Endpoint() proto.Endpoint { return p.ep }
func (p *port) Inbox() *rpc.Mailbox      { return p.inbox }

func (p *port) Send(m *proto.Message) error {
	if p.closed.Load() {
		return rpc.ErrClosed
	}
	m.Src.PNN, m.Src.Service = p.ep.PNN, p.ep.Service
	return p.n.route(m)
}

func (p *port) Call(ctx context.Context, dst proto.Endpoint, op proto.Opcode, req proto.Payload, flags uint32) (*proto.Reply, error) {
	call, err := p.caller.Start()
	if err != nil {
		return nil, err
	}
	m := &proto.Message{Header: proto.Header{Dst: dst, Flags: flags | proto.FlagRequest, ReqID: call.ReqID, Opcode: op}}
	if req != nil {
		m.Payload = req.AppendTo(nil)
	}
	if err := p.Send(m); err != nil {
		call.Done()
		return nil, err
	}
	return call.Wait(ctx, op)
}

func (p *port) Reply(req *proto.Message, status proto.Status, msg string, body proto.Payload) error {
	if !req.IsRequest() {
		return nil
	}
	return p.Send(rpc.ReplyFrame(req, status, msg, body))
}

func (p *port) RegisterSrvID(_ context.Context, srvid uint64) error {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	if p.n.subs[p.ep.PNN] == nil {
		p.n.subs[p.ep.PNN] = make(map[uint64]map[*port]bool)
	}
	if p.n.subs[p.ep.PNN][srvid] == nil {
		p.n.subs[p.ep.PNN][srvid] = make(map[*port]bool)
	}
	p.n.subs[p.ep.PNN][srvid][p] = true
	return nil
}

func (p *port) DeregisterSrvID(_ context.Context, srvid uint64) error {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	delete(p.n.subs[p.ep.PNN][srvid], p)
	return nil
}

func (p *port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.n.mu.Lock()
	for _, set := range p.n.subs[p.ep.PNN] {
		delete(set, p)
	}
	p.n.mu.Unlock()
	p.caller.Close(rpc.ErrClosed)
	p.inbox.Close()
	return nil
}

// Client is a port on node pnn as a connected client's, for the test to
// send requests and subscribe to messages.
func (f *Net) Client(pnn uint32) rpc.Port {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.clients[pnn]; p != nil {
		return p
	}
	p := &port{n: f, ep: proto.Endpoint{PNN: pnn, Service: proto.ServiceClient}, inbox: rpc.NewMailbox(), caller: rpc.NewCaller()}
	f.ports[p.ep] = p
	f.clients[pnn] = p
	f.t.Cleanup(func() { p.Close() })
	return p
}

// Control sends a request to a service of node pnn and decodes the answer
// into resp (nil for none).
func (f *Net) Control(pnn uint32, svc proto.ServiceID, op proto.Opcode, req, resp proto.Payload) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return rpc.CallTyped(ctx, f.Client(pnn), proto.Endpoint{PNN: pnn, Service: svc}, op, req, resp)
}
