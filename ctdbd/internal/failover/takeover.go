package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/failover/ipalloc"
	"gctdb/transportd/proto"
)

// clusterOps is what the leader needs from the cluster for a takeover
// run; the service implements it with controls, tests with fakes.
type clusterOps interface {
	nodeMap(ctx context.Context) (*proto.NodeMap, error)
	publicIPs(ctx context.Context, pnn uint32) (*proto.PublicIPList, error)
	release(ctx context.Context, pnn uint32, a proto.IPAssignment) error
	take(ctx context.Context, pnn uint32, a proto.IPAssignment) error
	ipReallocated(ctx context.Context, pnn uint32, term uint64) error
	// banCredits charges a node that made a run fail (the banning
	// service bans it once it has collected enough).
	banCredits(ctx context.Context, c proto.BanCredits) error
}

// plan is one takeover run: who releases and who takes which address.
type plan struct {
	// participants answered for their addresses; they get ipreallocated.
	participants []uint32
	release      map[uint32][]proto.IPAssignment
	take         map[uint32][]proto.IPAssignment
	assignment   []ipalloc.Assignment
}

// moves counts the addresses that change holder.
func (p *plan) moves() int {
	n := 0
	for _, l := range p.take {
		n += len(l)
	}
	return n
}

// makePlan allocates the addresses from the node map and the views of
// the nodes that answered, and lists the controls of the release phase
// (every node that knows an address and is not its new holder, unless it
// already knows the new holder and does not hold it) and of the take
// phase (the new holder, unless it holds the address already).
func makePlan(nodes []proto.NodeInfo, views map[uint32]*proto.PublicIPList, tun ipalloc.Tunables, rebalance []uint32, term uint64) (*plan, error) {
	in := ipalloc.Input{Tunables: tun, Nodes: make([]ipalloc.Node, len(nodes))}
	nv := make([]ipalloc.NodeView, len(nodes))
	index := make(map[uint32]map[netip.Addr]proto.PublicIP, len(views))
	for i, n := range nodes {
		if n.PNN != uint32(i) {
			return nil, fmt.Errorf("node map entry %d is node %d", i, n.PNN)
		}
		flags := ipalloc.Flags(n.Flags)
		v := views[n.PNN]
		if v == nil {
			// Only nodes that answered take part.
			flags |= ipalloc.Disconnected
		}
		in.Nodes[i] = ipalloc.Node{PNN: i, Flags: flags, NoIPHost: v != nil && !v.CanHost}
		if v == nil {
			continue
		}
		idx := make(map[netip.Addr]proto.PublicIP, len(v.IPs))
		for _, ip := range v.IPs {
			addr := ip.Addr.Unmap()
			idx[addr] = ip
			holder := ipalloc.Unassigned
			if ip.PNN < uint32(len(nodes)) {
				holder = int(ip.PNN)
			}
			nv[i].Known = append(nv[i].Known, ipalloc.KnownIP{Addr: addr, Holder: holder})
			if ip.Available {
				nv[i].Available = append(nv[i].Available, addr)
			}
		}
		index[n.PNN] = idx
	}
	ips, err := ipalloc.Merge(nv)
	if err != nil {
		return nil, err
	}
	in.IPs = ips
	// A node whose claim to an address lost against another claimant
	// (both hosted it after a split) gives it up; let LCP2 fill it again.
	claims := make(map[netip.Addr]int)
	for i := range nv {
		for _, k := range nv[i].Known {
			if k.Holder == i {
				claims[k.Addr]++
			}
		}
	}
	for i := range nv {
		for _, k := range nv[i].Known {
			if k.Holder == i && claims[k.Addr] > 1 {
				rebalance = append(rebalance, uint32(i))
				break
			}
		}
	}
	for _, r := range rebalance {
		if r < uint32(len(nodes)) && !slices.Contains(in.ForceRebalance, int(r)) {
			in.ForceRebalance = append(in.ForceRebalance, int(r))
		}
	}
	result, err := ipalloc.Allocate(in)
	if err != nil {
		return nil, err
	}
	p := &plan{release: make(map[uint32][]proto.IPAssignment), take: make(map[uint32][]proto.IPAssignment), assignment: result}
	for pnn := range index {
		p.participants = append(p.participants, pnn)
	}
	slices.Sort(p.participants)
	for _, a := range result {
		newHolder := proto.PNNUnknown
		if a.PNN != ipalloc.Unassigned {
			newHolder = uint32(a.PNN)
		}
		for _, pnn := range p.participants {
			ip, known := index[pnn][a.Addr]
			if !known || pnn == newHolder || (ip.PNN != pnn && ip.PNN == newHolder) {
				continue
			}
			p.release[pnn] = append(p.release[pnn], proto.IPAssignment{Addr: a.Addr, PNN: newHolder, Term: term})
		}
		if newHolder != proto.PNNUnknown && index[newHolder][a.Addr].PNN != newHolder {
			p.take[newHolder] = append(p.take[newHolder], proto.IPAssignment{Addr: a.Addr, PNN: newHolder, Term: term})
		}
	}
	return p, nil
}

// driverConfig is what the driver reads from the service for each run.
type driverConfig struct {
	tunables ipalloc.Tunables
	// timeout bounds each control (TakeoverTimeout).
	timeout time.Duration
	// disabled skips takeover runs ([failover] disabled).
	disabled bool
}

// runStats describes the last takeover run, for logs and benchmarks.
type runStats struct {
	started  time.Time
	duration time.Duration
	moves    int
	err      error
}

// driver runs takeover runs on the leader, one at a time: requests that
// arrive during a run are served by the next one, which starts as soon
// as the current one ends.
type driver struct {
	ops    clusterOps
	lead   leadership
	config func() driverConfig
	log    *slog.Logger

	kick chan struct{}

	mu      sync.Mutex
	pending bool
	// involved are the nodes the current run talks to, and abort
	// cancels it: a node that disconnects mid-run would otherwise hold
	// it up until its controls time out.
	involved  map[uint32]bool
	abort     context.CancelCauseFunc
	rebalance map[uint32]bool
	waiters   []chan error
	moveReqs  []moveReq
	last      runStats
	runs      uint64
}

type moveReq struct {
	addr netip.Addr
	to   uint32
	done chan error
}

func newDriver(ops clusterOps, lead leadership, config func() driverConfig, log *slog.Logger) *driver {
	return &driver{ops: ops, lead: lead, config: config, log: log, kick: make(chan struct{}, 1), rebalance: make(map[uint32]bool)}
}

func (d *driver) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// request asks for a takeover run; the channel gets the outcome of the
// first run that starts after the request.
func (d *driver) request(rebalance []uint32) <-chan error {
	ch := make(chan error, 1)
	d.mu.Lock()
	d.pending = true
	for _, r := range rebalance {
		d.rebalance[r] = true
	}
	d.waiters = append(d.waiters, ch)
	d.mu.Unlock()
	d.poke()
	return ch
}

// move asks for one address to be moved to node to.
func (d *driver) move(addr netip.Addr, to uint32) <-chan error {
	ch := make(chan error, 1)
	d.mu.Lock()
	d.moveReqs = append(d.moveReqs, moveReq{addr: addr, to: to, done: ch})
	d.mu.Unlock()
	d.poke()
	return ch
}

// errNodeLost aborts a run when a node it talks to disconnects.
var errNodeLost = errors.New("a node of the takeover run disconnected")

// nodesDown aborts the current run if it involves one of the nodes; the
// caller requests a new run.
func (d *driver) nodesDown(pnns []uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range pnns {
		if d.involved[p] && d.abort != nil {
			d.abort(fmt.Errorf("%w: node %d", errNodeLost, p))
			return
		}
	}
}

// involve records the nodes of the current run.
func (d *driver) involve(pnns ...uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range pnns {
		d.involved[p] = true
	}
}

// retryDelay is the pause before a failed run is tried again; it doubles
// with every failure in a row up to maxRetryDelay, so that a node whose
// scripts keep failing is not made to run them four times a second.
const (
	retryDelay    = 250 * time.Millisecond
	maxRetryDelay = 5 * time.Second
)

// gatherTimeout bounds the question for a node's addresses, which is
// answered from memory: a lost answer (a link coming up on one side
// only) must not hold a failover up for TakeoverTimeout.
const gatherTimeout = time.Second

// loop serves requests until ctx ends.
func (d *driver) loop(ctx context.Context) {
	var retry <-chan time.Time
	failures := 0 // runs failed in a row: the retry backs off
	for {
		select {
		case <-ctx.Done():
			d.failAll(ctx.Err())
			return
		case <-d.kick:
		case <-retry:
			retry = nil
			d.mu.Lock()
			d.pending = true
			d.mu.Unlock()
		}
		d.mu.Lock()
		pending, waiters, moves := d.pending, d.waiters, d.moveReqs
		var rebalance []uint32
		for r := range d.rebalance {
			rebalance = append(rebalance, r)
		}
		d.pending, d.waiters, d.moveReqs = false, nil, nil
		clear(d.rebalance)
		d.mu.Unlock()
		if !pending && len(moves) == 0 {
			continue
		}
		if _, err := d.lead.verify(ctx); err != nil {
			d.log.Debug("takeover run refused", "err", err)
			for _, w := range waiters {
				w <- errNotLeader
			}
			for _, m := range moves {
				m.done <- errNotLeader
			}
			continue
		}
		for _, m := range moves {
			m.done <- d.moveOne(ctx, m.addr, m.to)
		}
		var err error
		if pending {
			rctx, abort := context.WithCancelCause(ctx)
			d.mu.Lock()
			d.involved, d.abort = make(map[uint32]bool), abort
			d.mu.Unlock()
			err = d.runOnce(rctx, rebalance)
			if cause := context.Cause(rctx); errors.Is(cause, errNodeLost) {
				err = cause
			}
			abort(nil)
			d.mu.Lock()
			d.involved, d.abort = nil, nil
			d.mu.Unlock()
		}
		for _, w := range waiters {
			w <- err
		}
		switch {
		case err == nil, errors.Is(err, errNotLeader), ctx.Err() != nil:
		case errors.Is(err, errNodeLost):
			// The membership change that aborted it asks for a new run.
			d.log.Log(ctx, slog.Level(2), "takeover run aborted", "err", err)
			d.mu.Lock()
			d.pending = true
			d.mu.Unlock()
			d.poke()
		default:
			delay := min(retryDelay<<min(failures, 5), maxRetryDelay)
			failures++
			d.log.Warn("takeover run failed, retrying", "err", err, "in", delay)
			retry = time.After(delay)
		}
		if err == nil {
			failures = 0
		}
	}
}

func (d *driver) failAll(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.waiters {
		w <- err
	}
	for _, m := range d.moveReqs {
		m.done <- err
	}
	d.waiters, d.moveReqs = nil, nil
}

// lastRun returns the statistics of the last run.
func (d *driver) lastRun() (runStats, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last, d.runs
}

// runOnce is one takeover run: gather, allocate, release everywhere,
// take, ipreallocated, checking before each step that this node still
// leads.
func (d *driver) runOnce(ctx context.Context, rebalance []uint32) (err error) {
	cfg := d.config()
	if cfg.disabled {
		return nil
	}
	st := runStats{started: time.Now()}
	defer func() {
		st.duration, st.err = time.Since(st.started), err
		d.mu.Lock()
		d.last = st
		d.runs++
		d.mu.Unlock()
	}()
	term, err := d.lead.verify(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	nm, err := d.ops.nodeMap(sctx)
	cancel()
	if err != nil {
		return fmt.Errorf("node map: %w", err)
	}
	views, err := d.gather(ctx, cfg, nm)
	if err != nil {
		return err
	}
	p, err := makePlan(nm.Nodes, views, cfg.tunables, rebalance, term)
	if err != nil {
		return err
	}
	if d.log.Enabled(ctx, slog.LevelDebug) {
		for _, n := range nm.Nodes {
			if v := views[n.PNN]; v != nil {
				d.log.Debug("takeover run input", "node", n.PNN, "flags", proto.NodeFlagsString(n.Flags), "can_host", v.CanHost, "addresses", len(v.IPs))
			}
		}
	}
	st.moves = p.moves()

	if _, err := d.lead.verify(ctx); err != nil {
		return err
	}
	culprits := make(map[uint32]int)
	failed := d.phase(ctx, cfg, p.release, d.ops.release, culprits)
	if _, err := d.lead.verify(ctx); err != nil {
		return err
	}
	// An address whose release failed somewhere is not taken anywhere:
	// two holders are worse than none until the next run.
	take := make(map[uint32][]proto.IPAssignment)
	for pnn, list := range p.take {
		for _, a := range list {
			if !failed[a.Addr] {
				take[pnn] = append(take[pnn], a)
			}
		}
	}
	takeFailed := d.phase(ctx, cfg, take, d.ops.take, culprits)
	if _, err := d.lead.verify(ctx); err != nil {
		return err
	}
	d.ipReallocated(ctx, cfg, p.participants, term, culprits)
	d.log.Log(ctx, slog.Level(2), "takeover run done", "moves", st.moves, "duration", time.Since(st.started), "term", term)
	if len(culprits) > 0 && ctx.Err() == nil {
		d.charge(ctx, cfg, culprits, len(nm.Nodes))
	}
	if len(failed)+len(takeFailed) > 0 {
		return fmt.Errorf("%d releases and %d takes failed", len(failed), len(takeFailed))
	}
	return nil
}

// blame reports whether a failed step counts against its node: only when
// the node answered that its scripts failed. An aborted run, a node that
// went away or stalls (membership deals with it) or one that cannot host
// yet is not charged.
func blame(ctx context.Context, err error) bool {
	var se *proto.StatusError
	return ctx.Err() == nil && errors.As(err, &se) && se.Status == proto.StatusFailed
}

// charge gives the node with the most failed steps of a run as many ban
// credits as the cluster has nodes, as CTDB does: a node whose scripts
// keep failing its takes or releases is banned after two such runs, and
// its addresses go to nodes that can host them.
func (d *driver) charge(ctx context.Context, cfg driverConfig, culprits map[uint32]int, nodes int) {
	worst, most := uint32(0), 0
	for pnn, n := range culprits {
		if n > most || n == most && pnn < worst {
			worst, most = pnn, n
		}
	}
	c, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	reason := fmt.Sprintf("%d failed steps of a takeover run", most)
	d.log.Warn("charging ban credits for a failed takeover run", "node", worst, "credits", nodes, "failures", most)
	if err := d.ops.banCredits(c, proto.BanCredits{PNN: worst, Credits: uint32(nodes), Reason: reason}); err != nil {
		d.log.Warn("cannot charge ban credits", "node", worst, "err", err)
	}
}

// gather asks every connected node for its public addresses. A node
// that does not answer fails the run: its addresses are unknown, and
// taking them elsewhere could leave two holders.
func (d *driver) gather(ctx context.Context, cfg driverConfig, nm *proto.NodeMap) (map[uint32]*proto.PublicIPList, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		views = make(map[uint32]*proto.PublicIPList)
		errs  []error
	)
	for _, n := range nm.Nodes {
		if n.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) != 0 {
			continue
		}
		d.involve(n.PNN)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, min(cfg.timeout, gatherTimeout))
			defer cancel()
			v, err := d.ops.publicIPs(c, n.PNN)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("public addresses of node %d: %w", n.PNN, err))
				return
			}
			views[n.PNN] = v
		}()
	}
	wg.Wait()
	return views, errors.Join(errs...)
}

// phase sends every control of a phase at once and returns the addresses
// for which one failed; culprits counts the failures per node.
func (d *driver) phase(ctx context.Context, cfg driverConfig, work map[uint32][]proto.IPAssignment, op func(context.Context, uint32, proto.IPAssignment) error, culprits map[uint32]int) map[netip.Addr]bool {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed = make(map[netip.Addr]bool)
	)
	for pnn, list := range work {
		for _, a := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, cancel := context.WithTimeout(ctx, cfg.timeout)
				defer cancel()
				if err := op(c, pnn, a); err != nil {
					d.log.Error("takeover run step failed", "node", pnn, "ip", a.Addr, "new_holder", int32(a.PNN), "err", err)
					mu.Lock()
					failed[a.Addr] = true
					if blame(ctx, err) {
						culprits[pnn]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return failed
}

func (d *driver) ipReallocated(ctx context.Context, cfg driverConfig, nodes []uint32, term uint64, culprits map[uint32]int) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, pnn := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, cfg.timeout)
			defer cancel()
			if err := d.ops.ipReallocated(c, pnn, term); err != nil {
				d.log.Warn("ipreallocated failed", "node", pnn, "err", err)
				if blame(ctx, err) {
					mu.Lock()
					culprits[pnn]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

// moveOne is `ctdb moveip`: the address is released on every other
// connected node, then taken on node to.
func (d *driver) moveOne(ctx context.Context, addr netip.Addr, to uint32) error {
	cfg := d.config()
	term, err := d.lead.verify(ctx)
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	v, err := d.ops.publicIPs(c, to)
	if err != nil {
		return fmt.Errorf("public addresses of node %d: %w", to, err)
	}
	i := slices.IndexFunc(v.IPs, func(ip proto.PublicIP) bool { return ip.Addr.Unmap() == addr })
	if i < 0 || !v.IPs[i].Available || !v.CanHost {
		return fmt.Errorf("%w: node %d cannot host %s", errCannotHost, to, addr)
	}
	nm, err := d.ops.nodeMap(c)
	if err != nil {
		return err
	}
	rel := make(map[uint32][]proto.IPAssignment)
	for _, n := range nm.Nodes {
		if n.PNN != to && n.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) == 0 {
			rel[n.PNN] = []proto.IPAssignment{{Addr: addr, PNN: to, Term: term}}
		}
	}
	if failed := d.phase(ctx, cfg, rel, d.ops.release, make(map[uint32]int)); len(failed) > 0 {
		return fmt.Errorf("release of %s failed", addr)
	}
	if _, err := d.lead.verify(ctx); err != nil {
		return err
	}
	return d.ops.take(c, to, proto.IPAssignment{Addr: addr, PNN: to, Term: term})
}
