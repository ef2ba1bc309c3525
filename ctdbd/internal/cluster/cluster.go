package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/logging"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Timing of the service.
const (
	// DefaultBroadcastInterval is how often the leader says so (CTDB's).
	DefaultBroadcastInterval = time.Second
	// A node without a leader races again after finding the lock
	// contended, first after raceRetryMin (a killed leader's helper may
	// still be exiting), then backing off to raceRetry (the lease of a
	// stalled leader runs out at any moment).
	raceRetryMin = 50 * time.Millisecond
	raceRetry    = 250 * time.Millisecond
	// askTimeout bounds a start-up question to another node; a question
	// that failed is asked again after askRetry.
	askTimeout = time.Second
	askRetry   = 200 * time.Millisecond
	// verifyTimeout bounds the helper's answer to a verify request.
	verifyTimeout = time.Second
)

// Options configure the service.
type Options struct {
	// HelperPath is the built-in cluster lock helper (FindHelper).
	HelperPath string
	// BroadcastInterval is how often the leader broadcasts; zero means
	// DefaultBroadcastInterval. The lease is renewed four times as often.
	BroadcastInterval time.Duration
}

// FindHelper returns the built-in cluster lock helper: next to the
// running executable (a build directory, or an installation's sbin), in
// /usr/libexec/gctdb, or on PATH. It returns the bare name when there is
// none, so that the error names it.
func FindHelper() string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	dirs = append(dirs, "/usr/libexec/gctdb")
	for _, d := range dirs {
		p := filepath.Join(d, HelperName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p
	}
	return HelperName
}

// Service is the cluster service.
type Service struct {
	service.Base
	opts    Options
	log     *slog.Logger
	port    rpc.Port
	pnn     uint32
	nodes   []uint32 // every configured (not deleted) node, this one included
	spec    lockSpec
	logLoc  string
	logHost string
	in      queue

	// mu guards what Dispatch answers from without asking the loop.
	mu            sync.Mutex
	view          proto.Leader
	heardWall     time.Time
	leading       bool
	eligible      bool
	lock          *heldLock
	leaderTimeout time.Duration
	leaderCap     bool
	latencyWarn   time.Duration
	counters      map[string]uint64
	lockLatency   proto.Latency
	statsStart    time.Time

	// st belongs to the Run loop.
	st   loopState
	work sync.WaitGroup
}

var _ service.Service = (*Service)(nil)

// nodeState is the loop's view of one node.
type nodeState struct {
	flags     uint32
	caps      uint32
	connected bool
	// everConnected is true once the node has been connected.
	everConnected bool
	// claim is the node's last leader broadcast (no lock mode).
	claim proto.Leader
	// mismatch is set once the node was found to use another cluster
	// lock setting, which is logged once.
	mismatch bool
	// heard is true once the node announced its flags and capabilities.
	heard bool
	// asked is when this node was last asked who leads (start-up).
	asked time.Time
	// answer is its start-up answer; answered says there is one.
	answer   proto.Leader
	answered bool
}

type loopState struct {
	nodes   map[uint32]*nodeState
	haveMap bool
	// mapPublished is set by the first node map published on
	// SrvIDNodeMap.
	mapPublished bool
	// maxTerm is the highest term seen anywhere.
	maxTerm uint64
	// heard is when the leader was last heard from (monotonic).
	heard   time.Time
	started time.Time
	// startup lasts until a leader is known or this node races.
	startup bool
	// electing is true from the first race without a leader until a
	// leader is known.
	electing bool
	// retry is the wait before the next race after a contended one.
	retry         time.Duration
	racing        bool
	nextRace      time.Time
	lock          *heldLock
	nextBroadcast time.Time
	// checking is the term whose lock is being verified before a
	// broadcast (0: none); checkAgain asks for another broadcast once
	// that check is done.
	checking   uint64
	checkAgain bool
	// minoritySince is when this node last lost sight of half of the
	// nodes (zero while it sees at least half).
	minoritySince time.Time
}

// New returns the cluster service.
func New(opts Options) *Service {
	if opts.BroadcastInterval == 0 {
		opts.BroadcastInterval = DefaultBroadcastInterval
	}
	if opts.HelperPath == "" {
		opts.HelperPath = FindHelper()
	}
	return &Service{opts: opts, counters: make(map[string]uint64), in: newQueue()}
}

// ID implements service.Service.
func (s *Service) ID() proto.ServiceID { return proto.ServiceCluster }

// Init implements service.Service.
func (s *Service) Init(ctx context.Context, env *service.Env) error {
	s.log, s.port, s.pnn = env.Logger, env.Port, env.PNN
	s.view = proto.Leader{PNN: proto.PNNUnknown}
	s.statsStart = time.Now()
	s.lockLatency.Name = "reclock_recd"
	s.st = loopState{nodes: make(map[uint32]*nodeState), startup: true}
	for _, n := range env.Nodes {
		if n.Deleted {
			continue
		}
		s.nodes = append(s.nodes, n.PNN)
		s.st.nodes[n.PNN] = &nodeState{}
	}
	slices.Sort(s.nodes)
	if s.st.nodes[s.pnn] == nil {
		return fmt.Errorf("cluster: pnn %d is not in the nodes file", s.pnn)
	}
	s.st.nodes[s.pnn].connected = true
	s.leaderTimeout = 5 * time.Second
	s.leaderCap = true
	raw := ""
	if env.Config != nil {
		raw = env.Config.ClusterLock()
		s.leaderTimeout = env.Config.LeaderTimeout()
		s.leaderCap = env.Config.LeaderCapability()
		s.logLoc = env.Config.LogLocation().String()
	}
	s.logHost = env.Paths.LogHostname()
	s.latencyWarn = time.Second
	if env.Tunables != nil {
		s.latencyWarn = time.Duration(env.Tunables.RecLockLatencyMs) * time.Millisecond
	}
	spec, err := parseLockSpec(raw, s.opts.HelperPath)
	if err != nil {
		return err
	}
	s.spec = spec
	if spec.configured() {
		s.log.Log(ctx, logging.SlogNotice, "cluster lock configured", "lock", spec.raw, "leader_timeout", s.leaderTimeout)
	} else {
		s.log.Warn("no cluster lock configured: the lowest connected leader-capable node leads, and a network partition elects one leader per partition (split brain)")
	}
	for _, srvid := range []uint64{proto.SrvIDNodeMap, proto.SrvIDTunables} {
		if err := s.port.RegisterSrvID(ctx, srvid); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// Reconfigure implements service.Service: [cluster] leader timeout and
// leader capability may change at run time; the cluster lock may not.
func (s *Service) Reconfigure(ctx context.Context, env *service.Env) error {
	if env.Config == nil {
		return nil
	}
	if env.Config.ClusterLock() != s.spec.raw {
		s.log.Warn("cluster lock changed in the configuration; restart ctdbd to use it", "lock", env.Config.ClusterLock(), "in_use", s.spec.raw)
	}
	s.mu.Lock()
	s.leaderTimeout = env.Config.LeaderTimeout()
	changed := s.leaderCap != env.Config.LeaderCapability()
	s.leaderCap = env.Config.LeaderCapability()
	capOn := s.leaderCap
	s.mu.Unlock()
	if changed {
		c := &proto.Capabilities{Clear: proto.CapLeader}
		if capOn {
			c = &proto.Capabilities{Set: proto.CapLeader}
		}
		if err := rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpSetCapabilities, c, nil); err != nil {
			return fmt.Errorf("cluster: apply leader capability: %w", err)
		}
	}
	return nil
}

func (s *Service) timeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderTimeout
}

// Dispatch implements service.Service. Questions about the view are
// answered at once; everything that changes state goes to the loop.
func (s *Service) Dispatch(ctx context.Context, m *proto.Message) {
	if m.Dst.Service == proto.ServiceMessage {
		s.in.put(m)
		return
	}
	switch m.Opcode {
	case proto.OpGetLeader:
		s.port.Reply(m, proto.StatusOK, "", s.currentView())
	case proto.OpGetClusterLock:
		s.port.Reply(m, proto.StatusOK, "", &proto.Name{Name: s.spec.raw})
	case proto.OpClusterStatus:
		s.port.Reply(m, proto.StatusOK, "", s.status())
	case proto.OpLeaderBroadcast, proto.OpLeaderYield, proto.OpVerifyLeader:
		s.in.put(m)
	default:
		s.port.Reply(m, proto.StatusUnsupported, fmt.Sprintf("cluster service does not handle %s", m.Opcode), nil)
	}
}

func (s *Service) currentView() *proto.Leader {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.view
	if s.leading {
		v.Heard = proto.TimestampOf(time.Now())
	} else if v.Known() {
		v.Heard = proto.TimestampOf(s.heardWall)
	}
	return &v
}

func (s *Service) status() *proto.ClusterStatus {
	v := s.currentView()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &proto.ClusterStatus{
		Leader:   *v,
		Lock:     s.spec.raw,
		LockHeld: s.lock != nil && s.lock.Held(time.Now()),
		Stats:    proto.Statistics{Start: proto.TimestampOf(s.statsStart), Now: proto.TimestampOf(time.Now())},
	}
	for _, name := range counterNames {
		st.Stats.Counters = append(st.Stats.Counters, proto.Counter{Name: name, Value: s.counters[name]})
	}
	st.Stats.Latencies = []proto.Latency{s.lockLatency}
	return st
}

// counterNames are the statistics of docs/cluster.md, in order.
var counterNames = []string{
	"elections", "lock_attempts", "lock_taken", "lock_contended", "lock_timeouts",
	"lock_errors", "lock_lost", "leader_changes", "broadcasts_sent", "broadcasts_received",
}

func (s *Service) count(name string) {
	s.mu.Lock()
	s.counters[name]++
	s.mu.Unlock()
}

// LogLeaderAction records one leader-only action. Every service logs its
// leader-only steps with it, so that tests can check from the logs alone
// that no two nodes acted as leader at once.
func LogLeaderAction(log *slog.Logger, action string, term uint64, validFor time.Duration) {
	log.Debug("leader action", "action", action, "term", term, "valid_for", validFor)
}

// Run implements service.Service: the election loop.
func (s *Service) Run(ctx context.Context) error {
	s.st.started = time.Now()
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		s.fetchNodeMap(ctx)
	}()
	tick := time.NewTicker(s.opts.BroadcastInterval / 4)
	defer tick.Stop()
	for {
		var lost <-chan struct{}
		if s.st.lock != nil {
			lost = s.st.lock.Lost()
		}
		select {
		case <-ctx.Done():
			s.shutdown()
			s.work.Wait()
			return nil
		case <-s.in.wake:
			for _, ev := range s.in.take() {
				s.handle(ctx, ev)
			}
		case now := <-tick.C:
			s.tick(now)
		case <-lost:
			s.stepDown(s.st.lock.Err().Error(), true)
			s.count("lock_lost")
		}
		s.evaluate(ctx, time.Now())
	}
}

// fetchNodeMap gets the node service's map once; later maps arrive on
// SrvIDNodeMap.
func (s *Service) fetchNodeMap(ctx context.Context) {
	for {
		var m proto.NodeMap
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rpc.CallTyped(cctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceNode}, proto.OpGetNodeMap, nil, &m)
		cancel()
		if err == nil {
			s.in.put(&m)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Events the loop handles besides messages.
type (
	raceResult struct {
		lock   *heldLock
		result lockResult
		err    error
		took   time.Duration
	}
	answer struct {
		pnn    uint32
		leader proto.Leader
		err    error
	}
	// checked is the verdict of the lock check before a broadcast.
	checked struct {
		term uint64
		err  error
	}
)

func (s *Service) handle(ctx context.Context, ev any) {
	now := time.Now()
	switch ev := ev.(type) {
	case *proto.NodeMap:
		// The map fetched at start may be older than a published one
		// that overtook it; every change is published, so any published
		// map is at least as fresh.
		if !s.st.mapPublished {
			s.onNodeMap(ev, now)
		}
	case raceResult:
		s.onRace(ev, now)
	case answer:
		s.onAnswer(ev, now)
	case checked:
		s.onChecked(ev, now)
	case *proto.Message:
		s.onMessage(ctx, ev, now)
	}
}

func (s *Service) onMessage(ctx context.Context, m *proto.Message, now time.Time) {
	switch {
	case m.Dst.Service == proto.ServiceMessage && m.Dst.ID == proto.SrvIDNodeMap:
		var nm proto.NodeMap
		if err := proto.DecodePayload(m, &nm); err == nil {
			s.st.mapPublished = true
			s.onNodeMap(&nm, now)
		}
	case m.Dst.Service == proto.ServiceMessage && m.Dst.ID == proto.SrvIDNodeFlags:
		var f proto.NodeFlags
		if err := proto.DecodePayload(m, &f); err == nil {
			s.onNodeFlags(f)
		}
	case m.Dst.Service == proto.ServiceMessage && m.Dst.ID == proto.SrvIDTunables:
		var l proto.TunableList
		if err := proto.DecodePayload(m, &l); err == nil {
			for _, t := range l.Tunables {
				if t.Name == "RecLockLatencyMs" {
					s.mu.Lock()
					s.latencyWarn = time.Duration(t.Value) * time.Millisecond
					s.mu.Unlock()
				}
			}
		}
	case m.Opcode == proto.OpLeaderBroadcast:
		s.onBroadcast(ctx, m, now)
	case m.Opcode == proto.OpLeaderYield:
		s.onYield(m)
	case m.Opcode == proto.OpVerifyLeader:
		s.startVerify(ctx, m)
	}
}

func (s *Service) onNodeMap(m *proto.NodeMap, now time.Time) {
	var joined []uint32
	total, connected := 0, 0
	for _, n := range m.Nodes {
		ns := s.st.nodes[n.PNN]
		if ns == nil || n.Flags&proto.NodeFlagDeleted != 0 {
			continue
		}
		was, wasActive := ns.connected, ns.flags&proto.NodeFlagsInactive == 0
		ns.flags, ns.caps = n.Flags, n.Caps
		ns.connected = n.PNN == s.pnn || n.Flags&proto.NodeFlagDisconnected == 0
		ns.everConnected = ns.everConnected || ns.connected
		if n.Caps != 0 || n.PNN == s.pnn {
			ns.heard = true
		}
		if ns.connected && !was {
			joined = append(joined, n.PNN)
		}
		total++
		if ns.connected {
			connected++
		}
		// The leader just went away: race now, whatever the backoff of
		// an earlier attempt says.
		if n.PNN == s.currentView().PNN && (was && !ns.connected || wasActive && ns.flags&proto.NodeFlagsInactive != 0) {
			s.st.nextRace = time.Time{}
		}
	}
	s.st.haveMap = true
	s.updateEligible()
	s.checkMinority(connected, total, now)
	// A node that just connected hears who leads at once, not at the
	// next broadcast.
	if len(joined) > 0 && s.isLeading() {
		s.requestBroadcast(context.Background())
	}
}

// checkMinority notes whether this node sees fewer than half of the
// nodes. A leader that does is most likely the one cut off from the
// others, while the cluster lock, on storage it may still reach, keeps
// the majority from electing anybody: it yields the lock so that they
// can. Half is enough to keep it (two nodes of four, one of two): an
// even split has no majority to hand over to, and the lock decides.
func (s *Service) checkMinority(connected, total int, now time.Time) {
	if 2*connected >= total {
		s.st.minoritySince = time.Time{}
		return
	}
	if !s.st.minoritySince.IsZero() {
		return
	}
	s.st.minoritySince = now
	if s.spec.configured() && s.isLeading() {
		s.stepDown(fmt.Sprintf("this node sees only %d of %d nodes", connected, total), true)
	}
}

// minorityHoldsBack keeps a node that lost sight of the majority out of
// the race for a leader timeout, so that the majority takes the lock
// first; if nobody does (the other nodes are really gone) it races and
// may lead alone.
func (s *Service) minorityHoldsBack(now time.Time) bool {
	return !s.st.minoritySince.IsZero() && now.Sub(s.st.minoritySince) < s.timeout()
}

func (s *Service) onNodeFlags(f proto.NodeFlags) {
	ns := s.st.nodes[f.PNN]
	if ns == nil {
		return
	}
	ns.flags, ns.caps, ns.heard = f.Flags, f.Caps, true
	if f.PNN == s.pnn {
		s.updateEligible()
	}
}

func (s *Service) updateEligible() {
	self := s.st.nodes[s.pnn]
	e := s.st.haveMap && self.caps&proto.CapLeader != 0 && self.flags&proto.NodeFlagsInactive == 0
	s.mu.Lock()
	s.eligible = e
	s.mu.Unlock()
}

func (s *Service) isEligible() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eligible
}

// ineligibleReason says why this node may not lead.
func (s *Service) ineligibleReason() string {
	self := s.st.nodes[s.pnn]
	switch {
	case self.flags&proto.NodeFlagBanned != 0:
		return "this node is banned"
	case self.flags&proto.NodeFlagStopped != 0:
		return "this node is stopped"
	case self.flags&proto.NodeFlagsInactive != 0:
		return "this node is inactive"
	case self.caps&proto.CapLeader == 0:
		return "this node lost the leader capability"
	}
	return "this node may not lead"
}

func (s *Service) tick(now time.Time) {
	if !s.isLeading() {
		return
	}
	if s.st.lock != nil {
		if err := s.st.lock.Renew(); err != nil {
			s.log.Warn("cannot renew the cluster lock lease", "err", err)
		}
	}
	if !now.Before(s.st.nextBroadcast) {
		s.st.nextBroadcast = now.Add(s.opts.BroadcastInterval)
		s.requestBroadcast(context.Background())
	}
}

func (s *Service) isLeading() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leading
}

// evaluate takes whatever step the current state calls for.
func (s *Service) evaluate(ctx context.Context, now time.Time) {
	if !s.st.haveMap {
		return
	}
	if !s.spec.configured() {
		s.evaluateNoLock(now)
		return
	}
	eligible := s.isEligible()
	if s.isLeading() {
		switch {
		case !eligible:
			s.stepDown(s.ineligibleReason(), true)
		case !s.st.lock.Held(now):
			s.stepDown("the cluster lock lease expired", true)
			s.count("lock_lost")
		}
		return
	}
	if s.st.startup {
		s.askPeers(ctx, now)
	}
	if s.st.racing || !eligible || now.Before(s.st.nextRace) || s.minorityHoldsBack(now) {
		return
	}
	if reason := s.raceReason(now); reason != "" {
		s.startRace(ctx, reason)
	}
}

// raceReason says why this node should race for the lock now, or "".
func (s *Service) raceReason(now time.Time) string {
	v := s.currentView()
	timeout := s.timeout()
	if v.Known() {
		ns := s.st.nodes[v.PNN]
		switch {
		case ns == nil:
			return fmt.Sprintf("leader %d is not in the nodes file", v.PNN)
		case !ns.connected && (ns.everConnected || now.Sub(s.st.heard) > timeout):
			// A leader heard from but not yet connected is one whose
			// liveness is still starting, not one that went away.
			return fmt.Sprintf("leader %d is disconnected", v.PNN)
		case ns.flags&proto.NodeFlagsInactive != 0:
			return fmt.Sprintf("leader %d is inactive", v.PNN)
		case ns.heard && ns.caps&proto.CapLeader == 0:
			return fmt.Sprintf("leader %d lost the leader capability", v.PNN)
		case now.Sub(s.st.heard) > timeout:
			return fmt.Sprintf("no leader broadcast for %v", now.Sub(s.st.heard).Round(time.Millisecond))
		}
		return ""
	}
	if !s.st.startup {
		return "no leader"
	}
	if now.Sub(s.st.started) >= timeout {
		return fmt.Sprintf("no leader broadcast within %v of start", timeout)
	}
	for _, pnn := range s.nodes {
		if pnn == s.pnn {
			continue
		}
		ns := s.st.nodes[pnn]
		if !ns.connected || !ns.answered || ns.answer.Known() {
			return ""
		}
	}
	return "no node knows a leader at start"
}

// askPeers asks connected nodes who leads, once each (again after a
// failed question), while this node starts.
func (s *Service) askPeers(ctx context.Context, now time.Time) {
	for _, pnn := range s.nodes {
		ns := s.st.nodes[pnn]
		if pnn == s.pnn || !ns.connected || ns.answered || now.Sub(ns.asked) < askRetry {
			continue
		}
		ns.asked = now
		s.work.Add(1)
		go func() {
			defer s.work.Done()
			cctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			var l proto.Leader
			err := rpc.CallTyped(cctx, s.port, proto.Endpoint{PNN: pnn, Service: proto.ServiceCluster}, proto.OpGetLeader, nil, &l)
			s.in.put(answer{pnn: pnn, leader: l, err: err})
		}()
	}
}

func (s *Service) onAnswer(a answer, now time.Time) {
	ns := s.st.nodes[a.pnn]
	if a.err != nil || ns == nil {
		return
	}
	ns.answer, ns.answered = a.leader, true
	s.seeTerm(a.leader.Term)
	if !s.st.startup || !a.leader.Known() || a.leader.PNN == s.pnn || s.currentView().Known() {
		return
	}
	if (a.leader.Mode == proto.LeaderModeLock) != s.spec.configured() {
		return
	}
	s.log.Info("learned the leader from another node", "leader", a.leader.PNN, "term", a.leader.Term, "from", a.pnn)
	s.adopt(a.leader, now)
}

func (s *Service) seeTerm(t uint64) {
	if t > s.st.maxTerm {
		s.st.maxTerm = t
	}
}

// adopt makes l this node's view of the leader.
func (s *Service) adopt(l proto.Leader, now time.Time) {
	s.st.heard = now
	s.st.startup = false
	s.st.electing = !l.Known()
	s.seeTerm(l.Term)
	s.mu.Lock()
	old := s.view
	s.view = proto.Leader{PNN: l.PNN, Term: l.Term, Since: l.Since, Mode: l.Mode}
	s.heardWall = time.Now()
	s.mu.Unlock()
	if old.PNN != l.PNN || old.Term != l.Term {
		s.changed(old)
	}
}

// changed logs and publishes a new view.
func (s *Service) changed(old proto.Leader) {
	v := s.currentView()
	if old.PNN != v.PNN {
		s.count("leader_changes")
		s.log.Log(context.Background(), logging.SlogNotice, "leader changed", "leader", pnnText(v.PNN), "term", v.Term, "previous", pnnText(old.PNN))
	}
	s.send(proto.Endpoint{PNN: s.pnn, Service: proto.ServiceMessage, ID: proto.SrvIDLeader}, proto.OpLeader, v)
}

func pnnText(pnn uint32) string {
	if pnn == proto.PNNUnknown {
		return "unknown"
	}
	return fmt.Sprint(pnn)
}

func (s *Service) send(dst proto.Endpoint, op proto.Opcode, p proto.Payload) {
	m := &proto.Message{Header: proto.Header{Dst: dst, Opcode: op, Flags: proto.FlagPriority}, Payload: p.AppendTo(nil)}
	if err := s.port.Send(m); err != nil {
		s.log.Debug("send failed", "op", op.String(), "to", dst.String(), "err", err)
	}
}

func (s *Service) startRace(ctx context.Context, reason string) {
	s.st.racing = true
	s.st.startup = false
	if !s.st.electing {
		s.st.electing = true
		s.st.retry = raceRetryMin
		s.count("elections")
		s.log.Log(ctx, logging.SlogNotice, "start election: taking the cluster lock", "reason", reason, "lock", s.spec.raw)
	} else {
		s.log.Info("taking the cluster lock again", "reason", reason)
	}
	s.count("lock_attempts")
	opts := lockOptions{
		Lease:       s.timeout(),
		MinTerm:     s.st.maxTerm + 1,
		PNN:         s.pnn,
		LogLocation: s.logLoc,
		LogHost:     s.logHost,
		Timeout:     s.timeout(),
		Log:         s.log,
	}
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		start := time.Now()
		h, res, err := acquire(ctx, s.spec, opts)
		s.in.put(raceResult{lock: h, result: res, err: err, took: time.Since(start)})
	}()
}

func (s *Service) onRace(r raceResult, now time.Time) {
	s.st.racing = false
	s.recordLatency(r.took)
	switch r.result {
	case lockTaken:
		s.count("lock_taken")
	case lockContended:
		s.count("lock_contended")
		s.log.Info("unable to take the cluster lock: contention", "leader", pnnText(s.currentView().PNN))
		s.backOff(now)
		return
	case lockTimeout:
		s.count("lock_timeouts")
		s.log.Warn("unable to take the cluster lock: timeout", "err", r.err)
		s.backOff(now)
		return
	default:
		s.count("lock_errors")
		s.log.Error("unable to take the cluster lock", "err", r.err)
		s.st.nextRace = now.Add(s.timeout())
		return
	}
	if !s.isEligible() {
		s.log.Info("releasing the cluster lock just taken", "reason", s.ineligibleReason())
		r.lock.release()
		return
	}
	term := s.st.maxTerm + 1
	if r.lock.leased {
		// The term the helper recorded in the lock file is the term.
		// One that is not above a term seen while the helper ran means
		// another node took a lock meanwhile (the file was replaced):
		// this lock is not the cluster's, give it up.
		if r.lock.term <= s.st.maxTerm {
			s.log.Warn("giving up a cluster lock taken in an old term", "term", r.lock.term, "seen", s.st.maxTerm)
			r.lock.release()
			s.backOff(now)
			return
		}
		term = r.lock.term
	}
	s.becomeLeader(r.lock, term, proto.LeaderModeLock, now)
}

// backOff schedules the next race after a failed one.
func (s *Service) backOff(now time.Time) {
	s.st.retry = min(max(s.st.retry, raceRetryMin), raceRetry)
	s.st.nextRace = now.Add(s.st.retry)
	s.st.retry *= 2
}

func (s *Service) recordLatency(d time.Duration) {
	s.mu.Lock()
	s.lockLatency.Add(d)
	warn := s.latencyWarn
	s.mu.Unlock()
	if warn > 0 && d > warn {
		s.log.Warn("taking the cluster lock was slow", "took", d.Round(time.Millisecond), "limit", warn)
	}
}

func (s *Service) becomeLeader(lock *heldLock, term uint64, mode uint8, now time.Time) {
	s.st.lock = lock
	s.st.startup, s.st.electing = false, false
	s.seeTerm(term)
	s.mu.Lock()
	old := s.view
	s.view = proto.Leader{PNN: s.pnn, Term: term, Since: proto.TimestampOf(time.Now()), Mode: mode}
	s.leading = true
	s.lock = lock
	s.mu.Unlock()
	fenced := lock != nil && lock.leased
	s.log.Log(context.Background(), logging.SlogNotice, "this node is the leader", "leader", s.pnn, "term", term, "mode", proto.LeaderModeName(mode), "fenced", fenced)
	s.changed(old)
	// The helper has just taken the lock: no need to ask it again.
	s.broadcast(now)
	s.st.nextBroadcast = now.Add(s.opts.BroadcastInterval)
}

// requestBroadcast broadcasts leadership once the helper has proved that
// the lock is still held on the current lock file: a lock file replaced
// since the last look (another node may hold the new one) stops the
// broadcast. Without a lock it broadcasts at once.
func (s *Service) requestBroadcast(ctx context.Context) {
	if s.st.lock == nil {
		s.broadcast(time.Now())
		return
	}
	if s.st.checking != 0 {
		s.st.checkAgain = true
		return
	}
	term, lock := s.currentView().Term, s.st.lock
	s.st.checking = term
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		cctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		defer cancel()
		_, err := lock.Verify(cctx)
		s.in.put(checked{term: term, err: err})
	}()
}

func (s *Service) onChecked(c checked, now time.Time) {
	s.st.checking = 0
	if !s.isLeading() || s.currentView().Term != c.term {
		return
	}
	if c.err != nil {
		s.stepDown(c.err.Error(), true)
		s.count("lock_lost")
		return
	}
	s.broadcast(now)
	if s.st.checkAgain {
		s.st.checkAgain = false
		s.requestBroadcast(context.Background())
	}
}

// broadcast tells every connected node that this node leads, if it still
// holds the lock.
func (s *Service) broadcast(now time.Time) {
	var validFor time.Duration
	if s.st.lock != nil {
		if !s.st.lock.Held(now) {
			s.stepDown("the cluster lock lease expired", true)
			s.count("lock_lost")
			return
		}
		validFor = s.st.lock.ValidFor(now)
	}
	v := s.currentView()
	s.send(proto.Endpoint{PNN: proto.PNNBroadcastConnected, Service: proto.ServiceCluster}, proto.OpLeaderBroadcast, v)
	LogLeaderAction(s.log, "broadcast", v.Term, validFor)
	s.count("broadcasts_sent")
}

// stepDown ends this node's leadership; with yield it tells the others to
// race now. The lock is released before they hear of it.
func (s *Service) stepDown(reason string, yield bool) {
	s.handOver(reason, yield, proto.Leader{PNN: proto.PNNUnknown})
}

// handOver ends this node's leadership and makes next the view.
func (s *Service) handOver(reason string, yield bool, next proto.Leader) {
	s.mu.Lock()
	if !s.leading {
		s.mu.Unlock()
		return
	}
	old := s.view
	s.leading = false
	s.lock = nil
	s.view = next
	s.heardWall = time.Now()
	s.mu.Unlock()
	if s.st.lock != nil {
		s.st.lock.release()
		s.st.lock = nil
	}
	s.st.checking, s.st.checkAgain = 0, false
	s.log.Log(context.Background(), logging.SlogNotice, "this node stops leading", "term", old.Term, "reason", reason)
	s.changed(old)
	if yield {
		s.send(proto.Endpoint{PNN: proto.PNNBroadcastConnected, Service: proto.ServiceCluster}, proto.OpLeaderYield, &old)
		// Let the others race first; this node races again if nobody
		// leads a little later.
		s.st.nextRace = time.Now().Add(2 * raceRetry)
	}
}

func (s *Service) onBroadcast(ctx context.Context, m *proto.Message, now time.Time) {
	if m.Src.PNN == s.pnn {
		return
	}
	var l proto.Leader
	if err := proto.DecodePayload(m, &l); err != nil || l.PNN != m.Src.PNN {
		s.log.Warn("bad leader broadcast", "from", m.Src.String(), "err", err)
		return
	}
	s.count("broadcasts_received")
	if (l.Mode == proto.LeaderModeLock) != s.spec.configured() {
		if ns := s.st.nodes[l.PNN]; ns != nil && !ns.mismatch {
			ns.mismatch = true
			s.log.Warn("leader broadcasts from a node with another cluster lock setting are ignored", "from", l.PNN, "its_mode", proto.LeaderModeName(l.Mode), "our_mode", proto.LeaderModeName(s.mode()))
		}
		return
	}
	s.seeTerm(l.Term)
	cur := s.currentView()
	if s.isLeading() {
		if s.spec.configured() && l.Term > cur.Term {
			// Somebody won a newer term: this node's lock must be gone
			// (its file replaced); the check before the broadcast
			// finds out.
			s.log.Warn("another node claims a newer leadership term; verifying the cluster lock", "node", l.PNN, "its_term", l.Term, "our_term", cur.Term)
			s.requestBroadcast(ctx)
		}
		return
	}
	if !s.spec.configured() {
		if ns := s.st.nodes[l.PNN]; ns != nil {
			ns.claim = l
		}
		if cur.PNN == l.PNN {
			s.adopt(l, now)
		}
		return
	}
	if cur.Known() && cur.PNN != l.PNN && l.Term < cur.Term && now.Sub(s.st.heard) <= s.timeout() {
		s.log.Info("ignoring a leader broadcast of an older term", "from", l.PNN, "its_term", l.Term, "leader", cur.PNN, "term", cur.Term)
		return
	}
	if cur.PNN != l.PNN {
		s.log.Info("received leader broadcast", "leader", l.PNN, "term", l.Term)
	}
	s.adopt(l, now)
}

func (s *Service) mode() uint8 {
	if s.spec.configured() {
		return proto.LeaderModeLock
	}
	return proto.LeaderModeNoLock
}

func (s *Service) onYield(m *proto.Message) {
	var l proto.Leader
	if err := proto.DecodePayload(m, &l); err != nil || l.PNN != m.Src.PNN || m.Src.PNN == s.pnn {
		return
	}
	s.seeTerm(l.Term)
	cur := s.currentView()
	if cur.PNN != l.PNN || s.isLeading() {
		return
	}
	s.log.Info("the leader yields", "leader", l.PNN, "term", l.Term)
	s.mu.Lock()
	s.view = proto.Leader{PNN: proto.PNNUnknown}
	s.mu.Unlock()
	s.st.nextRace = time.Time{}
	s.changed(*cur)
}

// evaluateNoLock elects without a lock: the lowest connected, active,
// leader-capable node leads.
func (s *Service) evaluateNoLock(now time.Time) {
	want, decided := s.lowestEligible(now)
	if !decided {
		return
	}
	cur := s.currentView()
	if want == s.pnn {
		if !s.isLeading() {
			s.becomeLeader(nil, s.st.maxTerm+1, proto.LeaderModeNoLock, now)
		}
		return
	}
	next := proto.Leader{PNN: want, Mode: proto.LeaderModeNoLock}
	if want == proto.PNNUnknown {
		next.Mode = proto.LeaderModeNone
	} else if c := s.st.nodes[want].claim; c.PNN == want && c.Term >= s.st.maxTerm {
		next = c
	}
	if s.isLeading() {
		reason := "node " + pnnText(want) + " has a lower PNN"
		if !s.isEligible() {
			reason = s.ineligibleReason()
		}
		s.handOver(reason, false, next)
		return
	}
	if cur.PNN != want {
		s.adopt(next, now)
	}
}

// lowestEligible returns the node that should lead without a lock;
// decided is false while a lower node's state is not known yet.
func (s *Service) lowestEligible(now time.Time) (uint32, bool) {
	grace := now.Sub(s.st.started) < s.timeout()
	for _, pnn := range s.nodes {
		ns := s.st.nodes[pnn]
		if pnn == s.pnn {
			if s.isEligible() {
				return pnn, true
			}
			continue
		}
		switch {
		case !ns.connected && grace && !ns.everConnected:
			return 0, false
		case !ns.connected:
			continue
		case !ns.heard:
			return 0, false
		case ns.flags&proto.NodeFlagsInactive == 0 && ns.caps&proto.CapLeader != 0:
			return pnn, true
		}
	}
	return proto.PNNUnknown, true
}

// startVerify answers OpVerifyLeader off the loop: the helper's answer
// takes a round trip.
func (s *Service) startVerify(ctx context.Context, m *proto.Message) {
	var req proto.LeaderCheck
	if err := proto.DecodePayload(m, &req); err != nil {
		s.port.Reply(m, proto.StatusInvalid, err.Error(), nil)
		return
	}
	s.mu.Lock()
	leading, eligible, lock, term := s.leading, s.eligible, s.lock, s.view.Term
	leader := s.view.PNN
	s.mu.Unlock()
	notLeader := func(format string, args ...any) {
		s.port.Reply(m, proto.StatusNotLeader, fmt.Sprintf(format, args...), nil)
	}
	switch {
	case !leading:
		notLeader("node %d does not lead (leader %s)", s.pnn, pnnText(leader))
		return
	case req.Term != 0 && req.Term != term:
		notLeader("term %d is over; node %d leads in term %d", req.Term, s.pnn, term)
		return
	case !eligible:
		notLeader("node %d may not lead: %s", s.pnn, s.ineligibleReason())
		return
	}
	if lock == nil {
		s.port.Reply(m, proto.StatusOK, "", &proto.LeaderVerdict{Term: term})
		return
	}
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		cctx, cancel := context.WithTimeout(ctx, verifyTimeout)
		defer cancel()
		validFor, err := lock.Verify(cctx)
		if err != nil {
			notLeader("node %d cannot confirm the cluster lock: %v", s.pnn, err)
			return
		}
		s.mu.Lock()
		still := s.leading && s.view.Term == term
		s.mu.Unlock()
		if !still {
			notLeader("node %d stopped leading term %d", s.pnn, term)
			return
		}
		s.port.Reply(m, proto.StatusOK, "", &proto.LeaderVerdict{Term: term, ValidFor: validFor, Fenced: lock.leased})
	}()
}

// shutdown gives leadership up so that another node takes over at once.
func (s *Service) shutdown() {
	if s.isLeading() {
		s.stepDown("ctdbd is shutting down", true)
	}
}

// queue is an unbounded event queue with one consumer, so that Dispatch
// and the service's goroutines never block on the loop.
type queue struct {
	mu    sync.Mutex
	items []any
	wake  chan struct{}
}

func newQueue() queue { return queue{wake: make(chan struct{}, 1)} }

func (q *queue) put(v any) {
	q.mu.Lock()
	q.items = append(q.items, v)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) take() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
