// Package eventd is the event service: it runs the event scripts of
// events/legacy through package eventscripts with CTDB's calling
// convention and decides the node's health from them.
//
// Its life follows ctdbd's start-up: the init and setup events run first
// and open the node service's "setup" gate; once the node reaches the
// STARTUP runstate the startup event runs (again every MonitorInterval
// until it succeeds) and opens the "startup" gate; from RUNNING on the
// monitor event runs every MonitorInterval while the node is active. A
// failing monitor event sets the node UNHEALTHY, a succeeding one clears
// it again; a monitor event that times out only counts after
// MonitorTimeoutCount timeouts in a row, as in CTDB. The shutdown event
// runs when the service stops.
//
// Other services (failover, recovery) and `ctdb event` run events
// through OpEventRun; events run one at a time and any of them pre-empts
// a running monitor event. The startrecovery and recovered events run when
// the recovery service announces a recovery's start and end; the monitor
// event does not run in between, as a node in recovery is not judged.
package eventd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/eventscripts"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Component is the only event script component, as in CTDB 4.17.
const Component = "legacy"

// Options are the event service's settings.
type Options struct {
	// Dir is the script directory ($CTDB_BASE/events/legacy); it is
	// created if missing, so a node without scripts runs.
	Dir string
	// Env is added to the scripts' environment (CTDB_BASE, CTDB_SOCKET,
	// PATH...).
	Env []string
	// DebugScript runs when a script hangs ("" for none).
	DebugScript string
}

// Service is the event service.
type Service struct {
	service.Base
	opts   Options
	log    *slog.Logger
	port   rpc.Port
	pnn    uint32
	runner *eventscripts.Runner

	mu       sync.Mutex
	tunables config.Tunables
	runstate proto.Runstate
	active   bool
	// unhealthy is what this service last asked the node service for.
	unhealthy bool
	// timeouts counts monitor events in a row that timed out.
	timeouts uint32
	// recovering is when the recovery under way started; zero when none.
	recovering time.Time

	kick chan struct{}
	// recoveryEvents feeds startrecovery and recovered to one goroutine,
	// in the order the recoveries announced them.
	recoveryEvents chan eventscripts.Event
	work           service.Workers
}

var _ service.Service = (*Service)(nil)

// New returns the event service.
func New(opts Options) *Service {
	return &Service{opts: opts, active: true, kick: make(chan struct{}, 1), recoveryEvents: make(chan eventscripts.Event, 16)}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceEvent }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.tunables = config.DefaultTunables()
	if env.Tunables != nil {
		s.tunables = *env.Tunables
	}
	if err := os.MkdirAll(s.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("eventd: %w", err)
	}
	r, err := eventscripts.New(eventscripts.Config{
		Dir:         s.opts.Dir,
		Env:         s.opts.Env,
		DebugScript: s.opts.DebugScript,
		Logger:      s.log,
	})
	if err != nil {
		return fmt.Errorf("eventd: %w", err)
	}
	s.runner = r
	for _, srvid := range []uint64{proto.SrvIDRunstate, proto.SrvIDTunables, proto.SrvIDRecoveryStarted, proto.SrvIDRecovered} {
		if err := s.port.RegisterSrvID(ctx, srvid); err != nil {
			r.Close()
			return fmt.Errorf("eventd: register srvid %#x: %w", srvid, err)
		}
	}
	return nil
}

// Reconfigure implements service.Service.
func (s *Service) Reconfigure(_ context.Context, env *service.Env) error {
	if env.Tunables != nil {
		s.mu.Lock()
		s.tunables = *env.Tunables
		s.mu.Unlock()
		s.poke()
	}
	return nil
}

func (s *Service) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run implements service.Service: init, setup, then startup and monitor
// events for the life of the daemon, and the shutdown event at the end.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		s.work.Close()
		s.shutdownEvent()
		s.runner.Close()
	}()
	for _, ev := range []eventscripts.Event{eventscripts.Init, eventscripts.Setup} {
		if _, err := s.runner.Run(ctx, ev, s.scriptTimeout()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s event failed: %w", ev, err)
		}
	}
	if err := s.openGate(ctx, node.GateSetup); err != nil {
		return nil
	}
	s.work.Go(func() { s.runRecoveryEvents(ctx) })
	s.loop(ctx)
	return nil
}

// runRecoveryEvents runs startrecovery and recovered as recoveries are
// announced. A failure is logged: CTDB does not fail a recovery for it.
func (s *Service) runRecoveryEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-s.recoveryEvents:
			if _, err := s.runner.Run(ctx, ev, s.scriptTimeout()); err != nil && ctx.Err() == nil {
				s.log.Error("event failed", "event", ev, "err", err)
			}
		}
	}
}

// queueRecoveryEvent hands an event to runRecoveryEvents; a backlog
// (scripts far slower than recoveries) drops it with a log line.
func (s *Service) queueRecoveryEvent(ev eventscripts.Event) {
	select {
	case s.recoveryEvents <- ev:
	default:
		s.log.Warn("event not run: too many recovery events waiting", "event", ev)
	}
}

// inRecovery reports whether a recovery is under way; one that was
// announced but never finished (its leader died) counts for at most
// twice RecoverTimeout.
func (s *Service) inRecovery() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := 2 * time.Duration(s.tunables.RecoverTimeout) * time.Second
	return !s.recovering.IsZero() && time.Since(s.recovering) < limit
}

func (s *Service) shutdownEvent() {
	ctx, cancel := context.WithTimeout(context.Background(), s.scriptTimeout())
	defer cancel()
	if _, err := s.runner.Run(ctx, eventscripts.Shutdown, s.scriptTimeout()); err != nil {
		s.log.Error("shutdown event failed", "err", err)
	}
}

func (s *Service) scriptTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.tunables.EventScriptTimeout) * time.Second
}

func (s *Service) openGate(ctx context.Context, gate string) error {
	for {
		err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpOpenGate, &proto.Name{Name: gate}, nil)
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.log.Warn("cannot open start-up gate, retrying", "gate", gate, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// loop waits for STARTUP, runs the startup event until it succeeds, then
// the monitor event every MonitorInterval.
func (s *Service) loop(ctx context.Context) {
	// The runstate may have moved on before this service subscribed.
	var v proto.U32
	if rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpGetRunstate, nil, &v) == nil {
		s.mu.Lock()
		s.runstate = max(s.runstate, proto.Runstate(v.V))
		s.mu.Unlock()
	}
	startupDone := false
	for {
		s.mu.Lock()
		rs, active := s.runstate, s.active
		interval := time.Duration(s.tunables.MonitorInterval) * time.Second
		s.mu.Unlock()
		wait := interval
		switch {
		case rs < proto.RunstateStartup:
			wait = -1 // until the runstate changes
		case !startupDone:
			if s.startup(ctx) {
				startupDone = true
				wait = 0
			}
		case rs == proto.RunstateRunning && active && !s.inRecovery():
			s.monitor(ctx)
		}
		if !s.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits d (forever when negative) or until poked; false once ctx
// ends.
func (s *Service) sleep(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.kick:
	case <-timer:
	}
	return true
}

func (s *Service) startup(ctx context.Context) bool {
	if _, err := s.runner.Run(ctx, eventscripts.Startup, s.scriptTimeout()); err != nil {
		if ctx.Err() == nil {
			s.log.Error("startup event failed, retrying after MonitorInterval", "err", err)
		}
		return false
	}
	return s.openGate(ctx, node.GateStartup) == nil
}

// monitor runs one monitor event and sets the node's health from it.
func (s *Service) monitor(ctx context.Context) {
	_, err := s.runner.Run(ctx, eventscripts.Monitor, s.scriptTimeout())
	switch {
	case err == nil:
		s.mu.Lock()
		s.timeouts = 0
		s.mu.Unlock()
		s.setHealth(ctx, true, "")
	case errors.Is(err, eventscripts.ErrCancelled):
		// Pre-empted by another event, or shutting down: no verdict.
	case errors.Is(err, eventscripts.ErrTimedOut):
		s.mu.Lock()
		s.timeouts++
		n, limit := s.timeouts, s.tunables.MonitorTimeoutCount
		s.mu.Unlock()
		if n >= limit {
			s.setHealth(ctx, false, fmt.Sprintf("monitor event timed out %d times in a row", n))
		} else {
			// Below the limit a timeout counts as success, as in CTDB.
			s.log.Warn("monitor event timed out", "count", n, "limit", limit)
			s.setHealth(ctx, true, "")
		}
	default:
		s.mu.Lock()
		s.timeouts = 0
		s.mu.Unlock()
		s.setHealth(ctx, false, err.Error())
	}
}

func (s *Service) setHealth(ctx context.Context, healthy bool, why string) {
	s.mu.Lock()
	changed := s.unhealthy == healthy
	s.mu.Unlock()
	if !changed {
		return
	}
	mf := &proto.ModifyFlags{Clear: proto.NodeFlagUnhealthy}
	if !healthy {
		mf = &proto.ModifyFlags{Set: proto.NodeFlagUnhealthy}
	}
	if err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpModifyFlags, mf, nil); err != nil {
		s.log.Error("cannot change node health", "healthy", healthy, "err", err)
		return
	}
	s.mu.Lock()
	s.unhealthy = !healthy
	s.mu.Unlock()
	if healthy {
		s.log.Log(ctx, slog.Level(2), "monitor event OK - node re-enabled")
	} else {
		s.log.Error("monitor event failed - disabling node", "reason", why)
	}
}

// Dispatch implements service.Service.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.handleMessage(m)
		return
	}
	reply := func(st proto.Status, msg string, body proto.Payload) { s.port.Reply(m, st, msg, body) }
	switch m.Opcode {
	case proto.OpEventRun:
		var req proto.EventRun
		if err := proto.DecodePayload(m, &req); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		if !s.work.Go(func() {
			st, msg, res := s.run(ctx, &req)
			reply(st, msg, res)
		}) {
			reply(proto.StatusShutdown, "event service is stopping", nil)
		}
	case proto.OpEventStatus:
		var q proto.EventQuery
		if err := proto.DecodePayload(m, &q); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		st, msg, res := s.status(&q)
		reply(st, msg, res)
	case proto.OpEventScripts:
		var n proto.Name
		if err := proto.DecodePayload(m, &n); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		if n.Name != Component {
			reply(proto.StatusNotFound, fmt.Sprintf("Event dir for %s does not exist", n.Name), nil)
			return
		}
		scripts, err := s.runner.Scripts()
		if err != nil {
			reply(proto.StatusFailed, err.Error(), nil)
			return
		}
		l := &proto.ScriptList{}
		for _, sc := range scripts {
			l.Scripts = append(l.Scripts, proto.ScriptInfo{Name: sc.Name, Enabled: sc.Enabled})
		}
		reply(proto.StatusOK, "", l)
	case proto.OpEventScriptEnable:
		var c proto.ScriptChange
		if err := proto.DecodePayload(m, &c); err != nil {
			reply(proto.StatusInvalid, err.Error(), nil)
			return
		}
		st, msg := s.changeScript(&c)
		reply(st, msg, nil)
	default:
		reply(proto.StatusUnsupported, fmt.Sprintf("event service does not handle %s", m.Opcode), nil)
	}
}

func (s *Service) handleMessage(m *proto.Message) {
	switch {
	case m.Dst.ID == proto.SrvIDRunstate && m.Opcode == proto.OpRunstate:
		var v proto.U32
		if proto.DecodePayload(m, &v) == nil {
			s.mu.Lock()
			s.runstate = proto.Runstate(v.V)
			s.mu.Unlock()
			s.poke()
		}
	case m.Dst.ID == proto.SrvIDRecoveryStarted && m.Opcode == proto.OpRecoveryStarted:
		s.mu.Lock()
		s.recovering = time.Now()
		s.mu.Unlock()
		s.queueRecoveryEvent(eventscripts.StartRecovery)
	case m.Dst.ID == proto.SrvIDRecovered && m.Opcode == proto.OpRecovered:
		s.mu.Lock()
		s.recovering = time.Time{}
		s.mu.Unlock()
		s.queueRecoveryEvent(eventscripts.Recovered)
		s.poke()
	case m.Dst.ID == proto.SrvIDTunables && m.Opcode == proto.OpListTunables:
		var l proto.TunableList
		if proto.DecodePayload(m, &l) == nil {
			s.mu.Lock()
			for _, t := range l.Tunables {
				_ = s.tunables.Set(t.Name, t.Value)
			}
			s.mu.Unlock()
			s.poke()
		}
	case m.Dst.ID == proto.SrvIDNodeFlags && m.Opcode == proto.OpNodeFlags:
		var f proto.NodeFlags
		if proto.DecodePayload(m, &f) == nil && f.PNN == s.pnn {
			s.mu.Lock()
			was := s.active
			s.active = f.Flags&proto.NodeFlagsInactive == 0
			// Someone else (ctdb setflags, a restart) may have changed
			// UNHEALTHY; follow the node's word.
			s.unhealthy = f.Flags&proto.NodeFlagUnhealthy != 0
			now := s.active
			s.mu.Unlock()
			if now && !was {
				s.poke()
			}
		}
	}
}

func (s *Service) run(ctx context.Context, req *proto.EventRun) (proto.Status, string, proto.Payload) {
	if req.Component != Component {
		return proto.StatusOK, "", &proto.EventResult{Event: req.Event, Args: req.Args, Result: proto.EventResultNoDir}
	}
	ev, err := eventscripts.ParseEvent(req.Event)
	if err != nil {
		return proto.StatusInvalid, err.Error(), nil
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = s.scriptTimeout()
	}
	res, err := s.runner.Run(ctx, ev, timeout, req.Args...)
	if res == nil && err != nil && !errors.Is(err, eventscripts.ErrCancelled) {
		if errors.Is(err, eventscripts.ErrBadArgs) || errors.Is(err, eventscripts.ErrUnknownEvent) {
			return proto.StatusInvalid, err.Error(), nil
		}
		return proto.StatusFailed, err.Error(), nil
	}
	out := EventResult(res)
	if out == nil {
		out = &proto.EventResult{Event: req.Event, Args: req.Args}
	}
	switch {
	case err == nil:
		out.Result = proto.EventResultOK
	case errors.Is(err, eventscripts.ErrCancelled):
		out.Result = proto.EventResultCancelled
	case errors.Is(err, eventscripts.ErrTimedOut):
		out.Result = proto.EventResultTimedOut
	default:
		out.Result = proto.EventResultFailed
	}
	return proto.StatusOK, "", out
}

func (s *Service) status(q *proto.EventQuery) (proto.Status, string, proto.Payload) {
	if q.Component != Component {
		return proto.StatusNotFound, fmt.Sprintf("Event dir for %s does not exist", q.Component), nil
	}
	ev, err := eventscripts.ParseEvent(q.Event)
	if err != nil {
		return proto.StatusInvalid, err.Error(), nil
	}
	res, err := s.runner.Status(ev)
	if errors.Is(err, eventscripts.ErrNeverRun) {
		return proto.StatusNotFound, fmt.Sprintf("Event %s has never run in %s", q.Event, q.Component), nil
	}
	if err != nil {
		return proto.StatusFailed, err.Error(), nil
	}
	return proto.StatusOK, "", EventResult(res)
}

func (s *Service) changeScript(c *proto.ScriptChange) (proto.Status, string) {
	if c.Component != Component {
		return proto.StatusNotFound, fmt.Sprintf("Event dir for %s does not exist", c.Component)
	}
	var err error
	if c.Enable {
		err = s.runner.Enable(c.Script)
	} else {
		err = s.runner.Disable(c.Script)
	}
	switch {
	case err == nil:
		return proto.StatusOK, ""
	case errors.Is(err, eventscripts.ErrScriptNotFound):
		return proto.StatusNotFound, err.Error()
	case errors.Is(err, eventscripts.ErrInvalidScript):
		return proto.StatusInvalid, err.Error()
	}
	return proto.StatusFailed, err.Error()
}

// EventResult converts a run's result to its wire form; Result is left
// for the caller, Summary is CTDB's: the failed script's exit status,
// ETIMEDOUT, or 0.
func EventResult(r *eventscripts.Result) *proto.EventResult {
	if r == nil {
		return nil
	}
	out := &proto.EventResult{
		Event:    string(r.Event),
		Args:     r.Args,
		Start:    proto.TimestampOf(r.Start),
		Duration: r.Duration,
	}
	for _, sr := range r.Scripts {
		ps := proto.ScriptResult{
			Name:     sr.Name,
			Start:    proto.TimestampOf(sr.Start),
			Duration: sr.Duration,
			Output:   sr.Output,
		}
		switch sr.Status {
		case eventscripts.StatusOK:
			ps.Status = proto.ScriptOK
		case eventscripts.StatusError:
			ps.Status, ps.ExitCode = proto.ScriptError, int32(sr.ExitCode)
			if out.Summary == 0 {
				out.Summary = ps.ExitCode
			}
		case eventscripts.StatusTimedOut:
			ps.Status = proto.ScriptTimedOut
			if out.Summary == 0 {
				out.Summary = proto.EventResultTimedOut
			}
		case eventscripts.StatusDisabled:
			ps.Status = proto.ScriptDisabled
		case eventscripts.StatusCannotRun:
			ps.Status = proto.ScriptCannotRun
			if sr.Err != nil {
				ps.Err = sr.Err.Error()
			}
			if out.Summary == 0 {
				out.Summary = proto.EventResultFailed
			}
		}
		out.Scripts = append(out.Scripts, ps)
	}
	return out
}
