// Package banning is the banning service (proto.ServiceBanning). A ban
// is kept by the banned node itself: its banning service sets the node's
// BANNED flag through the node service, remembers who banned it, why and
// until when, and clears the flag when the ban expires, even if whoever
// imposed it is gone. Bans are not kept across restarts, as in CTDB.
//
// Requests, all answered by the node that is (to be) banned:
//
//   - proto.OpBan (proto.BanRequest) bans for Seconds > 0 with a reason;
//     banning a banned node replaces its ban. Sent one-way it is applied
//     without an answer.
//   - proto.OpUnban lifts a ban; status 1 means the node was not banned.
//   - proto.OpGetBanState answers with a proto.BanState, at once.
//
// Ban credits (proto.OpBanCredits, proto.BanCredits) are for the leader's
// recovery: it charges the nodes that make a recovery fail to its local
// banning service, which bans a node for RecoveryBanPeriod seconds once it
// collects 2 x (number of nodes) credits within RecoveryGracePeriod, as
// CTDB does, unless EnableBans is 0. An inactive node charges nobody.
// Nothing in gctdb charges credits for failing to take the cluster lock:
// contention only means that another node leads.
//
// Every ban and unban of this node is published on proto.SrvIDBanState
// (proto.OpBanState).
package banning

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/logging"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Service is the banning service.
type Service struct {
	service.Base
	log      *slog.Logger
	port     rpc.Port
	pnn      uint32
	numNodes int
	wake     chan struct{}

	// flagMu orders changes of the BANNED flag: a ban and the expiry of
	// the previous one never interleave.
	flagMu sync.Mutex

	mu       sync.Mutex
	state    proto.BanState
	gen      uint64 // counts bans, so an expiry knows whether its ban is still current
	flags    uint32
	tunables config.Tunables
	credits  map[uint32]*credit
}

type credit struct {
	count uint32
	last  time.Time
}

var _ service.Service = (*Service)(nil)

// New returns the banning service.
func New() *Service {
	return &Service{wake: make(chan struct{}, 1), credits: make(map[uint32]*credit)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceBanning }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.state = proto.BanState{PNN: s.pnn, By: proto.PNNUnknown}
	for _, n := range env.Nodes {
		if !n.Deleted {
			s.numNodes++
		}
	}
	s.tunables = config.DefaultTunables()
	if env.Tunables != nil {
		s.tunables = *env.Tunables
	}
	if err := s.port.RegisterSrvID(ctx, proto.SrvIDTunables); err != nil {
		return fmt.Errorf("banning: %w", err)
	}
	return nil
}

// Reconfigure implements service.Service.
func (s *Service) Reconfigure(_ context.Context, env *service.Env) error {
	if env.Tunables != nil {
		s.mu.Lock()
		s.tunables = *env.Tunables
		s.mu.Unlock()
	}
	return nil
}

// Run implements service.Service: it lifts bans when they expire.
func (s *Service) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		banned, until, gen := s.state.Banned, s.state.Until.Time(), s.gen
		s.mu.Unlock()
		if banned {
			if d := until.Sub(time.Now()); d > 0 {
				timer.Reset(d)
			} else {
				s.expire(ctx, gen)
				continue
			}
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// expire lifts ban gen if it is still the current one.
func (s *Service) expire(ctx context.Context, gen uint64) {
	s.flagMu.Lock()
	defer s.flagMu.Unlock()
	s.mu.Lock()
	if !s.state.Banned || s.gen != gen {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if err := s.setFlag(ctx, false); err != nil {
		s.log.Error("cannot lift an expired ban; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return
	}
	s.mu.Lock()
	s.state.Banned = false
	st := s.state
	s.mu.Unlock()
	s.log.Log(ctx, logging.SlogNotice, "ban expired, this node is unbanned", "reason", st.Reason)
	s.publish(&st)
}

// setFlag sets or clears this node's BANNED flag.
func (s *Service) setFlag(ctx context.Context, banned bool) error {
	f := &proto.ModifyFlags{Clear: proto.NodeFlagBanned}
	if banned {
		f = &proto.ModifyFlags{Set: proto.NodeFlagBanned}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rpc.CallTyped(cctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpModifyFlags, f, nil)
}

func (s *Service) publish(st *proto.BanState) {
	s.port.Send(&proto.Message{
		Header:  proto.Header{Dst: proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDBanState}, Opcode: proto.OpBanState, Flags: proto.FlagPriority},
		Payload: st.AppendTo(nil),
	})
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleEvent(m)
		return
	}
	reply := func(status proto.Status, msg string, body proto.Payload) { s.port.Reply(m, status, msg, body) }
	switch m.Opcode {
	case proto.OpBan:
		var r proto.BanRequest
		if err := proto.DecodePayload(m, &r); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		if r.Seconds == 0 {
			reply(proto.StatusInvalid, "ban time cannot be zero", nil)
			return
		}
		if err := s.ban(ctx, r); err != nil {
			reply(proto.StatusFailed, err.Error(), nil)
			return
		}
		reply(proto.StatusOK, "", nil)
	case proto.OpUnban:
		was, err := s.unban(ctx, m.Src)
		switch {
		case err != nil:
			reply(proto.StatusFailed, err.Error(), nil)
		case !was:
			reply(1, fmt.Sprintf("node %d is not banned", s.pnn), nil)
		default:
			reply(proto.StatusOK, "", nil)
		}
	case proto.OpGetBanState:
		s.mu.Lock()
		st := s.state
		s.mu.Unlock()
		reply(proto.StatusOK, "", &st)
	case proto.OpBanCredits:
		var c proto.BanCredits
		if err := proto.DecodePayload(m, &c); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		s.charge(ctx, c)
		reply(proto.StatusOK, "", nil)
	default:
		reply(proto.StatusUnsupported, fmt.Sprintf("banning service does not handle %s", m.Opcode), nil)
	}
}

func (s *Service) handleEvent(m *proto.Message) {
	switch m.Dst.ID {
	case proto.SrvIDTunables:
		var l proto.TunableList
		if proto.DecodePayload(m, &l) != nil {
			return
		}
		s.mu.Lock()
		for _, t := range l.Tunables {
			s.tunables.Set(t.Name, t.Value)
		}
		s.mu.Unlock()
	case proto.SrvIDNodeFlags:
		var f proto.NodeFlags
		if proto.DecodePayload(m, &f) != nil || f.PNN != s.pnn {
			return
		}
		s.mu.Lock()
		s.flags = f.Flags
		s.mu.Unlock()
	}
}

// ban bans this node as r asks.
func (s *Service) ban(ctx context.Context, r proto.BanRequest) error {
	s.flagMu.Lock()
	defer s.flagMu.Unlock()
	if err := s.setFlag(ctx, true); err != nil {
		return fmt.Errorf("ban node %d: %w", s.pnn, err)
	}
	now := time.Now()
	s.mu.Lock()
	s.gen++
	s.state = proto.BanState{
		PNN:    s.pnn,
		Banned: true,
		Since:  proto.TimestampOf(now),
		Until:  proto.TimestampOf(now.Add(time.Duration(r.Seconds) * time.Second)),
		By:     r.By,
		Reason: r.Reason,
	}
	st := s.state
	s.mu.Unlock()
	s.log.Log(ctx, logging.SlogNotice, "banning this node", "seconds", r.Seconds, "by", byText(r.By), "reason", r.Reason)
	s.publish(&st)
	s.poke()
	return nil
}

// unban lifts this node's ban and reports whether there was one.
func (s *Service) unban(ctx context.Context, by proto.Endpoint) (bool, error) {
	s.flagMu.Lock()
	defer s.flagMu.Unlock()
	s.mu.Lock()
	was := s.state.Banned
	s.mu.Unlock()
	if !was {
		return false, nil
	}
	if err := s.setFlag(ctx, false); err != nil {
		return true, fmt.Errorf("unban node %d: %w", s.pnn, err)
	}
	s.mu.Lock()
	s.gen++
	s.state.Banned = false
	st := s.state
	s.mu.Unlock()
	s.log.Log(ctx, logging.SlogNotice, "this node is unbanned", "by", by.String())
	s.publish(&st)
	s.poke()
	return true, nil
}

func byText(pnn uint32) string {
	if pnn == proto.PNNUnknown {
		return "local client"
	}
	return fmt.Sprintf("node %d", pnn)
}

// charge adds ban credits and bans the culprit when it has enough.
func (s *Service) charge(ctx context.Context, c proto.BanCredits) {
	now := time.Now()
	s.mu.Lock()
	if s.flags&proto.NodeFlagsInactive != 0 {
		s.mu.Unlock()
		s.log.Info("this node is inactive and charges nobody", "culprit", c.PNN, "reason", c.Reason)
		return
	}
	cr := s.credits[c.PNN]
	if cr == nil {
		cr = &credit{}
		s.credits[c.PNN] = cr
	}
	if now.Sub(cr.last) > time.Duration(s.tunables.RecoveryGracePeriod)*time.Second {
		cr.count = 0
	}
	cr.count += c.Credits
	cr.last = now
	count, limit := cr.count, uint32(2*s.numNodes)
	enabled, period := s.tunables.EnableBans != 0, s.tunables.RecoveryBanPeriod
	if count >= limit {
		cr.count = 0
	}
	s.mu.Unlock()
	s.log.Log(ctx, logging.SlogNotice, "ban credits charged", "culprit", c.PNN, "credits", c.Credits, "total", count, "limit", limit, "reason", c.Reason)
	if count < limit {
		return
	}
	if !enabled {
		s.log.Warn("node has enough ban credits to be banned, but EnableBans is 0", "culprit", c.PNN, "credits", count)
		return
	}
	req := &proto.BanRequest{Seconds: period, By: s.pnn, Reason: fmt.Sprintf("%d ban credits within RecoveryGracePeriod, last: %s", count, c.Reason)}
	s.log.Log(ctx, logging.SlogNotice, "banning node", "culprit", c.PNN, "seconds", period, "reason", req.Reason)
	if err := s.port.Send(&proto.Message{
		Header:  proto.Header{Dst: proto.Endpoint{PNN: c.PNN, Service: proto.ServiceBanning}, Opcode: proto.OpBan, Flags: proto.FlagPriority},
		Payload: req.AppendTo(nil),
	}); err != nil {
		s.log.Error("cannot ban node", "culprit", c.PNN, "err", err)
	}
}
