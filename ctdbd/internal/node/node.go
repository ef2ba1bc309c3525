// Package node is the node service: this node's flags, capabilities and
// runstate, its view of every other node's flags, the tunables, the debug
// level and the daemon's statistics. It answers `ctdb status`,
// `nodestatus`, `getvar`, `ping`, `uptime` and friends at once from its
// current view, never waiting for the network.
//
// A node announces its own flags, capabilities and runstate to every
// connected node whenever they change and whenever a node connects, so
// every node's view converges without a leader.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Start-up gates, opened in this order by the services responsible for
// each step.
const (
	GateSetup         = "setup"          // SETUP -> FIRST_RECOVERY
	GateFirstRecovery = "first_recovery" // FIRST_RECOVERY -> STARTUP
	GateStartup       = "startup"        // STARTUP -> RUNNING
)

// Options are the node service's dependencies on the daemon.
type Options struct {
	// Shutdown asks the daemon to stop (ctdb shutdown).
	Shutdown func(reason string)
	// GetDebug and SetDebug read and change the daemon's log level by
	// CTDB name (ERROR, WARNING, NOTICE, INFO, DEBUG).
	GetDebug func() string
	SetDebug func(level string) error
	// Gates lists the start-up steps another service will report; a step
	// not listed is considered done at once.
	Gates []string
	// Version is reported in statistics.
	Version string
}

type peerView struct {
	addr      string
	deleted   bool
	flags     uint32
	caps      uint32
	runstate  proto.Runstate
	connected bool
}

// Service is the node service.
type Service struct {
	service.Base
	opts Options
	log  *slog.Logger
	port rpc.Port
	pnn  uint32

	mu           sync.Mutex
	flags        uint32
	caps         uint32
	runstate     proto.Runstate
	gatesOpen    map[string]bool
	peers        map[uint32]*peerView
	order        []uint32
	tunables     config.Tunables
	clients      uint32
	start        time.Time
	statsStart   time.Time
	recovery     proto.RecoveryTimes
	recoveries   uint64
	controls     map[string]uint64
	statusChange time.Time

	work sync.WaitGroup
}

var _ service.Service = (*Service)(nil)

// New returns the node service.
func New(opts Options) *Service {
	return &Service{opts: opts, gatesOpen: make(map[string]bool), peers: make(map[uint32]*peerView), controls: make(map[string]uint64)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceNode }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.start = time.Now()
	s.statsStart = s.start
	s.runstate = proto.RunstateInit
	if env.Tunables != nil {
		s.tunables = *env.Tunables
	} else {
		s.tunables = config.DefaultTunables()
	}
	for _, n := range env.Nodes {
		v := &peerView{deleted: n.Deleted}
		if !n.Deleted {
			v.addr = n.Addr.String()
		}
		s.peers[n.PNN] = v
		s.order = append(s.order, n.PNN)
	}
	if _, ok := s.peers[s.pnn]; !ok {
		return fmt.Errorf("node: pnn %d is not in the nodes file", s.pnn)
	}
	s.peers[s.pnn].connected = true
	if env.Config != nil {
		if env.Config.LeaderCapability() {
			s.caps |= proto.CapLeader
		}
		if env.Config.LMasterCapability() {
			s.caps |= proto.CapLMaster
		}
		if env.Config.StartAsStopped() {
			s.flags |= proto.NodeFlagStopped
		}
		if env.Config.StartAsDisabled() {
			s.flags |= proto.NodeFlagPermanentlyDisabled
		}
	} else {
		s.caps = proto.CapLeader | proto.CapLMaster
	}
	for _, srvid := range []uint64{proto.SrvIDConnectivity} {
		if err := s.port.RegisterSrvID(ctx, srvid); err != nil {
			return err
		}
	}
	return nil
}

// Reconfigure implements service.Service: a reloaded ctdb.tunables
// replaces the tunables.
func (s *Service) Reconfigure(ctx context.Context, env *service.Env) error {
	if env.Tunables == nil {
		return nil
	}
	s.mu.Lock()
	s.tunables = *env.Tunables
	s.mu.Unlock()
	s.publishTunables()
	return nil
}

// Run implements service.Service: it walks the runstate machine and then
// waits for the end.
func (s *Service) Run(ctx context.Context) error {
	s.setRunstate(proto.RunstateSetup)
	s.announce(0)
	s.advance()
	<-ctx.Done()
	s.setRunstate(proto.RunstateShutdown)
	s.work.Wait()
	return nil
}

// advance moves through the start-up states whose gates are open.
func (s *Service) advance() {
	for {
		s.mu.Lock()
		rs := s.runstate
		var gate string
		var next proto.Runstate
		switch rs {
		case proto.RunstateSetup:
			gate, next = GateSetup, proto.RunstateFirstRecovery
		case proto.RunstateFirstRecovery:
			gate, next = GateFirstRecovery, proto.RunstateStartup
		case proto.RunstateStartup:
			gate, next = GateStartup, proto.RunstateRunning
		default:
			s.mu.Unlock()
			return
		}
		open := s.gatesOpen[gate] || !slices.Contains(s.opts.Gates, gate)
		s.mu.Unlock()
		if !open {
			return
		}
		s.setRunstate(next)
	}
}

func (s *Service) setRunstate(rs proto.Runstate) {
	s.mu.Lock()
	old := s.runstate
	s.runstate = rs
	s.mu.Unlock()
	if old == rs {
		return
	}
	s.log.Log(context.Background(), slog.Level(2), "runstate changed", "from", old.String(), "to", rs.String())
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDRunstate}, proto.OpRunstate, &proto.U32{V: uint32(rs)}, true)
	s.announce(s.flagsNow())
}

func (s *Service) flagsNow() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flags
}

func (s *Service) send(dst proto.Endpoint, op proto.Opcode, p proto.Payload, priority bool) {
	m := &proto.Message{Header: proto.Header{Dst: dst, Opcode: op}, Payload: p.AppendTo(nil)}
	if priority {
		m.Flags |= proto.FlagPriority
	}
	if err := s.port.Send(m); err != nil {
		s.log.Debug("send failed", "op", op.String(), "to", dst.String(), "err", err)
	}
}

func (s *Service) ownFlags(old uint32) *proto.NodeFlags {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &proto.NodeFlags{PNN: s.pnn, Flags: s.flags, OldFlags: old, Caps: s.caps, Runstate: s.runstate}
}

// announce tells this node's services and every connected node about
// this node's flags.
func (s *Service) announce(old uint32) {
	f := s.ownFlags(old)
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDNodeFlags}, proto.OpNodeFlags, f, true)
	s.mu.Lock()
	var targets []uint32
	for pnn, v := range s.peers {
		if pnn != s.pnn && v.connected {
			targets = append(targets, pnn)
		}
	}
	s.mu.Unlock()
	for _, pnn := range targets {
		s.send(proto.Endpoint{PNN: pnn, Service: proto.ServiceNode}, proto.OpNodeFlags, f, true)
	}
	s.publishNodeMap()
}

func (s *Service) publishNodeMap() {
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDNodeMap}, proto.OpGetNodeMap, s.nodeMap(), true)
}

func (s *Service) publishTunables() {
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDTunables}, proto.OpListTunables, s.tunableList(), false)
}

// nodeMap is this node's view of the cluster.
func (s *Service) nodeMap() *proto.NodeMap {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &proto.NodeMap{}
	for _, pnn := range s.order {
		v := s.peers[pnn]
		info := proto.NodeInfo{PNN: pnn, Addr: v.addr, Flags: v.flags, Caps: v.caps}
		switch {
		case v.deleted:
			info.Flags = proto.NodeFlagDeleted | proto.NodeFlagDisconnected
		case pnn == s.pnn:
			info.Flags, info.Caps = s.flags, s.caps
		case !v.connected:
			info.Flags |= proto.NodeFlagDisconnected
		}
		m.Nodes = append(m.Nodes, info)
	}
	return m
}

func (s *Service) tunableList() *proto.TunableList {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &proto.TunableList{}
	for name, v := range s.tunables.All() {
		l.Tunables = append(l.Tunables, proto.Tunable{Name: name, Value: v})
	}
	return l
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleEvent(m)
		return
	}
	if m.IsRequest() {
		s.mu.Lock()
		if m.Src.PNN != s.pnn {
			s.controls["node.req_control"]++
		} else if m.Src.Service == proto.ServiceClient {
			s.controls["client.req_control"]++
		}
		s.mu.Unlock()
	}
	reply := func(status proto.Status, msg string, body proto.Payload) { s.port.Reply(m, status, msg, body) }
	fail := func(status proto.Status, err error) { reply(status, err.Error(), nil) }
	switch m.Opcode {
	case proto.OpPing:
		s.mu.Lock()
		n := s.clients
		s.mu.Unlock()
		reply(proto.StatusOK, "", &proto.PingReply{NumClients: n})
	case proto.OpGetPNN:
		reply(proto.StatusOK, "", &proto.U32{V: s.pnn})
	case proto.OpGetPID:
		reply(proto.StatusOK, "", &proto.U32{V: uint32(os.Getpid())})
	case proto.OpGetRunstate:
		s.mu.Lock()
		rs := s.runstate
		s.mu.Unlock()
		reply(proto.StatusOK, "", &proto.U32{V: uint32(rs)})
	case proto.OpUptime:
		s.mu.Lock()
		u := &proto.Uptime{
			Now:                  proto.TimestampOf(time.Now()),
			Start:                proto.TimestampOf(s.start),
			LastRecoveryStarted:  s.recovery.Started,
			LastRecoveryFinished: s.recovery.Finished,
		}
		s.mu.Unlock()
		reply(proto.StatusOK, "", u)
	case proto.OpGetNodeMap:
		reply(proto.StatusOK, "", s.nodeMap())
	case proto.OpGetCapabilities:
		s.mu.Lock()
		caps := s.caps
		s.mu.Unlock()
		reply(proto.StatusOK, "", &proto.U32{V: caps})
	case proto.OpSetCapabilities:
		var c proto.Capabilities
		if err := proto.DecodePayload(m, &c); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		if (c.Set|c.Clear)&^(proto.CapLeader|proto.CapLMaster) != 0 || c.Set&c.Clear != 0 {
			fail(proto.StatusInvalid, errors.New("only the LEADER and LMASTER capabilities can be changed"))
			return
		}
		s.mu.Lock()
		s.caps = s.caps&^c.Clear | c.Set
		s.mu.Unlock()
		s.log.Log(ctx, slog.Level(2), "capabilities changed", "set", c.Set, "clear", c.Clear)
		s.announce(s.flagsNow())
		reply(proto.StatusOK, "", nil)
	case proto.OpGetTunable:
		var n proto.Name
		if err := proto.DecodePayload(m, &n); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		s.mu.Lock()
		v, err := s.tunables.Get(n.Name)
		s.mu.Unlock()
		if err != nil {
			fail(proto.StatusNotFound, err)
			return
		}
		reply(proto.StatusOK, "", &proto.U32{V: v})
	case proto.OpSetTunable:
		var t proto.Tunable
		if err := proto.DecodePayload(m, &t); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		s.mu.Lock()
		err := s.tunables.Set(t.Name, t.Value)
		s.mu.Unlock()
		if errors.Is(err, config.ErrObsoleteTunable) {
			s.log.Warn("setting obsolete tunable has no effect", "tunable", t.Name)
			reply(1, err.Error(), nil)
			return
		}
		if err != nil {
			fail(proto.StatusNotFound, err)
			return
		}
		s.log.Log(ctx, slog.Level(2), "tunable changed", "tunable", t.Name, "value", t.Value)
		s.publishTunables()
		reply(proto.StatusOK, "", nil)
	case proto.OpListTunables:
		reply(proto.StatusOK, "", s.tunableList())
	case proto.OpGetDebug:
		reply(proto.StatusOK, "", &proto.Name{Name: s.opts.GetDebug()})
	case proto.OpSetDebug:
		var n proto.Name
		if err := proto.DecodePayload(m, &n); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		if err := s.opts.SetDebug(n.Name); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		reply(proto.StatusOK, "", nil)
	case proto.OpStatistics:
		s.work.Add(1)
		go func() {
			defer s.work.Done()
			reply(proto.StatusOK, "", s.statistics(ctx))
		}()
	case proto.OpStatisticsReset:
		s.mu.Lock()
		s.statsStart = time.Now()
		clear(s.controls)
		s.mu.Unlock()
		reply(proto.StatusOK, "", nil)
	case proto.OpShutdown:
		s.log.Log(ctx, slog.Level(2), "shutdown requested", "from", m.Src.String())
		reply(proto.StatusOK, "", nil)
		s.opts.Shutdown("shutdown requested by " + m.Src.String())
	case proto.OpModifyFlags:
		var f proto.ModifyFlags
		if err := proto.DecodePayload(m, &f); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		if err := s.modifyFlags(ctx, f); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		reply(proto.StatusOK, "", nil)
	case proto.OpNodeFlags:
		var f proto.NodeFlags
		if err := proto.DecodePayload(m, &f); err != nil || f.PNN != m.Src.PNN {
			s.log.Warn("bad node flags announcement", "from", m.Src.String(), "err", err)
			return
		}
		s.peerFlags(f)
	case proto.OpClientCount:
		var c proto.ClientCount
		if err := proto.DecodePayload(m, &c); err == nil {
			s.mu.Lock()
			s.clients = c.Count
			s.mu.Unlock()
		}
	case proto.OpRecoveryTimes:
		var r proto.RecoveryTimes
		if err := proto.DecodePayload(m, &r); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		s.mu.Lock()
		s.recovery = r
		if r.Finished != 0 {
			s.recoveries++
		}
		s.mu.Unlock()
		reply(proto.StatusOK, "", nil)
	case proto.OpOpenGate:
		var n proto.Name
		if err := proto.DecodePayload(m, &n); err != nil {
			fail(proto.StatusInvalid, err)
			return
		}
		s.mu.Lock()
		s.gatesOpen[n.Name] = true
		s.mu.Unlock()
		s.advance()
		reply(proto.StatusOK, "", nil)
	default:
		fail(proto.StatusUnsupported, fmt.Errorf("node service does not handle %s", m.Opcode))
	}
}

// settableFlags are the flags a node sets on itself on request; the
// others follow from connectivity and the nodes file.
const settableFlags = proto.NodeFlagStopped | proto.NodeFlagPermanentlyDisabled | proto.NodeFlagBanned | proto.NodeFlagUnhealthy

func (s *Service) modifyFlags(ctx context.Context, f proto.ModifyFlags) error {
	if (f.Set|f.Clear)&^settableFlags != 0 {
		return fmt.Errorf("flags 0x%x cannot be set or cleared", (f.Set|f.Clear)&^settableFlags)
	}
	if f.Set&f.Clear != 0 {
		return fmt.Errorf("flags 0x%x both set and cleared", f.Set&f.Clear)
	}
	s.mu.Lock()
	old := s.flags
	s.flags = s.flags&^f.Clear | f.Set
	now := s.flags
	s.mu.Unlock()
	if now == old {
		return nil
	}
	s.log.Log(ctx, slog.Level(2), "node flags changed", "old", proto.NodeFlagsString(old), "new", proto.NodeFlagsString(now))
	s.announce(old)
	return nil
}

func (s *Service) peerFlags(f proto.NodeFlags) {
	if f.PNN == s.pnn {
		return
	}
	s.mu.Lock()
	v := s.peers[f.PNN]
	if v == nil || v.deleted {
		s.mu.Unlock()
		return
	}
	changed := v.flags != f.Flags || v.caps != f.Caps || v.runstate != f.Runstate
	old := v.flags
	v.flags, v.caps, v.runstate = f.Flags, f.Caps, f.Runstate
	s.mu.Unlock()
	if !changed {
		return
	}
	f.OldFlags = old
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDNodeFlags}, proto.OpNodeFlags, &f, true)
	s.publishNodeMap()
}

func (s *Service) handleEvent(m *proto.Message) {
	switch m.Dst.ID {
	case proto.SrvIDConnectivity:
		var c proto.Connectivity
		if err := proto.DecodePayload(m, &c); err != nil {
			return
		}
		var newly []uint32
		changed := false
		s.mu.Lock()
		for _, p := range c.Peers {
			v := s.peers[p.PNN]
			if v == nil || p.PNN == s.pnn || v.connected == p.Connected {
				continue
			}
			changed = true
			v.connected = p.Connected
			if p.Connected {
				newly = append(newly, p.PNN)
			}
		}
		s.mu.Unlock()
		// A node that just connected learns our flags straight away.
		f := s.ownFlags(s.flagsNow())
		for _, pnn := range newly {
			s.send(proto.Endpoint{PNN: pnn, Service: proto.ServiceNode}, proto.OpNodeFlags, f, true)
		}
		if changed {
			s.publishNodeMap()
		}
	}
}

func (s *Service) statistics(ctx context.Context) *proto.Statistics {
	st := &proto.Statistics{Now: proto.TimestampOf(time.Now())}
	s.mu.Lock()
	st.Start = proto.TimestampOf(s.statsStart)
	add := func(name string, v uint64) { st.Counters = append(st.Counters, proto.Counter{Name: name, Value: v}) }
	add("num_clients", uint64(s.clients))
	add("num_recoveries", s.recoveries)
	for _, name := range []string{"node.req_control", "client.req_control"} {
		add(name, s.controls[name])
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var ts proto.TransportStats
	if err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceTransport}, proto.OpTransportStats, nil, &ts); err == nil {
		var sent, recv uint64
		for _, p := range ts.Peers {
			sent += p.FramesSent
			recv += p.FramesRecv
		}
		add("client_packets_sent", ts.ClientFramesSent)
		add("client_packets_recv", ts.ClientFramesRecv)
		add("node_packets_sent", sent)
		add("node_packets_recv", recv)
	}
	return st
}
