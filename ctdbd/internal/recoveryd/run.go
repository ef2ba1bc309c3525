package recoveryd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"gctdb/ctdbd/internal/logging"
	"gctdb/recovery"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// errNotLeader ends a recovery whose leader no longer leads in its term.
var errNotLeader = errors.New("no longer the leader")

// pushBatch bounds the records of one push.
const pushBatch = 8192

// nodeError is a step that failed on one node: that node is charged.
type nodeError struct {
	pnn uint32
	err error
}

func (e *nodeError) Error() string { return fmt.Sprintf("node %d: %v", e.pnn, e.err) }
func (e *nodeError) Unwrap() error { return e.err }

// check runs a recovery if this node leads and one is needed.
func (s *Service) check(ctx context.Context) {
	s.mu.Lock()
	leader, nm := s.leader, s.nodes
	leading := leader.PNN == s.pnn && len(nm.Nodes) > 0
	if !leading {
		s.mu.Unlock()
		return
	}
	if s.seqTerm != leader.Term {
		s.seqTerm, s.seq, s.lastParts = leader.Term, 0, nil
	}
	reqs := s.requests
	s.requests = nil
	wait := time.Duration(s.tunables.Get().RerecoveryTimeout)*time.Second - time.Since(s.failedAt)
	s.mu.Unlock()
	reason := ""
	if len(reqs) > 0 {
		reasons := make([]string, len(reqs))
		for i, r := range reqs {
			reasons[i] = r.reason
		}
		reason = strings.Join(reasons, "; ")
	} else {
		reason = s.needed(ctx, &leader, &nm)
	}
	if reason == "" {
		return
	}
	if wait > 0 {
		s.log.Info("recovery needed, waiting for RerecoveryTimeout after the last failure", "reason", reason, "wait", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		s.mu.Lock()
		s.requests = append(reqs, s.requests...)
		s.mu.Unlock()
		return
	}
	ev, err := s.recover(ctx, &leader, &nm, reason)
	for _, r := range reqs {
		r.done <- result{ev: ev, err: err}
	}
}

// needed returns why the cluster needs a recovery, "" when it does not.
func (s *Service) needed(ctx context.Context, leader *proto.Leader, nm *proto.NodeMap) string {
	parts := recovery.Participants(nm)
	s.mu.Lock()
	last := s.lastParts
	gen := s.last.Generation
	s.mu.Unlock()
	if last == nil {
		return fmt.Sprintf("node %d leads in term %d", s.pnn, leader.Term)
	}
	if !slices.Equal(parts, last) {
		return fmt.Sprintf("active nodes changed from %v to %v", last, parts)
	}
	// The check is answered from memory: a node that does not answer
	// within checkTimeout is a reason to recover, not to wait for.
	cctx, cancel := context.WithTimeout(ctx, min(s.stepTimeout(), checkTimeout))
	s.mu.Lock()
	s.cancelCheck = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelCheck = nil
		s.mu.Unlock()
		cancel()
	}()
	nodes, errs := callAll(cctx, parts, func(ctx context.Context, pnn uint32) (*proto.RecNode, error) {
		var n proto.RecNode
		return &n, s.callDB(ctx, pnn, proto.OpRecCheck, nil, &n)
	})
	if err := firstError(errs); err != nil {
		if ctx.Err() == nil && errors.Is(cctx.Err(), context.Canceled) {
			// The node map changed under the check: the next check
			// starts from it.
			s.poke()
			return ""
		}
		return fmt.Sprintf("cannot check %v", err)
	}
	dbs := make(map[uint32][]proto.DBInfo)
	for i, n := range nodes {
		dbs[parts[i]] = n.DBs
		switch {
		case n.Flags&proto.NodeFlagsInactive != 0:
			return fmt.Sprintf("node %d says it is inactive (flags 0x%x)", n.PNN, n.Flags)
		case n.Generation != gen:
			return fmt.Sprintf("node %d is in generation %d, not %d", n.PNN, n.Generation, gen)
		case n.RecMode != proto.RecModeNormal:
			return fmt.Sprintf("node %d is in recovery mode", n.PNN)
		case n.StaleDBs > 0:
			return fmt.Sprintf("node %d has %d databases of another generation", n.PNN, n.StaleDBs)
		}
	}
	// An attach reaches the nodes one after the other: a database is
	// missing for a recovery only if it was missing at the previous check
	// as well.
	missing := make(map[string]bool)
	reason := ""
	for pnn, dbs := range recovery.MissingDBs(dbs) {
		for _, d := range dbs {
			k := fmt.Sprintf("node %d lacks database %s", pnn, d.Name)
			missing[k] = true
			if s.prevMissing[k] {
				reason = k
			}
		}
	}
	s.prevMissing = missing
	return reason
}

// checkTimeout bounds the leader's periodic consistency check.
const checkTimeout = 3 * time.Second

func (s *Service) stepTimeout() time.Duration {
	return time.Duration(max(s.tunables.Get().RecoverTimeout, 1)) * time.Second
}

// run is one recovery in progress on the leader.
type run struct {
	s      *Service
	term   uint64
	number uint64
	parts  []uint32
	vnn    proto.VNNMap
}

// verify makes sure this node still leads in the recovery's term right
// before a step (CTDB bug 16082: a stopped leader ran a recovery).
func (r *run) verify(ctx context.Context, step recovery.Step) error {
	var v proto.LeaderVerdict
	err := rpc.CallTyped(ctx, r.s.port, proto.Endpoint{PNN: r.s.pnn, Service: proto.ServiceCluster}, proto.OpVerifyLeader, &proto.LeaderCheck{Term: r.term}, &v)
	if err != nil {
		return fmt.Errorf("before %s: %w: %v", step, errNotLeader, err)
	}
	return nil
}

// recover runs one recovery.
func (s *Service) recover(ctx context.Context, leader *proto.Leader, nm *proto.NodeMap, reason string) (proto.RecoveryEvent, error) {
	started := time.Now()
	s.mu.Lock()
	s.seq++
	r := &run{s: s, term: leader.Term, number: recovery.Number(leader.Term, s.seq), parts: recovery.Participants(nm)}
	oldGen := s.last.Generation
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	gen := recovery.NewGeneration(oldGen, rand.Uint32)
	r.vnn = recovery.NewVNNMap(nm, r.parts, gen)
	ev := proto.RecoveryEvent{Number: r.number, Generation: gen, Term: r.term, Leader: s.pnn, Nodes: r.parts, VNNMap: r.vnn.Map,
		Started: proto.TimestampOf(started), Reason: reason}
	s.log.Log(ctx, logging.SlogNotice, "recovery started", "recovery", r.number, "generation", gen, "nodes", r.parts, "reason", reason)
	err := r.execute(ctx, &ev)
	if err != nil {
		s.failed(ctx, r, err)
		return ev, err
	}
	ev.Finished = proto.TimestampOf(time.Now())
	took := time.Since(started)
	s.mu.Lock()
	s.stats.finished(took)
	s.lastParts = r.parts
	s.mu.Unlock()
	s.log.Log(ctx, logging.SlogNotice, "recovery finished", "recovery", r.number, "generation", gen, "nodes", r.parts, "duration", took)
	s.announce(r.parts, proto.OpRecovered, &ev)
	return ev, nil
}

// failed records a failed recovery and charges the node that made it
// fail.
func (s *Service) failed(ctx context.Context, r *run, err error) {
	var ne *nodeError
	isNode := errors.As(err, &ne)
	// A node that went away, or whose daemon is not up yet behind a
	// transportd that already is, is left out of the next recovery or
	// taken in by it, at once and unpunished: RerecoveryTimeout is for
	// recoveries that fail among nodes that are there.
	gone := isNode && (proto.StatusOf(ne.err) == proto.StatusUnavailable || proto.StatusOf(ne.err) == proto.StatusUnsupported)
	s.mu.Lock()
	s.stats.failures++
	if !gone {
		s.failedAt = time.Now()
	}
	s.lastParts = nil
	s.mu.Unlock()
	s.log.Error("recovery failed", "recovery", r.number, "err", err)
	if errors.Is(err, errNotLeader) || !isNode || ctx.Err() != nil || gone {
		return
	}
	s.mu.Lock()
	s.stats.bans++
	s.mu.Unlock()
	c := proto.BanCredits{PNN: ne.pnn, Credits: 1, Reason: fmt.Sprintf("recovery %d failed: %v", r.number, ne.err)}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rpc.CallTyped(cctx, s.port, proto.Endpoint{PNN: s.pnn, Service: proto.ServiceBanning}, proto.OpBanCredits, &c, nil); err != nil {
		s.log.Warn("cannot charge ban credits", "culprit", ne.pnn, "err", err)
	}
}

// announce tells the recovery service of every node in pnns.
func (s *Service) announce(pnns []uint32, op proto.Opcode, ev *proto.RecoveryEvent) {
	for _, p := range pnns {
		m := &proto.Message{Header: proto.Header{Dst: proto.Endpoint{PNN: p, Service: proto.ServiceRecovery}, Opcode: op}, Payload: ev.AppendTo(nil)}
		if err := s.port.Send(m); err != nil {
			s.log.Debug("recovery announcement not sent", "pnn", p, "err", err)
		}
	}
}

// execute runs the steps: begin (every node confirms its flags), attach
// missing databases, every database recovered in parallel, finish.
func (r *run) execute(ctx context.Context, ev *proto.RecoveryEvent) error {
	s := r.s
	step := s.stepTimeout()
	if err := r.verify(ctx, recovery.StepBegin); err != nil {
		return err
	}
	begin := proto.RecBegin{Number: r.number, Generation: r.vnn.Generation, Leader: s.pnn, Term: r.term}
	bctx, cancel := context.WithTimeout(ctx, step)
	nodes, errs := callAll(bctx, r.parts, func(ctx context.Context, pnn uint32) (*proto.RecNode, error) {
		var n proto.RecNode
		return &n, s.callDB(ctx, pnn, proto.OpRecBegin, &begin, &n)
	})
	cancel()
	if err := firstError(errs); err != nil {
		return err
	}
	var parts []uint32
	have := make(map[uint32][]proto.DBInfo)
	for i, n := range nodes {
		if n.Flags&proto.NodeFlagsInactive != 0 {
			s.log.Info("node is inactive by its own flags and takes no part", "pnn", r.parts[i], "flags", n.Flags)
			continue
		}
		parts = append(parts, r.parts[i])
		have[r.parts[i]] = n.DBs
	}
	if len(parts) == 0 {
		return errors.New("no active node takes part")
	}
	if len(parts) != len(r.parts) {
		return fmt.Errorf("active nodes changed while the recovery began: %v, not %v", parts, r.parts)
	}
	s.announce(r.parts, proto.OpRecoveryStarted, ev)

	if err := r.verify(ctx, recovery.StepAttach); err != nil {
		return err
	}
	all := make(map[uint32]proto.DBInfo)
	for _, dbs := range have {
		for _, d := range dbs {
			all[d.DBID] = d
		}
	}
	for pnn, missing := range recovery.MissingDBs(have) {
		for _, d := range missing {
			actx, cancel := context.WithTimeout(ctx, step)
			var info proto.DBInfo
			err := s.callDB(actx, pnn, proto.OpDBAttach, &proto.DBAttach{Name: d.Name, Flags: d.Flags}, &info)
			cancel()
			if err != nil {
				return &nodeError{pnn: pnn, err: fmt.Errorf("attach %s: %w", d.Name, err)}
			}
			s.log.Info("database attached by the recovery", "pnn", pnn, "db", d.Name)
		}
	}

	var wg sync.WaitGroup
	dbErrs := make(chan error, len(all))
	for _, d := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.recoverDB(ctx, d); err != nil {
				dbErrs <- fmt.Errorf("database %s: %w", d.Name, err)
			}
		}()
	}
	wg.Wait()
	close(dbErrs)
	for err := range dbErrs {
		return err
	}

	if err := r.verify(ctx, recovery.StepFinish); err != nil {
		return err
	}
	fin := proto.RecFinish{Number: r.number, VNNMap: r.vnn}
	fctx, cancel := context.WithTimeout(ctx, step)
	defer cancel()
	_, errs = callAll(fctx, r.parts, func(ctx context.Context, pnn uint32) (*struct{}, error) {
		return nil, s.callDB(ctx, pnn, proto.OpRecFinish, &fin, nil)
	})
	if err := firstError(errs); err != nil {
		return err
	}
	s.mu.Lock()
	s.last = *ev
	s.last.Finished = proto.TimestampOf(time.Now())
	s.mu.Unlock()
	return nil
}

// recoverDB recovers one database: freeze on every node, pull the
// trusted copies (wiping the untrusted ones), merge, push, thaw.
func (r *run) recoverDB(ctx context.Context, d proto.DBInfo) error {
	s := r.s
	ctx, cancel := context.WithTimeout(ctx, 4*s.stepTimeout())
	defer cancel()
	tm := newStepTimer()
	if err := r.verify(ctx, recovery.StepFreeze); err != nil {
		return err
	}
	fr := proto.RecDB{DBID: d.DBID, Number: r.number, Generation: r.vnn.Generation}
	frozenList, errs := callAll(ctx, r.parts, func(ctx context.Context, pnn uint32) (*proto.RecFrozen, error) {
		var f proto.RecFrozen
		return &f, s.callDB(ctx, pnn, proto.OpRecFreeze, &fr, &f)
	})
	if err := firstError(errs); err != nil {
		return err
	}
	frozen := make(map[uint32]proto.RecFrozen, len(r.parts))
	for i, f := range frozenList {
		frozen[r.parts[i]] = *f
	}
	trusted := recovery.Trusted(frozen)
	kind := recovery.KindOf(d.Flags)
	tm.done(recovery.StepFreeze)

	if err := r.verify(ctx, recovery.StepPull); err != nil {
		return err
	}
	var pushes map[uint32][]proto.Record
	var pushFlags uint32
	switch kind {
	case recovery.Transactional:
		src, ok := recovery.ChooseSource(frozen, trusted)
		if !ok {
			return errors.New("no trusted copy")
		}
		recs, err := r.pull(ctx, src, &proto.RecPull{DBID: d.DBID, Number: r.number})
		if err != nil {
			return err
		}
		pushes = make(map[uint32][]proto.Record, len(r.parts))
		for _, p := range r.parts {
			pushes[p] = recs
		}
		pushFlags = proto.RecPushStage
	default:
		m, err := r.pullAll(ctx, func(pnn uint32) *proto.RecPull {
			req := &proto.RecPull{DBID: d.DBID, Number: r.number, VNNMap: r.vnn}
			if !trusted[pnn] {
				req.Flags = proto.RecPullWipe
				s.log.Info("copy not trusted (node missed a recovery or was inactive), wiped", "db", d.Name, "pnn", pnn)
			}
			return req
		})
		if err != nil {
			return err
		}
		pushes = m.Split(&r.vnn)
		for _, p := range r.parts {
			if _, ok := pushes[p]; !ok {
				pushes[p] = nil
			}
		}
	}
	if kind == recovery.PerRecordPersistent {
		if err := r.recoverDurable(ctx, d); err != nil {
			return err
		}
	}

	tm.done(recovery.StepPull)
	if err := r.verify(ctx, recovery.StepPush); err != nil {
		return err
	}
	_, errs = callAll(ctx, r.parts, func(ctx context.Context, pnn uint32) (*struct{}, error) {
		return nil, r.push(ctx, pnn, d.DBID, pushFlags, pushes[pnn])
	})
	if err := firstError(errs); err != nil {
		return err
	}

	tm.done(recovery.StepPush)
	if err := r.verify(ctx, recovery.StepThaw); err != nil {
		return err
	}
	thaw := proto.RecThaw{DBID: d.DBID, Number: r.number, VNNMap: r.vnn}
	_, errs = callAll(ctx, r.parts, func(ctx context.Context, pnn uint32) (*struct{}, error) {
		return nil, s.callDB(ctx, pnn, proto.OpRecThaw, &thaw, nil)
	})
	if err := firstError(errs); err != nil {
		return err
	}
	tm.done(recovery.StepThaw)
	pushed := 0
	for _, recs := range pushes {
		pushed = max(pushed, len(recs))
	}
	s.log.Info("database recovered", "recovery", r.number, "db", d.Name, "steps", tm.String(), "most_pushed_to_one_node", pushed)
	return nil
}

// stepTimer notes how long each step of a database's recovery took.
type stepTimer struct {
	last  time.Time
	steps []string
}

func newStepTimer() *stepTimer { return &stepTimer{last: time.Now()} }

func (t *stepTimer) done(step recovery.Step) {
	now := time.Now()
	t.steps = append(t.steps, fmt.Sprintf("%s=%v", step, now.Sub(t.last).Round(time.Microsecond)))
	t.last = now
}

func (t *stepTimer) String() string { return strings.Join(t.steps, " ") }

// recoverDurable merges the durable stores of a per-record-persistent
// database: every node's, since they survive a node's absence, and each
// node keeps of the merged records those newer than its own.
func (r *run) recoverDurable(ctx context.Context, d proto.DBInfo) error {
	m, err := r.pullAll(ctx, func(uint32) *proto.RecPull {
		return &proto.RecPull{DBID: d.DBID, Number: r.number, Flags: proto.RecPullDurable}
	})
	if err != nil {
		return err
	}
	all := m.All()
	_, errs := callAll(ctx, r.parts, func(ctx context.Context, pnn uint32) (*struct{}, error) {
		return nil, r.push(ctx, pnn, d.DBID, proto.RecPushDurable, all)
	})
	return firstError(errs)
}

// pullAll pulls every participant's copy at once, as req says for each,
// and merges them.
func (r *run) pullAll(ctx context.Context, req func(pnn uint32) *proto.RecPull) (*recovery.Merge, error) {
	m := recovery.NewMerge()
	var mu sync.Mutex
	_, errs := callAll(ctx, r.parts, func(ctx context.Context, pnn uint32) (*struct{}, error) {
		recs, err := r.pull(ctx, pnn, req(pnn))
		if err != nil {
			return nil, err
		}
		mu.Lock()
		m.Add(pnn, recs)
		mu.Unlock()
		return nil, nil
	})
	return m, firstError(errs)
}

// pull reads a node's whole copy, batch by batch.
func (r *run) pull(ctx context.Context, pnn uint32, req *proto.RecPull) ([]proto.Record, error) {
	var out []proto.Record
	for {
		var b proto.RecordBatch
		if err := r.s.callDB(ctx, pnn, proto.OpRecPull, req, &b); err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		out = append(out, b.Records...)
		if b.Done {
			return out, nil
		}
	}
}

// push sends records to a node in batches, the last one flagged.
func (r *run) push(ctx context.Context, pnn, dbid, flags uint32, recs []proto.Record) error {
	batches := recovery.Batches(recs, pushBatch)
	for i, b := range batches {
		p := proto.RecPush{DBID: dbid, Number: r.number, Flags: flags, Records: b}
		if i == len(batches)-1 {
			p.Flags |= proto.RecPushLast
		}
		if err := r.s.callDB(ctx, pnn, proto.OpRecPush, &p, nil); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	return nil
}

// callDB calls node pnn's database service.
func (s *Service) callDB(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	return rpc.CallTyped(ctx, s.port, proto.Endpoint{PNN: pnn, Service: proto.ServiceDatabase}, op, req, resp)
}

// callAll runs fn for every node at once and returns the answers in the
// order of pnns, with each failure wrapped as that node's.
func callAll[T any](ctx context.Context, pnns []uint32, fn func(context.Context, uint32) (*T, error)) ([]*T, []error) {
	out := make([]*T, len(pnns))
	errs := make([]error, len(pnns))
	var wg sync.WaitGroup
	for i, pnn := range pnns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := fn(ctx, pnn)
			out[i] = v
			if err != nil {
				errs[i] = &nodeError{pnn: pnn, err: err}
			}
		}()
	}
	wg.Wait()
	return out, errs
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
