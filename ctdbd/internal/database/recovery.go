package database

import (
	"context"
	"fmt"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// This file is the database service's side of a recovery: the steps the
// leader's recovery service asks every node for (package recovery holds
// the leader's side and the merge rules).
//
// A database is recovered on its own, independently of the others: it
// is frozen, its copies are pulled and merged, the merged records pushed
// to their location masters in the new vnnmap, and it is thawed with that
// vnnmap, which from then on decides where its records live. So a client
// holding a record of one database never holds up the recovery of
// another, and each database carries its own vnnmap and generation
// between its thaw and the end of the whole recovery (OpRecFinish).
//
// No resurrection (CTDB bug 14294): a copy is trusted only if the node
// took part in the latest recovery of the database (its Epoch or Pushed
// is at least the newest Epoch among the nodes) and has not been
// inactive since. A copy that missed a recovery may hold records deleted
// and vacuumed meanwhile; it is wiped instead of pulled.

// recFreeze is a database's state while a recovery holds it frozen.
type recFreeze struct {
	number uint64
	leader uint32
	// pulls are the pull sessions of the recovery (volatile and durable
	// store); cleanup are the keys the node will no longer be the
	// location master of, found by the volatile pull.
	pulls   map[uint32]*pullSession
	cleanup [][]byte
	// staged are the records of a transactional database's push.
	staged []proto.Record
}

// pullSession streams a copy to the leader in batches.
type pullSession struct {
	ch     chan pullBatch
	cancel context.CancelFunc
}

type pullBatch struct {
	recs []proto.Record
	err  error
}

// pullBatchRecords bounds one batch of a pull (tdb reads at most 4 MiB
// in one go as well).
const pullBatchRecords = 8192

// vnnmap returns the vnnmap the database's records are placed by.
func (d *db) vnnmap() *proto.VNNMap { return d.vnn.Load() }

// generation returns the database's generation.
func (d *db) generation() uint32 { return d.vnnmap().Generation }

// recovering returns the recovery holding the database frozen, if any.
func (d *db) recovering() *recFreeze {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec
}

func (s *Service) handleRecCheck(_ context.Context, r request) {
	r.reply(s.recNode())
}

// recNode describes this node for the leader.
func (s *Service) recNode() *proto.RecNode {
	n := &proto.RecNode{PNN: s.pnn, Flags: s.ownFlags(), Generation: s.generation(), RecMode: s.recmode.Load()}
	for _, d := range s.allDBs() {
		n.DBs = append(n.DBs, d.info())
		if d.generation() != n.Generation {
			n.StaleDBs++
		}
	}
	return n
}

// ownFlags returns this node's flags as the node service last published
// them.
func (s *Service) ownFlags() uint32 {
	for _, n := range s.nodes.Load().Nodes {
		if n.PNN == s.pnn {
			return n.Flags
		}
	}
	return 0
}

func (s *Service) handleRecBegin(_ context.Context, r request) {
	var req proto.RecBegin
	if !r.decode(&req) {
		return
	}
	if old := s.recmode.Swap(proto.RecModeActive); old != proto.RecModeActive {
		s.log.Info("recovery mode active", "recovery", req.Number, "leader", r.m.Src.PNN, "generation", req.Generation)
	}
	r.reply(s.recNode())
}

func (s *Service) handleRecFinish(_ context.Context, r request) {
	var req proto.RecFinish
	if !r.decode(&req) {
		return
	}
	old := s.vnn.Swap(&req.VNNMap)
	s.recmode.Store(proto.RecModeNormal)
	s.log.Info("recovery finished", "recovery", req.Number, "generation", req.VNNMap.Generation,
		"map", req.VNNMap.Map, "old_generation", old.Generation)
	r.reply(nil)
}

func (s *Service) handleRecFreeze(ctx context.Context, r request) {
	var req proto.RecDB
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) {
		ctx, cancel := context.WithTimeout(ctx, s.recoverTimeout())
		defer cancel()
		return s.recFreeze(ctx, d, r.m.Src.PNN, req.Number)
	})
}

// recFreeze freezes a database for recovery number: record locks are no
// longer granted and it returns once every held one is released, every
// migration this node coordinates has ended and every transaction staged
// here has been committed or dropped. A database frozen by an earlier
// recovery (whose leader may be gone) is taken over as it is.
func (s *Service) recFreeze(ctx context.Context, d *db, leader uint32, number uint64) (*proto.RecFrozen, error) {
	d.mu.Lock()
	if d.frozen {
		d.mu.Unlock()
		return nil, statusErr(proto.OpRecFreeze, proto.StatusBusy, "database %s is being wiped or restored", d.name)
	}
	prev := d.rec
	if prev != nil && prev.number > number {
		d.mu.Unlock()
		return nil, statusErr(proto.OpRecFreeze, proto.StatusConflict, "database %s is frozen by the newer recovery %d", d.name, prev.number)
	}
	d.rec = &recFreeze{number: number, leader: leader, pulls: make(map[uint32]*pullSession)}
	d.mu.Unlock()
	if prev != nil {
		prev.stop()
	} else if err := d.store.Freeze(ctx); err != nil {
		d.mu.Lock()
		d.rec = nil
		d.mu.Unlock()
		return nil, fmt.Errorf("freeze %s: %w", d.name, err)
	}
	err := waitUntil(ctx, func() bool {
		d.mu.Lock()
		busy := len(d.coord) > 0
		d.mu.Unlock()
		return !busy && !s.txStaged(d)
	})
	if err != nil {
		s.recRelease(d, number)
		return nil, fmt.Errorf("freeze %s: waiting for migrations and transactions: %w", d.name, err)
	}
	d.mu.Lock()
	st := &proto.RecFrozen{Epoch: d.epoch, Pushed: d.pushed, Invalid: d.invalid}
	d.mu.Unlock()
	if d.transactional() {
		seq, err := d.seqnum()
		if err != nil {
			s.recRelease(d, number)
			return nil, err
		}
		st.Seqnum = seq
	}
	return st, nil
}

// recRelease undoes a recovery freeze that failed, so that the database
// is not left frozen by a recovery that will not go on.
func (s *Service) recRelease(d *db, number uint64) {
	d.mu.Lock()
	rec := d.rec
	if rec == nil || rec.number != number {
		d.mu.Unlock()
		return
	}
	d.rec = nil
	d.mu.Unlock()
	rec.stop()
	if err := d.store.Thaw(); err != nil {
		d.log.Warn("thaw after a failed recovery freeze", "err", err)
	}
}

// stop ends the pull sessions of a recovery.
func (rf *recFreeze) stop() {
	for _, p := range rf.pulls {
		p.cancel()
	}
}

// waitUntil polls cond until it holds or ctx ends; what it waits for
// (migration turns, staged transactions) lasts a round trip or two.
func waitUntil(ctx context.Context, cond func() bool) error {
	for wait := 100 * time.Microsecond; !cond(); wait = min(2*wait, 5*time.Millisecond) {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

// recLookup returns a database and the state of recovery number, which
// must hold it frozen; otherwise it answers the request and returns nil.
func (s *Service) recLookup(r request, dbid uint32, number uint64) (*db, *recFreeze) {
	d := s.lookupOrFail(r, dbid)
	if d == nil {
		return nil, nil
	}
	rec := d.recovering()
	if rec == nil || rec.number != number {
		r.status(proto.StatusConflict, fmt.Sprintf("database %s is not frozen by recovery %d", d.name, number))
		return nil, nil
	}
	return d, rec
}

// spawnReply runs a step in its own goroutine and answers with its
// outcome.
func (s *Service) spawnReply(r request, step func() (proto.Payload, error)) {
	s.spawn(func() {
		body, err := step()
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(body)
	})
}

func (s *Service) handleRecPull(ctx context.Context, r request) {
	var req proto.RecPull
	if !r.decode(&req) {
		return
	}
	d, rec := s.recLookup(r, req.DBID, req.Number)
	if d == nil {
		return
	}
	if req.Flags&proto.RecPullDurable != 0 && d.durable == nil {
		r.status(proto.StatusInvalid, fmt.Sprintf("database %s is not per-record persistent", d.name))
		return
	}
	if len(req.VNNMap.Map) == 0 && req.Flags&proto.RecPullDurable == 0 && !d.transactional() {
		r.status(proto.StatusInvalid, "a pull of a volatile database needs the new vnnmap")
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) {
		if req.Flags&proto.RecPullWipe != 0 {
			return &proto.RecordBatch{DBID: d.id, Done: true}, s.recWipe(ctx, d, rec)
		}
		return s.recPullNext(ctx, d, rec, &req)
	})
}

// recWipe empties the volatile copy of a database that is not trusted.
func (s *Service) recWipe(ctx context.Context, d *db, rec *recFreeze) error {
	if err := d.store.Wipe(ctx); err != nil {
		return fmt.Errorf("wipe untrusted copy of %s: %w", d.name, err)
	}
	d.mu.Lock()
	d.invalid = false
	rec.cleanup = nil
	d.mu.Unlock()
	d.log.Info("untrusted copy wiped for recovery", "recovery", rec.number)
	return nil
}

// recPullNext answers one pull with the next batch of its session,
// starting the session on the first pull.
func (s *Service) recPullNext(ctx context.Context, d *db, rec *recFreeze, req *proto.RecPull) (*proto.RecordBatch, error) {
	kind := req.Flags & proto.RecPullDurable
	d.mu.Lock()
	p := rec.pulls[kind]
	if p == nil {
		p = s.startPull(d, rec, req)
		rec.pulls[kind] = p
	}
	d.mu.Unlock()
	select {
	case b, ok := <-p.ch:
		if !ok {
			return &proto.RecordBatch{DBID: d.id, Done: true}, nil
		}
		if b.err != nil {
			return nil, b.err
		}
		return &proto.RecordBatch{DBID: d.id, Records: b.recs}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startPull streams the copy asked for into a session's channel. A
// volatile pull also notes the keys the node will not be the location
// master of in the new vnnmap, to drop them at the thaw.
func (s *Service) startPull(d *db, rec *recFreeze, req *proto.RecPull) *pullSession {
	ctx, cancel := context.WithCancel(s.ctx)
	p := &pullSession{ch: make(chan pullBatch, 2), cancel: cancel}
	store := d.store
	durable := req.Flags&proto.RecPullDurable != 0
	if durable {
		store = d.durable
	}
	volatile := !durable && !d.transactional()
	v := req.VNNMap
	s.spawn(func() {
		defer close(p.ch)
		var cleanup [][]byte
		err := store.Records(ctx, pullBatchRecords, func(recs []tdb.Record) error {
			out := make([]proto.Record, len(recs))
			for i, tr := range recs {
				out[i] = toProto(tr)
				if volatile && v.LMaster(tr.Key) != s.pnn {
					cleanup = append(cleanup, tr.Key)
				}
			}
			select {
			case p.ch <- pullBatch{recs: out}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			select {
			case p.ch <- pullBatch{err: fmt.Errorf("pull %s: %w", d.name, err)}:
			case <-ctx.Done():
			}
			return
		}
		if volatile {
			d.mu.Lock()
			rec.cleanup = cleanup
			d.mu.Unlock()
		}
	})
	return p
}

func (s *Service) handleRecPush(ctx context.Context, r request) {
	var req proto.RecPush
	if !r.decode(&req) {
		return
	}
	d, rec := s.recLookup(r, req.DBID, req.Number)
	if d == nil {
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) { return nil, s.recPush(ctx, d, rec, &req) })
}

// recPush stores a batch of a recovery's push: durable records where they
// are newer; a transactional database's records staged until the last
// batch replaces the copy at once; or the records of a volatile database
// this node is the location master of, as their data master.
func (s *Service) recPush(ctx context.Context, d *db, rec *recFreeze, p *proto.RecPush) error {
	switch {
	case p.Flags&proto.RecPushDurable != 0:
		return d.push(ctx, &proto.PushRecords{DBID: d.id, Flags: proto.PushDurable, Records: p.Records})
	case p.Flags&proto.RecPushStage != 0:
		d.mu.Lock()
		rec.staged = append(rec.staged, p.Records...)
		staged := rec.staged
		d.mu.Unlock()
		if p.Flags&proto.RecPushLast == 0 {
			return nil
		}
		err := d.store.Update(ctx, func(tx *tdb.Tx) error {
			tx.Wipe()
			for _, r := range staged {
				if err := tx.Store(r.Key, toTDB(r.Header), r.Data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("replace %s with the recovered copy: %w", d.name, err)
		}
		d.mu.Lock()
		rec.staged = nil
		d.mu.Unlock()
	default:
		err := d.store.Update(ctx, func(tx *tdb.Tx) error {
			for _, r := range p.Records {
				if r.Header.Flags&proto.RecFlagDeleted != 0 {
					if err := tx.Delete(r.Key); err != nil {
						return err
					}
					continue
				}
				h := r.Header
				h.DMaster = s.pnn
				h.Flags &^= proto.RecFlagsRO
				if err := tx.Store(r.Key, toTDB(h), r.Data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store recovered records of %s: %w", d.name, err)
		}
	}
	if p.Flags&proto.RecPushLast != 0 {
		d.mu.Lock()
		d.pushed = max(d.pushed, p.Number)
		d.mu.Unlock()
	}
	return nil
}

func (s *Service) handleRecThaw(ctx context.Context, r request) {
	var req proto.RecThaw
	if !r.decode(&req) {
		return
	}
	d, rec := s.recLookup(r, req.DBID, req.Number)
	if d == nil {
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) { return nil, s.recThaw(ctx, d, rec, &req) })
}

// recThaw ends a database's recovery on this node: it drops the copies
// of records it is no longer the location master of (every node has
// stored its share of the merged records by now), takes the new vnnmap
// and thaws.
func (s *Service) recThaw(ctx context.Context, d *db, rec *recFreeze, t *proto.RecThaw) error {
	d.mu.Lock()
	cleanup := rec.cleanup
	d.mu.Unlock()
	if len(cleanup) > 0 {
		err := d.store.Update(ctx, func(tx *tdb.Tx) error {
			for _, k := range cleanup {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("drop records %s moved away from: %w", d.name, err)
		}
	}
	v := t.VNNMap
	d.vnn.Store(&v)
	s.txDBGenerationChanged(d.id)
	d.mu.Lock()
	if d.rec != rec {
		d.mu.Unlock()
		return statusErr(proto.OpRecThaw, proto.StatusConflict, "database %s was taken over by another recovery", d.name)
	}
	d.rec = nil
	d.epoch = max(d.epoch, t.Number)
	d.pushed = max(d.pushed, t.Number)
	clear(d.pins)
	d.mu.Unlock()
	rec.stop()
	if err := d.store.Thaw(); err != nil {
		return fmt.Errorf("thaw %s: %w", d.name, err)
	}
	d.log.Debug("database recovered", "recovery", t.Number, "generation", v.Generation, "dropped", len(cleanup))
	return nil
}

// invalidate marks every copy as not to be trusted: this node has become
// inactive, so the cluster goes on without it and may delete records
// whose copies it keeps.
func (s *Service) invalidate() {
	for _, d := range s.allDBs() {
		d.mu.Lock()
		if !d.invalid {
			d.invalid = true
			d.log.Info("copy no longer trusted: this node is inactive")
		}
		d.mu.Unlock()
	}
}

// recoverTimeout bounds one recovery step (CTDB's RecoverTimeout).
func (s *Service) recoverTimeout() time.Duration {
	return time.Duration(s.tunable(func(t *config.Tunables) uint32 { return t.RecoverTimeout })) * time.Second
}
