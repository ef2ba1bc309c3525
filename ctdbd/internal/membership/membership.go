// Package membership decides which nodes are connected. Two signals are
// combined: the transport's link to the node (a killed daemon breaks it at
// once) and memberlist's SWIM liveness on its own port (a stopped or
// cut-off node stops answering probes within about two seconds, where
// CTDB's keepalives take 25 s). A node is connected only when both agree.
//
// Memberlist callbacks never block: they only poke the service's loop,
// which re-reads the member list and publishes the whole connectivity
// picture on proto.SrvIDConnectivity when anything changed.
package membership

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Timing holds memberlist's failure-detection settings. The defaults
// detect a silent node in about 2 s on a LAN while tolerating scheduling
// delays of a loaded host (Lifeguard raises its own timeouts when the
// local node is slow).
type Timing struct {
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	GossipInterval          time.Duration
	PushPullInterval        time.Duration
	RejoinInterval          time.Duration
}

// DefaultTiming is used when Config.Timing is zero.
var DefaultTiming = Timing{
	ProbeInterval:           250 * time.Millisecond,
	ProbeTimeout:            150 * time.Millisecond,
	SuspicionMult:           3,
	SuspicionMaxTimeoutMult: 2,
	GossipInterval:          100 * time.Millisecond,
	PushPullInterval:        5 * time.Second,
	RejoinInterval:          500 * time.Millisecond,
}

// Config configures the service.
type Config struct {
	// Port is memberlist's port on every node.
	Port   int
	Timing Timing
}

type peerState struct {
	addr    netip.Addr
	linkUp  bool
	alive   bool
	since   time.Time
	reason  string
	current bool // last published Connected
}

// Service is the membership service.
type Service struct {
	service.Base
	cfg  Config
	log  *slog.Logger
	port rpc.Port
	pnn  uint32
	self netip.Addr

	mu    sync.Mutex
	peers map[uint32]*peerState
	ml    *memberlist.Memberlist

	poke chan struct{}
}

var _ service.Service = (*Service)(nil)

// New returns the membership service.
func New(cfg Config) *Service {
	if cfg.Timing == (Timing{}) {
		cfg.Timing = DefaultTiming
	}
	if cfg.Port == 0 {
		cfg.Port = 4380
	}
	return &Service{cfg: cfg, peers: make(map[uint32]*peerState), poke: make(chan struct{}, 1)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceMembership }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	for _, n := range env.Nodes {
		if n.Deleted {
			continue
		}
		if n.PNN == env.PNN {
			s.self = n.Addr
			continue
		}
		s.peers[n.PNN] = &peerState{addr: n.Addr, since: time.Now()}
	}
	if !s.self.IsValid() {
		return fmt.Errorf("membership: pnn %d has no address", env.PNN)
	}
	return nil
}

func memberName(pnn uint32) string { return "pnn-" + strconv.FormatUint(uint64(pnn), 10) }

func parseMemberName(name string) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimPrefix(name, "pnn-"), 10, 32)
	return uint32(v), err == nil && strings.HasPrefix(name, "pnn-")
}

func (s *Service) memberlistConfig() *memberlist.Config {
	t := s.cfg.Timing
	mc := memberlist.DefaultLANConfig()
	mc.Name = memberName(s.pnn)
	mc.BindAddr = s.self.String()
	mc.BindPort = s.cfg.Port
	mc.AdvertiseAddr = s.self.String()
	mc.AdvertisePort = s.cfg.Port
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.GossipInterval = t.GossipInterval
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = time.Second
	mc.IndirectChecks = 2
	mc.Events = &events{s: s}
	mc.Logger = slog.NewLogLogger(s.log.With("component", "memberlist").Handler(), slog.LevelDebug)
	return mc
}

// events forwards memberlist's callbacks; it only pokes the loop.
type events struct{ s *Service }

func (e *events) NotifyJoin(*memberlist.Node)   { e.s.wake() }
func (e *events) NotifyLeave(*memberlist.Node)  { e.s.wake() }
func (e *events) NotifyUpdate(*memberlist.Node) { e.s.wake() }

func (s *Service) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Run implements service.Service.
func (s *Service) Run(ctx context.Context) error {
	ml, err := memberlist.Create(s.memberlistConfig())
	if err != nil {
		return fmt.Errorf("start memberlist on %s:%d: %w", s.self, s.cfg.Port, err)
	}
	s.mu.Lock()
	s.ml = ml
	s.mu.Unlock()
	s.log.Info("liveness started", "addr", fmt.Sprintf("%s:%d", s.self, s.cfg.Port))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.rejoinLoop(ctx, ml)
	}()
	for {
		s.refresh()
		select {
		case <-ctx.Done():
			wg.Wait()
			// Tell the others at once that this node is leaving.
			ml.Leave(200 * time.Millisecond)
			ml.Shutdown()
			return nil
		case <-s.poke:
		}
	}
}

// rejoinLoop keeps asking absent nodes to join: a node that restarted or
// came back from a partition is found without waiting for gossip.
func (s *Service) rejoinLoop(ctx context.Context, ml *memberlist.Memberlist) {
	tick := time.NewTicker(s.cfg.Timing.RejoinInterval)
	defer tick.Stop()
	for {
		var addrs []string
		s.mu.Lock()
		for _, p := range s.peers {
			if !p.alive {
				addrs = append(addrs, net.JoinHostPort(p.addr.String(), strconv.Itoa(s.cfg.Port)))
			}
		}
		s.mu.Unlock()
		if len(addrs) > 0 {
			if _, err := ml.Join(addrs); err != nil {
				s.log.Debug("join attempt", "nodes", addrs, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refresh re-reads the member list and publishes changes.
func (s *Service) refresh() {
	alive := make(map[uint32]bool)
	s.mu.Lock()
	ml := s.ml
	s.mu.Unlock()
	if ml != nil {
		for _, m := range ml.Members() {
			pnn, ok := parseMemberName(m.Name)
			if !ok || m.State != memberlist.StateAlive && m.State != memberlist.StateSuspect {
				continue
			}
			if p := s.peerByPNN(pnn); p != nil && netip.AddrFrom16([16]byte(m.Addr.To16())).Unmap() == p.addr {
				alive[pnn] = true
			}
		}
	}
	var drop []uint32
	s.mu.Lock()
	for pnn, p := range s.peers {
		if p.alive != alive[pnn] {
			p.alive = alive[pnn]
			if !p.alive {
				p.reason = "liveness: node stopped answering"
				if p.linkUp {
					drop = append(drop, pnn)
				}
			}
		}
	}
	s.mu.Unlock()
	for _, pnn := range drop {
		// TCP has not noticed yet (a stopped or cut-off node); drop the
		// link so queued traffic fails now instead of piling up.
		s.port.Send(&proto.Message{
			Header:  proto.Header{Dst: proto.Endpoint{PNN: s.pnn, Service: proto.ServiceTransport}, Opcode: proto.OpPeerDown, Flags: proto.FlagPriority},
			Payload: (&proto.LinkStatus{PNN: pnn, Reason: "liveness lost"}).AppendTo(nil),
		})
	}
	s.publishChanges()
}

func (s *Service) peerByPNN(pnn uint32) *peerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers[pnn]
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	switch m.Opcode {
	case proto.OpLinkStatus:
		var ls proto.LinkStatus
		if err := proto.DecodePayload(m, &ls); err != nil || m.Src.Service != proto.ServiceTransport {
			s.log.Warn("bad link status", "from", m.Src.String(), "err", err)
			return
		}
		s.mu.Lock()
		if p := s.peers[ls.PNN]; p != nil && p.linkUp != ls.Up {
			p.linkUp = ls.Up
			if !ls.Up {
				p.reason = "transport: " + ls.Reason
			}
		}
		s.mu.Unlock()
		if ls.Up {
			s.wake()
		}
		s.publishChanges()
	case proto.OpGetConnectivity:
		s.port.Reply(m, proto.StatusOK, "", s.snapshot())
	default:
		if m.Dst.Service != proto.ServiceMessage {
			s.port.Reply(m, proto.StatusUnsupported, fmt.Sprintf("membership does not handle %s", m.Opcode), nil)
		}
	}
}

func (s *Service) snapshot() *proto.Connectivity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *Service) snapshotLocked() *proto.Connectivity {
	c := &proto.Connectivity{}
	for pnn, p := range s.peers {
		c.Peers = append(c.Peers, proto.PeerState{
			PNN: pnn, Connected: p.linkUp && p.alive, LinkUp: p.linkUp, Alive: p.alive, Since: proto.TimestampOf(p.since),
		})
	}
	slices.SortFunc(c.Peers, func(a, b proto.PeerState) int { return cmp.Compare(a.PNN, b.PNN) })
	return c
}

// publishChanges logs and publishes connectivity when any node's
// connected state changed.
func (s *Service) publishChanges() {
	s.mu.Lock()
	changed := false
	for pnn, p := range s.peers {
		now := p.linkUp && p.alive
		if now == p.current {
			continue
		}
		changed = true
		p.current = now
		p.since = time.Now()
		if now {
			s.log.Log(context.Background(), slog.Level(2), "node is connected", "pnn", pnn)
		} else {
			s.log.Warn("node is disconnected", "pnn", pnn, "reason", p.reason)
		}
	}
	var snap *proto.Connectivity
	if changed {
		snap = s.snapshotLocked()
	}
	s.mu.Unlock()
	if snap != nil {
		s.port.Send(&proto.Message{
			Header:  proto.Header{Dst: proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDConnectivity}, Opcode: proto.OpConnectivity, Flags: proto.FlagPriority},
			Payload: snap.AppendTo(nil),
		})
	}
}
