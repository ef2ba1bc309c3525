// Package recoveryd is the recovery service (proto.ServiceRecovery). On
// the leader it decides when the cluster needs a recovery and runs it
// (run.go), following the rules of package recovery; on every node it
// republishes the leader's announcements (SrvIDRecoveryStarted,
// SrvIDRecovered), records the times for `ctdb uptime`, opens the
// FIRST_RECOVERY start-up gate after the node's first recovery, and
// passes `ctdb recover` on to the leader.
//
// Triggers, checked every RecoverInterval and whenever the node map or the
// leader changes: no recovery yet in this leader's term; the set of
// active nodes differs from the last recovery's; a node's generation,
// recovery mode or set of databases disagrees (OpRecCheck); a request
// (OpRecover, from `ctdb recover` or a database service that found copies
// disagreeing). After a failed recovery the leader waits RerecoveryTimeout
// before the next, so a node that keeps failing cannot cause a recovery
// storm; the node that made it fail is charged ban credits.
package recoveryd

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/recovery"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Service is the recovery service.
type Service struct {
	service.Base
	log  *slog.Logger
	port rpc.Port
	pnn  uint32
	wake chan struct{}
	work sync.WaitGroup

	tunables service.Tunables

	mu     sync.Mutex
	leader proto.Leader
	nodes  proto.NodeMap
	// requests wait for the next recovery that starts after they came.
	requests []*request
	running  bool
	// seq counts this leader's recoveries in its term; last is the last
	// recovery this node took part in, lastParts its participants as the
	// leader saw them.
	seq       uint32
	seqTerm   uint64
	last      proto.RecoveryEvent
	lastParts []uint32
	failedAt  time.Time
	// cancelCheck ends the consistency check under way, if any.
	cancelCheck context.CancelFunc
	gateOpen    bool
	// prevMissing are the databases nodes lacked at the previous check
	// (only the Run loop uses it).
	prevMissing map[string]bool
	stats       stats
	start       time.Time
}

type request struct {
	reason string
	done   chan result
}

type result struct {
	ev  proto.RecoveryEvent
	err error
}

var _ service.Service = (*Service)(nil)

// New returns the recovery service.
func New() *Service {
	return &Service{wake: make(chan struct{}, 1), leader: proto.Leader{PNN: proto.PNNUnknown}}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceRecovery }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.start = time.Now()
	s.tunables.Reset(env)
	for _, id := range []uint64{proto.SrvIDLeader, proto.SrvIDNodeMap, proto.SrvIDTunables} {
		if err := s.port.RegisterSrvID(ctx, id); err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
	}
	return nil
}

// Reconfigure implements service.Service.
func (s *Service) Reconfigure(_ context.Context, env *service.Env) error {
	s.tunables.Reset(env)
	return nil
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleEvent(m)
		return
	}
	switch m.Opcode {
	case proto.OpRecover:
		var r proto.RecoverRequest
		if err := proto.DecodePayload(m, &r); err != nil {
			s.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
			return
		}
		s.handleRecover(ctx, m, r)
	case proto.OpRecoveryStatus:
		s.port.Reply(m, proto.StatusOK, "", s.status())
	case proto.OpRecoveryStarted, proto.OpRecovered:
		var ev proto.RecoveryEvent
		if err := proto.DecodePayload(m, &ev); err != nil {
			s.log.Warn("bad recovery announcement", "from", m.Src.String(), "err", err)
			return
		}
		s.announced(ctx, m.Opcode, &ev)
	default:
		s.port.Reply(m, proto.StatusUnsupported, fmt.Sprintf("recovery service does not handle %s", m.Opcode), nil)
	}
}

func (s *Service) handleEvent(m *proto.Message) {
	if s.tunables.Apply(m) {
		return
	}
	switch m.Dst.ID {
	case proto.SrvIDLeader:
		var l proto.Leader
		if proto.DecodePayload(m, &l) != nil {
			return
		}
		s.mu.Lock()
		s.leader = l
		s.mu.Unlock()
		s.poke()
	case proto.SrvIDNodeMap:
		var nm proto.NodeMap
		if proto.DecodePayload(m, &nm) != nil {
			return
		}
		s.mu.Lock()
		changed := !slices.Equal(recovery.Participants(&nm), recovery.Participants(&s.nodes))
		s.nodes = nm
		cancelCheck := s.cancelCheck
		s.mu.Unlock()
		if changed && cancelCheck != nil {
			// A check waiting on a node that just went away would
			// otherwise hold the recovery up for its whole timeout.
			cancelCheck()
		}
		s.poke()
	}
}

// handleRecover queues a request on the leader, or passes it on to the
// leader from any other node.
func (s *Service) handleRecover(ctx context.Context, m *proto.Message, r proto.RecoverRequest) {
	s.mu.Lock()
	leader := s.leader
	s.mu.Unlock()
	tun := s.tunables.Get()
	timeout := time.Duration(2*tun.RecoverTimeout+tun.RerecoveryTimeout) * time.Second
	if r.Reason == "" {
		r.Reason = fmt.Sprintf("requested by %s", m.Src.String())
	}
	if leader.PNN != s.pnn {
		if r.Flags&proto.RecoverForwarded != 0 || !leader.Known() {
			s.port.Reply(m, proto.StatusUnavailable, fmt.Sprintf("node %d does not lead recoveries and knows no leader", s.pnn), nil)
			return
		}
		s.spawn(func() {
			fwd := r
			fwd.Flags |= proto.RecoverForwarded
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			rep, err := s.port.Call(cctx, proto.Endpoint{PNN: leader.PNN, Service: proto.ServiceRecovery}, proto.OpRecover, &fwd, 0)
			if err != nil {
				s.port.Reply(m, proto.StatusUnavailable, fmt.Sprintf("pass recovery request to leader %d: %v", leader.PNN, err), nil)
				return
			}
			s.port.Reply(m, rep.Status, rep.Msg, rawPayload(rep.Body))
		})
		return
	}
	req := &request{reason: r.Reason, done: make(chan result, 1)}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.stats.forced++
	s.mu.Unlock()
	s.poke()
	if r.Flags&proto.RecoverNoWait != 0 {
		s.port.Reply(m, proto.StatusOK, "", nil)
		return
	}
	s.spawn(func() {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		select {
		case res := <-req.done:
			if res.err != nil {
				s.port.Reply(m, proto.StatusFailed, res.err.Error(), nil)
				return
			}
			s.port.Reply(m, proto.StatusOK, "", &res.ev)
		case <-cctx.Done():
			s.port.Reply(m, proto.StatusTimeout, "no recovery finished in time", nil)
		}
	})
}

// rawPayload passes an encoded body through unchanged.
type rawPayload []byte

func (r rawPayload) AppendTo(b []byte) []byte  { return append(b, r...) }
func (r rawPayload) DecodeFrom(*proto.Decoder) {}

func (s *Service) spawn(fn func()) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		fn()
	}()
}

// announced republishes a leader's announcement on this node, keeps the
// recovery times for `ctdb uptime` and, after the node's first recovery,
// opens the FIRST_RECOVERY gate.
func (s *Service) announced(ctx context.Context, op proto.Opcode, ev *proto.RecoveryEvent) {
	srvid := proto.SrvIDRecoveryStarted
	times := proto.RecoveryTimes{Started: ev.Started}
	if op == proto.OpRecovered {
		srvid, times.Finished = proto.SrvIDRecovered, ev.Finished
	}
	s.mu.Lock()
	if op == proto.OpRecovered && ev.Number >= s.last.Number {
		s.last = *ev
	}
	openGate := op == proto.OpRecovered && !s.gateOpen
	s.gateOpen = s.gateOpen || openGate
	s.mu.Unlock()
	s.port.Send(&proto.Message{
		Header:  proto.Header{Dst: proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: srvid}, Opcode: op},
		Payload: ev.AppendTo(nil),
	})
	s.spawn(func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		nodeEP := proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}
		if err := rpc.CallTyped(cctx, s.port, nodeEP, proto.OpRecoveryTimes, &times, nil); err != nil {
			s.log.Debug("recovery times not recorded", "err", err)
		}
		if openGate {
			if err := rpc.CallTyped(cctx, s.port, nodeEP, proto.OpOpenGate, &proto.Name{Name: node.GateFirstRecovery}, nil); err != nil {
				s.log.Warn("cannot open the first-recovery gate", "err", err)
			}
		}
	})
}

// Run implements service.Service: on the leader, it checks every
// RecoverInterval (or when woken) whether a recovery is needed and runs
// it.
func (s *Service) Run(ctx context.Context) error {
	defer s.work.Wait()
	s.fetchLeader(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.failRequests(ctx.Err())
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		interval := time.Duration(max(s.tunables.Get().RecoverInterval, 1)) * time.Second
		s.check(ctx)
		timer.Reset(interval)
	}
}

// fetchLeader asks the cluster service for the leader it may have
// announced before this service subscribed.
func (s *Service) fetchLeader(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var l proto.Leader
	if err := rpc.CallTyped(cctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceCluster}, proto.OpGetLeader, nil, &l); err != nil {
		s.log.Debug("leader not known yet", "err", err)
		return
	}
	s.mu.Lock()
	if l.Term >= s.leader.Term {
		s.leader = l
	}
	s.mu.Unlock()
}

func (s *Service) failRequests(err error) {
	s.mu.Lock()
	reqs := s.requests
	s.requests = nil
	s.mu.Unlock()
	for _, r := range reqs {
		r.done <- result{err: err}
	}
}

// status is this node's RecoveryStatus.
func (s *Service) status() *proto.RecoveryStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &proto.RecoveryStatus{
		Leading: s.leader.PNN == s.pnn,
		Running: s.running,
		Pending: len(s.requests) > 0,
		Last:    s.last,
		Stats:   s.stats.export(s.start),
	}
}

// stats are the recovery statistics of this node as leader.
type stats struct {
	recoveries, failures, forced, bans uint64
	latency                            proto.Latency
}

func (st *stats) finished(d time.Duration) {
	st.latency.Add(d)
	st.recoveries++
}

func (st *stats) export(start time.Time) proto.Statistics {
	l := st.latency
	l.Name = "recovery_latency"
	return proto.Statistics{
		Start: proto.TimestampOf(start),
		Now:   proto.TimestampOf(time.Now()),
		Counters: []proto.Counter{
			{Name: "recoveries", Value: st.recoveries},
			{Name: "failures", Value: st.failures},
			{Name: "forced", Value: st.forced},
			{Name: "bans_requested", Value: st.bans},
		},
		Latencies: []proto.Latency{l},
	}
}
