package database

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// txState holds this node's transaction roles: transaction master of some
// databases, node of clients running transactions, and participant in
// transactions being committed.
type txState struct {
	mu sync.Mutex
	// queues are the transaction locks this node is master of.
	queues map[uint32]*txQueue
	// clients are this node's clients' transactions.
	clients map[lockKey]*txClient
	// prepared are transactions staged here, by id.
	prepared map[uint64]*txPrepared
}

func (t *txState) init() {
	t.queues = make(map[uint32]*txQueue)
	t.clients = make(map[lockKey]*txClient)
	t.prepared = make(map[uint64]*txPrepared)
}

// txWaiter is a node's request for a transaction lock; grant answers it.
type txWaiter struct {
	node  uint32
	token uint64
	grant func(error)
}

type txQueue struct {
	holder  *txWaiter
	waiters []*txWaiter
}

// txClient is a client's transaction on this node.
type txClient struct {
	d          *db
	token      uint64 // cluster-unique name of the lock request
	cancel     func()
	granted    bool
	committing bool
	master     uint32
	gen        uint32
}

type txPrepared struct {
	d           *db
	coordinator uint32
	seqnum      uint64
	writes      []proto.Record
}

// txMaster returns the transaction master of a database in vnnmap v.
func txMaster(v *proto.VNNMap, dbid uint32) uint32 {
	return v.Map[dbid%uint32(len(v.Map))]
}

// enqueue queues w for a database's lock, granting it at once if free.
func (t *txState) enqueue(dbid uint32, w *txWaiter) {
	t.mu.Lock()
	q := t.queues[dbid]
	if q == nil {
		q = &txQueue{}
		t.queues[dbid] = q
	}
	if q.holder != nil {
		q.waiters = append(q.waiters, w)
		t.mu.Unlock()
		return
	}
	q.holder = w
	t.mu.Unlock()
	w.grant(nil)
}

// unlock releases the lock held by (node, token) and grants it to the next
// waiter, or drops that request from the queue.
func (t *txState) unlock(dbid, node uint32, token uint64) {
	t.mu.Lock()
	q := t.queues[dbid]
	if q == nil {
		t.mu.Unlock()
		return
	}
	if q.holder != nil && q.holder.node == node && q.holder.token == token {
		next := t.advance(dbid, q)
		t.mu.Unlock()
		if next != nil {
			next.grant(nil)
		}
		return
	}
	var dropped *txWaiter
	for i, w := range q.waiters {
		if w.node == node && w.token == token {
			dropped = w
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	if dropped != nil {
		dropped.grant(statusErr(proto.OpTxLock, proto.StatusUnavailable, "transaction cancelled"))
	}
}

// advance makes the next waiter the holder; t.mu is held.
func (t *txState) advance(dbid uint32, q *txQueue) *txWaiter {
	if len(q.waiters) == 0 {
		delete(t.queues, dbid)
		return nil
	}
	q.holder = q.waiters[0]
	q.waiters = q.waiters[1:]
	return q.holder
}

// nodeGone releases the locks and drops the requests and staged
// transactions of a node that went away.
func (s *Service) txNodeGone(pnn uint32) {
	t := &s.tx
	var grants []*txWaiter
	var fails []*txWaiter
	t.mu.Lock()
	for dbid, q := range t.queues {
		kept := q.waiters[:0]
		for _, w := range q.waiters {
			if w.node == pnn {
				fails = append(fails, w)
			} else {
				kept = append(kept, w)
			}
		}
		q.waiters = kept
		if q.holder != nil && q.holder.node == pnn {
			s.log.Warn("releasing the transaction lock of a node that went away", "dbid", fmt.Sprintf("0x%08x", dbid), "pnn", pnn)
			if next := t.advance(dbid, q); next != nil {
				grants = append(grants, next)
			}
		}
	}
	for id, p := range t.prepared {
		if p.coordinator == pnn {
			delete(t.prepared, id)
		}
	}
	t.mu.Unlock()
	for _, w := range fails {
		w.grant(statusErr(proto.OpTxLock, proto.StatusUnavailable, "node %d went away", pnn))
	}
	for _, w := range grants {
		w.grant(nil)
	}
}

// txGenerationChanged drops everything of the old generation: lock queues
// (their waiters retry against the new master) and staged transactions.
func (s *Service) txGenerationChanged() {
	s.txDrop(func(uint32) bool { return true })
}

// txDBGenerationChanged does the same for one database, recovered on its
// own.
func (s *Service) txDBGenerationChanged(dbid uint32) {
	s.txDrop(func(id uint32) bool { return id == dbid })
}

func (s *Service) txDrop(match func(dbid uint32) bool) {
	t := &s.tx
	t.mu.Lock()
	var fails []*txWaiter
	for dbid, q := range t.queues {
		if match(dbid) {
			fails = append(fails, q.waiters...)
			delete(t.queues, dbid)
		}
	}
	for id, p := range t.prepared {
		if match(p.d.id) {
			delete(t.prepared, id)
		}
	}
	t.mu.Unlock()
	for _, w := range fails {
		w.grant(statusErr(proto.OpTxLock, proto.StatusBusy, "the vnnmap changed"))
	}
}

// txStaged reports whether a transaction of d is staged here, waiting for
// its coordinator to commit or drop it.
func (s *Service) txStaged(d *db) bool {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	for _, p := range s.tx.prepared {
		if p.d == d {
			return true
		}
	}
	return false
}

func (s *Service) handleTxLock(_ context.Context, r request) {
	var req proto.TxLock
	if !r.decode(&req) {
		return
	}
	if req.Node != r.m.Src.PNN {
		r.status(proto.StatusInvalid, "transaction lock requested for another node")
		return
	}
	if err := s.checkTxMaster(req.DBID, req.Generation); err != nil {
		r.fail(err)
		return
	}
	s.tx.enqueue(req.DBID, &txWaiter{node: req.Node, token: req.Token, grant: func(err error) {
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	}})
}

func (s *Service) checkTxMaster(dbid, gen uint32) error {
	d := s.lookup(dbid)
	if d == nil {
		return statusErr(proto.OpTxLock, proto.StatusNotFound, "no database with id 0x%08x", dbid)
	}
	v := d.vnnmap()
	if gen != v.Generation || txMaster(v, dbid) != s.pnn {
		return statusErr(proto.OpTxLock, proto.StatusBusy, "node %d is not the transaction master in generation %d", s.pnn, gen)
	}
	return nil
}

func (s *Service) handleTxUnlock(_ context.Context, r request) {
	var req proto.TxLock
	if !r.decode(&req) {
		return
	}
	s.tx.unlock(req.DBID, r.m.Src.PNN, req.Token)
}

// txLock takes a database's transaction lock for token, waiting in the
// master's queue; on failure the request is withdrawn.
func (s *Service) txLock(ctx context.Context, d *db, token uint64) (master, gen uint32, err error) {
	v := d.vnnmap()
	master, gen = txMaster(v, d.id), v.Generation
	req := proto.TxLock{DBID: d.id, Generation: gen, Node: s.pnn, Token: token}
	if master == s.pnn {
		if err = s.checkTxMaster(d.id, gen); err == nil {
			done := make(chan error, 1)
			s.tx.enqueue(d.id, &txWaiter{node: s.pnn, token: token, grant: func(err error) { done <- err }})
			select {
			case err = <-done:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	} else {
		err = s.call(ctx, master, proto.OpTxLock, &req, nil)
		if err != nil && gone(err) {
			// The recovery that follows names a new master.
			err = statusErr(proto.OpTxLock, proto.StatusBusy, "transaction master %d is gone (%v); the cluster recovers, start the transaction again", master, err)
		}
	}
	if err != nil {
		s.txUnlock(d.id, master, token)
		return 0, 0, err
	}
	return master, gen, nil
}

// txUnlock releases (or withdraws) a transaction lock request.
func (s *Service) txUnlock(dbid, master uint32, token uint64) {
	if master == s.pnn {
		s.tx.unlock(dbid, s.pnn, token)
		return
	}
	s.send(master, proto.OpTxUnlock, &proto.TxLock{DBID: dbid, Node: s.pnn, Token: token})
}

// txLockInternal takes a database's transaction lock for the node itself
// (wipe, restore) and returns its release.
func (s *Service) txLockInternal(ctx context.Context, d *db) (func(), error) {
	token := s.nextID.Add(1)
	master, _, err := s.txLock(ctx, d, token)
	if err != nil {
		return nil, fmt.Errorf("transaction lock of %s: %w", d.name, err)
	}
	return func() { s.txUnlock(d.id, master, token) }, nil
}

func (s *Service) handleTransStart(ctx context.Context, r request) {
	var req proto.TransStart
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if !d.transactional() {
		r.status(proto.StatusInvalid, fmt.Sprintf("Transactions not supported on DB %s", d.name))
		return
	}
	k := lockKey{owner: r.m.Src, token: req.Token}
	tctx, cancel := timeoutCtx(ctx, req.Timeout)
	tc := &txClient{d: d, token: s.nextID.Add(1), cancel: cancel}
	s.tx.mu.Lock()
	if _, dup := s.tx.clients[k]; dup {
		s.tx.mu.Unlock()
		cancel()
		r.status(proto.StatusExists, fmt.Sprintf("transaction token %d is in use", req.Token))
		return
	}
	s.tx.clients[k] = tc
	s.tx.mu.Unlock()
	s.spawn(func() {
		defer cancel()
		master, gen, err := s.txLock(tctx, d, tc.token)
		s.tx.mu.Lock()
		current := s.tx.clients[k] == tc
		if current && err == nil {
			tc.granted, tc.master, tc.gen = true, master, gen
		} else if current {
			delete(s.tx.clients, k)
		}
		s.tx.mu.Unlock()
		switch {
		case err != nil:
			r.fail(err)
		case !current:
			s.txUnlock(d.id, master, tc.token)
			r.status(proto.StatusUnavailable, "transaction cancelled")
		default:
			r.reply(nil)
		}
	})
}

// endClient removes a client's transaction: a granted one releases its
// lock, a waiting one is cancelled. A commit in progress finishes.
func (s *Service) endClient(k lockKey) {
	s.tx.mu.Lock()
	tc := s.tx.clients[k]
	if tc == nil || tc.committing {
		s.tx.mu.Unlock()
		return
	}
	delete(s.tx.clients, k)
	s.tx.mu.Unlock()
	if tc.granted {
		s.txUnlock(tc.d.id, tc.master, tc.token)
	} else {
		tc.cancel()
	}
}

func (s *Service) handleTransCancel(_ context.Context, r request) {
	var req proto.TransStart
	if !r.decode(&req) {
		return
	}
	s.endClient(lockKey{owner: r.m.Src, token: req.Token})
}

func (s *Service) txClientGone(owner proto.Endpoint) {
	s.tx.mu.Lock()
	var keys []lockKey
	for k := range s.tx.clients {
		if k.owner == owner {
			keys = append(keys, k)
		}
	}
	s.tx.mu.Unlock()
	for _, k := range keys {
		s.endClient(k)
	}
}

func (s *Service) handleTransCommit(ctx context.Context, r request) {
	var req proto.TransCommit
	if !r.decode(&req) {
		return
	}
	k := lockKey{owner: r.m.Src, token: req.Token}
	s.tx.mu.Lock()
	tc := s.tx.clients[k]
	ok := tc != nil && tc.granted && !tc.committing && tc.d.id == req.DBID
	if ok {
		tc.committing = true
	}
	s.tx.mu.Unlock()
	if !ok {
		r.status(proto.StatusInvalid, fmt.Sprintf("no transaction %d on database 0x%08x", req.Token, req.DBID))
		return
	}
	s.spawn(func() {
		defer func() {
			s.tx.mu.Lock()
			delete(s.tx.clients, k)
			s.tx.mu.Unlock()
			s.txUnlock(tc.d.id, tc.master, tc.token)
		}()
		if tc.gen != tc.d.generation() {
			r.status(proto.StatusBusy, "the cluster recovered during the transaction; start it again")
			return
		}
		seq, err := s.commit(ctx, tc.d, tc.gen, req.Writes)
		if err != nil {
			r.fail(fmt.Errorf("commit on %s: %w", tc.d.name, err))
			return
		}
		r.reply(&proto.U64{V: seq})
	})
}

// commit applies a transaction on every active node in two phases: each
// node stages the writes and checks it is at the sequence number the
// transaction starts from and in the generation its lock was taken in,
// then each applies them atomically. If any node cannot stage them, none
// applies them. This node applies them last: should it die on the way,
// no node has a transaction the others lack at the same sequence number
// (which a recovery could not tell from theirs), and the client, on this
// node, never saw it succeed.
func (s *Service) commit(ctx context.Context, d *db, gen uint32, writes []proto.Record) (uint64, error) {
	cur, err := d.seqnum()
	if err != nil {
		return 0, err
	}
	for _, w := range writes {
		if string(w.Key) == proto.SeqnumKey {
			return 0, statusErr(proto.OpTransCommit, proto.StatusInvalid, "the sequence number record is written by the commit itself")
		}
	}
	prep := proto.TxPrepare{DBID: d.id, Generation: gen, TxID: uint64(s.pnn)<<48 | s.nextID.Add(1), Seqnum: cur + 1, Writes: writes}
	nodes := s.activeNodes()
	cctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	res := s.callAll(cctx, nodes, proto.OpTxPrepare, &prep, func() error { return s.prepare(s.pnn, &prep) })
	ref := proto.TxRef{DBID: d.id, TxID: prep.TxID}
	if err := firstError(res); err != nil {
		var staged []uint32
		for _, r := range res {
			if r.err == nil {
				staged = append(staged, r.pnn)
			}
		}
		s.callAll(cctx, staged, proto.OpTxAbort, &ref, func() error { s.abortPrepared(ref.TxID); return nil })
		switch {
		case proto.StatusOf(err) == proto.StatusConflict:
			// A node is at another sequence number: only a recovery
			// brings the copies together again.
			s.askRecovery(fmt.Sprintf("sequence numbers of %s differ: %v", d.name, err))
			err = statusErr(proto.OpTransCommit, proto.StatusBusy, "%v; the cluster recovers, start the transaction again", err)
		case gone(err):
			// Nothing was applied; the recovery that follows the node's
			// departure lets the transaction run without it.
			err = statusErr(proto.OpTransCommit, proto.StatusBusy, "%v; the cluster recovers, start the transaction again", err)
		}
		return 0, err
	}
	others := slices.DeleteFunc(slices.Clone(nodes), func(p uint32) bool { return p == s.pnn })
	for _, r := range s.callAll(cctx, others, proto.OpTxCommit, &ref, nil) {
		switch {
		case r.err == nil:
		case gone(r.err):
			s.log.Warn("node went away while committing a transaction", "db", d.name, "pnn", r.pnn, "seqnum", prep.Seqnum)
		default:
			s.log.Error("node failed to apply a committed transaction", "db", d.name, "pnn", r.pnn, "seqnum", prep.Seqnum, "err", r.err)
			s.askRecovery(fmt.Sprintf("node %d failed to apply transaction %d of %s", r.pnn, prep.Seqnum, d.name))
		}
	}
	if err := s.commitPrepared(cctx, s.takePrepared(ref.TxID)); err != nil {
		return 0, err
	}
	return prep.Seqnum, nil
}

// prepare stages a transaction on this node.
func (s *Service) prepare(coordinator uint32, p *proto.TxPrepare) error {
	d := s.lookup(p.DBID)
	if d == nil {
		return statusErr(proto.OpTxPrepare, proto.StatusNotFound, "no database with id 0x%08x", p.DBID)
	}
	if p.Generation != d.generation() || d.isFrozen() {
		return statusErr(proto.OpTxPrepare, proto.StatusBusy, "database %s is in generation %d, not %d, or recovering", d.name, d.generation(), p.Generation)
	}
	cur, err := d.seqnum()
	if err != nil {
		return err
	}
	if cur != p.Seqnum-1 {
		return statusErr(proto.OpTxPrepare, proto.StatusConflict, "database %s is at sequence number %d on node %d, the transaction expects %d",
			d.name, cur, s.pnn, p.Seqnum-1)
	}
	s.tx.mu.Lock()
	s.tx.prepared[p.TxID] = &txPrepared{d: d, coordinator: coordinator, seqnum: p.Seqnum, writes: p.Writes}
	s.tx.mu.Unlock()
	return nil
}

func (s *Service) abortPrepared(id uint64) {
	s.tx.mu.Lock()
	delete(s.tx.prepared, id)
	s.tx.mu.Unlock()
}

// takePrepared removes a staged transaction, nil if there is none.
func (s *Service) takePrepared(id uint64) *txPrepared {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	p := s.tx.prepared[id]
	delete(s.tx.prepared, id)
	return p
}

// commitPrepared applies a staged transaction in one atomic (and for a
// persistent database durable) update: every written record's RSN is
// bumped and the sequence number record set.
func (s *Service) commitPrepared(ctx context.Context, p *txPrepared) error {
	if p == nil {
		return statusErr(proto.OpTxCommit, proto.StatusNotFound, "no staged transaction")
	}
	return p.d.store.Update(ctx, func(tx *tdb.Tx) error {
		put := func(key []byte, flags tdb.Flags, data []byte) error {
			var rsn uint64
			old, err := tx.Fetch(key)
			switch {
			case err == nil:
				rsn = old.Header.RSN
			case !errors.Is(err, tdb.ErrNotFound):
				return err
			}
			return tx.Store(key, tdb.Header{RSN: rsn + 1, DMaster: p.coordinator, Flags: flags}, data)
		}
		for _, w := range p.writes {
			if w.Header.Flags&proto.RecFlagDeleted != 0 {
				if err := tx.Delete(w.Key); err != nil {
					return err
				}
				continue
			}
			if err := put(w.Key, 0, w.Data); err != nil {
				return err
			}
		}
		return put([]byte(proto.SeqnumKey), tdb.Automatic, binary.LittleEndian.AppendUint64(nil, p.seqnum))
	})
}

func (s *Service) handleTxPrepare(_ context.Context, r request) {
	var req proto.TxPrepare
	if !r.decode(&req) {
		return
	}
	if err := s.prepare(r.m.Src.PNN, &req); err != nil {
		r.fail(err)
		return
	}
	r.reply(nil)
}

func (s *Service) handleTxCommit(ctx context.Context, r request) {
	var req proto.TxRef
	if !r.decode(&req) {
		return
	}
	// Taken now, in arrival order: the coordinator's departure, noticed
	// after this request arrived, must not drop what it decided.
	p := s.takePrepared(req.TxID)
	s.spawn(func() {
		if err := s.commitPrepared(ctx, p); err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	})
}

func (s *Service) handleTxAbort(_ context.Context, r request) {
	var req proto.TxRef
	if !r.decode(&req) {
		return
	}
	s.abortPrepared(req.TxID)
	r.reply(nil)
}
