package database

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// errRevoked fails a read-only request whose copy was revoked on its way.
var errRevoked = errors.New("read-only copy revoked before it arrived")

// keyQueue serialises the migrations of one key at its lmaster.
type keyQueue struct {
	waiters []chan struct{}
}

// enter waits for key's turn at this lmaster; every successful enter
// must be followed by leave.
func (d *db) enter(ctx context.Context, key []byte) error {
	d.mu.Lock()
	q := d.coord[string(key)]
	if q == nil {
		d.coord[string(key)] = &keyQueue{}
		d.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	d.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		d.mu.Lock()
		if i := slices.Index(q.waiters, ch); i >= 0 {
			q.waiters = slices.Delete(q.waiters, i, i+1)
			d.mu.Unlock()
			return ctx.Err()
		}
		d.mu.Unlock()
		// The turn came as the context ended: pass it on.
		d.leave(key)
		return ctx.Err()
	}
}

// leave hands key's turn to the next waiter.
func (d *db) leave(key []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.coord[string(key)]
	if len(q.waiters) == 0 {
		delete(d.coord, string(key))
		return
	}
	next := q.waiters[0]
	q.waiters = q.waiters[1:]
	close(next)
}

// migWaiter is a migration this node asked for, until its grant arrives.
// A waiter whose requester gave up stays registered (a ghost) until the
// grant arrives or it expires, because a grant on its way carries a
// record that belongs to no node meanwhile, which traverses must not
// miss.
type migWaiter struct {
	d   *db
	key []byte
	ro  bool
	// gen is the database's generation when the migration was asked for.
	gen uint32
	ch  chan grantResult
	// done is closed when the grant has been applied or the migration
	// is known to have failed.
	done chan struct{}
	// revoked is set (under d.mu) when a revocation for the key arrives
	// while a read-only request is on its way.
	revoked bool
	// expires is when a ghost is forgotten (zero while someone waits).
	expires time.Time
}

type grantResult struct {
	rec proto.Record
	err error
}

func (s *Service) addWaiter(id uint64, w *migWaiter) {
	s.migMu.Lock()
	s.migWait[id] = w
	s.migMu.Unlock()
	if w.ro {
		w.d.mu.Lock()
		w.d.roWait[string(w.key)] = append(w.d.roWait[string(w.key)], w)
		w.d.mu.Unlock()
	}
}

func (s *Service) dropWaiter(id uint64, w *migWaiter) {
	s.migMu.Lock()
	if s.migWait[id] != w {
		s.migMu.Unlock()
		return
	}
	delete(s.migWait, id)
	s.migMu.Unlock()
	close(w.done)
	if w.ro {
		w.d.mu.Lock()
		ws := slices.DeleteFunc(w.d.roWait[string(w.key)], func(x *migWaiter) bool { return x == w })
		if len(ws) == 0 {
			delete(w.d.roWait, string(w.key))
		} else {
			w.d.roWait[string(w.key)] = ws
		}
		w.d.mu.Unlock()
	}
}

func (s *Service) waiter(id uint64) *migWaiter {
	s.migMu.Lock()
	defer s.migMu.Unlock()
	return s.migWait[id]
}

// pendingIn returns the write migrations into a database still waiting
// for their grant, ghosts included.
func (s *Service) pendingIn(d *db) []*migWaiter {
	s.migMu.Lock()
	defer s.migMu.Unlock()
	var out []*migWaiter
	for _, w := range s.migWait {
		if w.d == d && !w.ro {
			out = append(out, w)
		}
	}
	return out
}

// expireGhosts forgets migrations given up long enough ago that their
// grant will not come.
func (s *Service) expireGhosts(now time.Time) {
	s.migMu.Lock()
	var gone []uint64
	for id, w := range s.migWait {
		if !w.expires.IsZero() && now.After(w.expires) {
			gone = append(gone, id)
		}
	}
	s.migMu.Unlock()
	for _, id := range gone {
		if w := s.waiter(id); w != nil {
			s.dropWaiter(id, w)
		}
	}
}

// abandon turns a waiter whose requester gave up into a ghost.
func (s *Service) abandon(w *migWaiter) {
	s.migMu.Lock()
	w.expires = time.Now().Add(2 * s.controlTimeout())
	s.migMu.Unlock()
}

// migrate asks the record's lmaster to make this node its dmaster (or,
// with ro, to get this node a read-only copy) and waits for the grant,
// which applyGrant has stored by then. A write migration is only asked
// for while holding the key lock.
func (s *Service) migrate(ctx context.Context, d *db, key []byte, ro bool) (proto.Record, error) {
	v := d.vnnmap()
	lm := v.LMaster(key)
	id := s.nextID.Add(1)
	w := &migWaiter{d: d, key: key, ro: ro, gen: v.Generation, ch: make(chan grantResult, 1), done: make(chan struct{})}
	s.addWaiter(id, w)
	req := proto.Migrate{DBID: d.id, Generation: v.Generation, Requester: s.pnn, ID: id, Key: key}
	if ro {
		req.Flags = proto.MigrateReadonly
	}
	if lm == s.pnn {
		s.coordinate(ctx, d, &req, func(g *proto.MigrateGrant) { s.applyGrant(d, g) })
	} else {
		m := &proto.Message{Header: proto.Header{Dst: endpoint(lm), Opcode: proto.OpMigrate}, Payload: req.AppendTo(nil)}
		if err := s.port.Send(m); err != nil {
			s.dropWaiter(id, w)
			return proto.Record{}, err
		}
	}
	for {
		nodes := s.nodesChanged()
		select {
		case res := <-w.ch:
			if res.err == nil && !ro {
				hops := 1
				if lm != s.pnn {
					hops = 2
				}
				d.arrived(key, hops, s.stickyPindown())
			}
			return res.rec, res.err
		case <-ctx.Done():
			s.abandon(w)
			return proto.Record{}, ctx.Err()
		case <-nodes:
			if !s.connected(lm) {
				s.dropWaiter(id, w)
				return proto.Record{}, statusErr(proto.OpMigrate, proto.StatusUnavailable, "lmaster %d of the record went away", lm)
			}
		}
	}
}

// applyGrant stores a grant and hands it to whoever waits for it. A grant
// of the record is stored only if it is newer than the local copy, so a
// grant that crossed newer writes of this node (as dmaster already) never
// overwrites them; a read-only copy is stored only if no revocation
// overtook it and this node is not the dmaster.
func (s *Service) applyGrant(d *db, g *proto.MigrateGrant) {
	w := s.waiter(g.ID)
	res := grantResult{rec: g.Record}
	switch {
	case g.Status < proto.StatusOK:
		res.err = &proto.StatusError{Op: proto.OpMigrate, Status: g.Status, Msg: g.Msg}
	case d == nil:
		res.err = statusErr(proto.OpMigrate, proto.StatusNotFound, "database 0x%08x was detached", g.DBID)
	case w == nil || w.gen != d.generation() || d.store.Frozen():
		// A grant nobody waits for any more that arrives after a recovery
		// froze the database, or of an older generation, is not stored:
		// the record's lmaster kept a copy with its data, which the
		// recovery merged, and this node must not become its data master
		// behind the recovery's back.
		res.err = statusErr(proto.OpMigrate, proto.StatusBusy, "grant of generation %d arrived too late", d.generation())
	default:
		res.err = s.storeGrant(d, g, w)
	}
	if w != nil {
		select {
		case w.ch <- res:
		default:
		}
		s.dropWaiter(g.ID, w)
	}
}

func (s *Service) storeGrant(d *db, g *proto.MigrateGrant, w *migWaiter) error {
	rec := &g.Record
	mu := d.stripe(rec.Key)
	mu.Lock()
	defer mu.Unlock()
	cur, found, err := d.read(rec.Key)
	if err != nil {
		return err
	}
	if rec.Header.DMaster == s.pnn {
		if !found || cur.Header.RSN < rec.Header.RSN {
			if err := d.write(rec.Key, rec.Header, rec.Data); err != nil {
				return err
			}
			cur = *rec
		}
		if cur.Header.DMaster == s.pnn {
			d.arriving(w, cur)
		}
		return nil
	}
	d.mu.Lock()
	revoked := w != nil && w.revoked
	d.mu.Unlock()
	if revoked {
		return errRevoked
	}
	if !rec.Exists() || found && (cur.Header.DMaster == s.pnn || cur.Header.RSN > rec.Header.RSN) {
		return nil
	}
	return d.write(rec.Key, rec.Header, rec.Data)
}

func (s *Service) stickyPindown() time.Duration {
	return time.Duration(s.tunable(func(t *config.Tunables) uint32 { return t.StickyPindown })) * time.Millisecond
}

// arrived counts a record that migrated here in the given number of
// network hops and, in a sticky database, pins it here for a while.
func (d *db) arrived(key []byte, hops int, pin time.Duration) {
	d.migrationsIn.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hot.add(key)
	d.hopBuckets[hopBucket(hops)]++
	if d.sticky() && pin > 0 {
		d.pins[string(key)] = time.Now().Add(pin)
	}
}

// pinned returns how long key still has to stay on this node.
func (d *db) pinned(key []byte) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.pins[string(key)]
	if !ok {
		return 0
	}
	left := time.Until(until)
	if left <= 0 {
		delete(d.pins, string(key))
	}
	return left
}

func (s *Service) expirePins(now time.Time) {
	for _, d := range s.allDBs() {
		d.mu.Lock()
		for k, until := range d.pins {
			if now.After(until) {
				delete(d.pins, k)
			}
		}
		d.mu.Unlock()
	}
}

// handleMigrate runs this lmaster's part of a migration and sends the
// grant back.
func (s *Service) handleMigrate(ctx context.Context, r request) {
	var req proto.Migrate
	if !r.decode(&req) {
		return
	}
	if req.Requester != r.m.Src.PNN {
		s.log.Warn("migration request for another node", "from", r.m.Src.String(), "requester", req.Requester)
		return
	}
	s.spawn(func() {
		send := func(g *proto.MigrateGrant) { s.send(req.Requester, proto.OpMigrateGrant, g) }
		d := s.lookup(req.DBID)
		if d == nil {
			send(&proto.MigrateGrant{DBID: req.DBID, ID: req.ID, Flags: req.Flags, Status: proto.StatusNotFound,
				Msg: fmt.Sprintf("database 0x%08x is not attached on node %d", req.DBID, s.pnn)})
			return
		}
		s.coordinate(ctx, d, &req, send)
	})
}

func (s *Service) handleMigrateGrant(_ context.Context, r request) {
	var g proto.MigrateGrant
	if !r.decode(&g) {
		return
	}
	s.applyGrant(s.lookup(g.DBID), &g)
}

// coordinate is the lmaster's part of a migration: one at a time per
// key, it gets the record from its dmaster, records the new dmaster in
// its own copy (with the data, RSN bumped) and delivers the grant. The
// grant is delivered before the key's next migration may start, so that
// it reaches the requester before anything the next one sends there.
func (s *Service) coordinate(ctx context.Context, d *db, req *proto.Migrate, deliver func(*proto.MigrateGrant)) {
	if g := s.coordinateTurn(ctx, d, req, deliver); g != nil {
		deliver(g)
	}
}

// coordinateTurn takes the key's turn and returns the grant; when it
// held the turn it has delivered the grant itself and returns nil.
func (s *Service) coordinateTurn(ctx context.Context, d *db, req *proto.Migrate, deliver func(*proto.MigrateGrant)) *proto.MigrateGrant {
	v := d.vnnmap()
	if req.Generation != v.Generation || v.LMaster(req.Key) != s.pnn {
		return s.grantFor(req, nil, false, statusErr(proto.OpMigrate, proto.StatusBusy,
			"node %d is not the lmaster in generation %d", s.pnn, req.Generation))
	}
	if d.isFrozen() {
		return s.grantFor(req, nil, false, statusErr(proto.OpMigrate, proto.StatusBusy, "database %s is frozen", d.name))
	}
	cctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	if err := d.enter(cctx, req.Key); err != nil {
		return s.grantFor(req, nil, false, err)
	}
	defer d.leave(req.Key)
	rec, ro, err := s.coordinateRecord(cctx, d, req)
	deliver(s.grantFor(req, &rec, ro, err))
	return nil
}

// grantFor builds the grant answering req.
func (s *Service) grantFor(req *proto.Migrate, rec *proto.Record, ro bool, err error) *proto.MigrateGrant {
	g := &proto.MigrateGrant{DBID: req.DBID, ID: req.ID, Flags: req.Flags}
	if err != nil {
		var se *proto.StatusError
		g.Status, g.Msg = proto.StatusFailed, err.Error()
		if errors.As(err, &se) {
			g.Status, g.Msg = se.Status, se.Msg
		}
		if errors.Is(err, context.DeadlineExceeded) {
			g.Status = proto.StatusTimeout
		}
		g.Record = proto.Record{Key: req.Key}
		return g
	}
	if !ro {
		g.Flags &^= proto.MigrateReadonly
	}
	g.Record = *rec
	return g
}

// coordinateRecord decides a migration; the caller holds the key's turn.
func (s *Service) coordinateRecord(ctx context.Context, d *db, req *proto.Migrate) (proto.Record, bool, error) {
	own, found, err := d.read(req.Key)
	if err != nil {
		return proto.Record{}, false, err
	}
	ro := req.Flags&proto.MigrateReadonly != 0
	dm := own.Header.DMaster
	var cur proto.Record
	switch {
	case !found:
		// A new record starts on its lmaster; there is nothing to
		// delegate yet.
		if ro {
			return own, true, nil
		}
		cur = own
	case dm == req.Requester:
		// The requester should hold the record: grant it again from this
		// copy. If it does hold it, its newer copy wins over the grant.
		cur, ro = own, false
	case dm == s.pnn:
		var stale bool
		if cur, stale, err = s.giveUp(ctx, d, req.Key, req.Requester, ro, req.Generation); err != nil {
			return proto.Record{}, false, err
		}
		if stale {
			cur, ro = d.newestDurable(newest(own, cur)), false
		}
	default:
		var stale bool
		if cur, stale, err = s.askDMaster(ctx, d, dm, req); err != nil {
			return proto.Record{}, false, err
		}
		if stale {
			best := d.newestDurable(newest(own, cur))
			d.log.Info("record's dmaster no longer holds it, carrying on with the newest copy",
				"key", fmt.Sprintf("%x", req.Key), "dmaster", dm, "rsn", best.Header.RSN)
			if ro && req.Requester != s.pnn {
				return s.rehomeReadonly(d, best)
			}
			cur, ro = best, false
		}
	}
	if ro {
		rec := cur
		rec.Header.Flags = rec.Header.Flags&^proto.RecFlagsRO | proto.RecFlagROHaveReadonly
		return rec, true, nil
	}
	rec := proto.Record{
		Key:    req.Key,
		Header: proto.RecordHeader{RSN: cur.Header.RSN + 1, DMaster: req.Requester, Flags: cur.Header.Flags&^proto.RecFlagsRO | proto.RecFlagMigratedWithData},
		Data:   cur.Data,
	}
	// The lmaster's copy names the new dmaster before the next migration
	// of the key may start; when the lmaster is the requester it is the
	// granted record itself.
	mu := d.stripe(req.Key)
	mu.Lock()
	err = d.write(req.Key, rec.Header, rec.Data)
	mu.Unlock()
	if err != nil {
		return proto.Record{}, false, err
	}
	return rec, false, nil
}

// rehomeReadonly makes this lmaster the dmaster of a record whose dmaster
// lost it, with a delegation for the read-only copy it returns.
func (s *Service) rehomeReadonly(d *db, best proto.Record) (proto.Record, bool, error) {
	h := proto.RecordHeader{RSN: best.Header.RSN + 1, DMaster: s.pnn, Flags: best.Header.Flags&^proto.RecFlagsRO | proto.RecFlagROHaveDelegations}
	mu := d.stripe(best.Key)
	mu.Lock()
	err := d.write(best.Key, h, best.Data)
	mu.Unlock()
	if err != nil {
		return proto.Record{}, false, err
	}
	d.roDelegations.Add(1)
	h.Flags = h.Flags&^proto.RecFlagsRO | proto.RecFlagROHaveReadonly
	return proto.Record{Key: best.Key, Header: h, Data: best.Data}, true, nil
}

// newestDurable returns rec or, in a per-record-persistent database, this
// node's durable copy of the record if that is newer: every active node
// has the durable copy of a record, so a record whose dmaster is gone
// carries on from it without waiting for recovery.
func (d *db) newestDurable(rec proto.Record) proto.Record {
	if d.durable == nil {
		return rec
	}
	r, err := d.durable.Fetch(rec.Key)
	if err != nil {
		if !errors.Is(err, tdb.ErrNotFound) {
			d.log.Warn("read durable copy", "key", fmt.Sprintf("%x", rec.Key), "err", err)
		}
		return rec
	}
	return newest(rec, toProto(r))
}

// newest returns the copy with the higher RSN.
func newest(a, b proto.Record) proto.Record {
	if b.Header.RSN > a.Header.RSN {
		return b
	}
	return a
}

// askDMaster asks node dm to hand the record over. stale is true when dm
// does not hold it (cur is then its copy, if any) or is gone.
func (s *Service) askDMaster(ctx context.Context, d *db, dm uint32, req *proto.Migrate) (cur proto.Record, stale bool, err error) {
	rep, err := s.callNode(ctx, dm, proto.OpMigrateFetch, req)
	if err == nil {
		err = rep.Err(proto.OpMigrateFetch)
	}
	if err != nil {
		if gone(err) {
			return proto.Record{Key: req.Key}, true, nil
		}
		return proto.Record{}, false, fmt.Errorf("dmaster %d: %w", dm, err)
	}
	if err := proto.Unmarshal(rep.Body, &cur); err != nil {
		return proto.Record{}, false, fmt.Errorf("dmaster %d: %w", dm, err)
	}
	return cur, rep.Status == proto.MigrateStaleCopy, nil
}

// gone reports whether err says the node or its database is not there.
func gone(err error) bool {
	st := proto.StatusOf(err)
	return st == proto.StatusUnavailable || st == proto.StatusNotFound || st == proto.StatusUnsupported
}

func (s *Service) handleMigrateFetch(ctx context.Context, r request) {
	var req proto.Migrate
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		rec, stale, err := s.giveUp(ctx, d, req.Key, req.Requester, req.Flags&proto.MigrateReadonly != 0, req.Generation)
		if err != nil {
			r.fail(err)
			return
		}
		st := proto.StatusOK
		if stale {
			st = proto.MigrateStaleCopy
		}
		if err := s.port.Reply(r.m, st, "", &rec); err != nil {
			s.log.Debug("reply not sent", "op", r.m.Opcode.String(), "err", err)
		}
	})
}

// giveUp is the dmaster's part of a migration: under the key lock (so
// after this node's clients are done with the record) it hands the record
// to newD, keeping a copy that names newD, or for a read-only request
// notes the delegation. A node that does not hold the record answers
// stale with its copy.
func (s *Service) giveUp(ctx context.Context, d *db, key []byte, newD uint32, ro bool, gen uint32) (proto.Record, bool, error) {
	for {
		if d.isFrozen() || gen != d.generation() {
			return proto.Record{}, false, statusErr(proto.OpMigrateFetch, proto.StatusBusy, "database %s is recovering", d.name)
		}
		// Every grant the lmaster sent this node before asking is stored
		// by now (grants are applied in the order they arrive), so a copy
		// that does not name this node is stale for good and the answer
		// needs no key lock.
		if rec, found, err := d.read(key); err != nil || !found || rec.Header.DMaster != s.pnn {
			return rec, err == nil, err
		}
		// Waiting through a freeze would deadlock: the freeze may be
		// waiting on the requester for the key lock its migration holds.
		l, err := d.store.LockUnlessFrozen(ctx, key)
		if errors.Is(err, tdb.ErrFrozen) {
			return proto.Record{}, false, statusErr(proto.OpMigrateFetch, proto.StatusBusy, "database %s is recovering", d.name)
		}
		if err != nil {
			return proto.Record{}, false, err
		}
		if gen != d.generation() {
			l.Unlock()
			continue
		}
		rec, found, err := d.read(key)
		if err != nil {
			l.Unlock()
			return proto.Record{}, false, err
		}
		if !found || rec.Header.DMaster != s.pnn {
			l.Unlock()
			return rec, true, nil
		}
		if wait := d.pinned(key); wait > 0 && !ro {
			l.Unlock()
			if err := sleep(ctx, wait); err != nil {
				return proto.Record{}, false, err
			}
			continue
		}
		rec, err = s.handOver(ctx, d, rec, newD, ro)
		l.Unlock()
		return rec, false, err
	}
}

// handOver changes the dmaster's copy for a migration or a delegation; the
// caller holds the key lock.
func (s *Service) handOver(ctx context.Context, d *db, rec proto.Record, newD uint32, ro bool) (proto.Record, error) {
	mu := d.stripe(rec.Key)
	if ro {
		d.roDelegations.Add(1)
		if rec.Header.Flags&proto.RecFlagROHaveDelegations != 0 {
			return rec, nil
		}
		rec.Header.Flags |= proto.RecFlagROHaveDelegations
		mu.Lock()
		defer mu.Unlock()
		return rec, d.write(rec.Key, rec.Header, rec.Data)
	}
	if rec.Header.Flags&proto.RecFlagROHaveDelegations != 0 {
		if err := s.revoke(ctx, d, rec.Key); err != nil {
			return proto.Record{}, err
		}
		rec.Header.Flags &^= proto.RecFlagsRO
	}
	d.departing(rec)
	mu.Lock()
	defer mu.Unlock()
	if err := d.write(rec.Key, proto.RecordHeader{RSN: rec.Header.RSN, DMaster: newD, Flags: rec.Header.Flags}, rec.Data); err != nil {
		return proto.Record{}, err
	}
	d.migrationsOt.Add(1)
	return rec, nil
}
