package database

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// A traverse lists a database's records once each. Its coordinator (the
// node of the client) first opens a session on every node, then pulls
// batches from them; it drops keys it has seen already. A node's session
// lists the records it is dmaster of in key order, and also keeps
//
//   - every record that migrates away before the scan reached its key,
//   - every record whose migration to the node was under way when the
//     session opened (it belonged to no node at that moment), when its
//     grant arrives; the session's scan only ends once those grants are
//     in.
//
// So a record present for the whole traverse is listed exactly once,
// wherever it moves meanwhile: at the moment the sessions are open it is
// either on a node, whose scan finds it or keeps it when it leaves, or on
// its way to a node, which keeps it when it arrives.

const (
	// travReplyBytes bounds the records of one answer to a client.
	travReplyBytes = 8 << 20
	travReplyRecs  = 4000
)

type travState struct {
	mu       sync.Mutex
	coord    map[uint64]*traversal
	sessions map[sessKey]*travSession
}

func (t *travState) init() {
	t.coord = make(map[uint64]*traversal)
	t.sessions = make(map[sessKey]*travSession)
}

// traversal is a traverse this node coordinates for a client.
type traversal struct {
	id      uint64
	owner   proto.Endpoint
	d       *db
	flags   uint32
	pending []uint32
	seen    map[string]struct{}
	buf     []proto.Record
	busy    bool
	last    time.Time
}

type sessKey struct {
	pnn uint32
	id  uint64
}

// travSession is this node's part of a traverse.
type travSession struct {
	key    sessKey
	d      *db
	flags  uint32
	ch     chan []proto.Record
	ctx    context.Context
	cancel context.CancelFunc

	// pending are the migrations into the node under way when the
	// session opened.
	pending []*migWaiter

	mu       sync.Mutex
	scanning bool
	// cursor is the last key the scan has read (nil before the first
	// batch); records leaving with a later key are captured.
	cursor   []byte
	read     bool
	captured []proto.Record
	last     time.Time
}

// wants reports whether a session lists rec.
func (ss *travSession) wants(self uint32, rec proto.Record) bool {
	if rec.Header.Flags&proto.RecFlagDeleted != 0 && ss.flags&proto.TraverseWithDeleted == 0 {
		return false
	}
	return ss.flags&proto.TraverseLocal != 0 || ss.d.transactional() || rec.Header.DMaster == self
}

// arriving captures a record that has just become this node's for every
// session that would miss it otherwise: one opened while its grant was
// under way (w, nil when none waited), or one whose scan has already read
// past its key. The latter matters because sessions open one node after
// the other: the record may leave a node whose session is not open yet
// for one whose scan is past it. The coordinator drops the duplicates
// this can make.
func (d *db) arriving(w *migWaiter, rec proto.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ss := range d.sessions {
		// rec is this node's now: the session lists it like a scanned one.
		if !ss.wants(rec.Header.DMaster, rec) {
			continue
		}
		ss.mu.Lock()
		passed := ss.read && bytes.Compare(rec.Key, ss.cursor) <= 0
		if passed || w != nil && slices.Contains(ss.pending, w) {
			ss.captured = append(ss.captured, rec)
		}
		ss.mu.Unlock()
	}
}

// departing captures a record that leaves this node for every session
// whose scan has not reached its key yet. The caller holds the key lock.
func (d *db) departing(rec proto.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ss := range d.sessions {
		ss.mu.Lock()
		if !ss.read || bytes.Compare(rec.Key, ss.cursor) > 0 {
			if rec.Header.Flags&proto.RecFlagDeleted == 0 || ss.flags&proto.TraverseWithDeleted != 0 {
				ss.captured = append(ss.captured, rec)
			}
		}
		ss.mu.Unlock()
	}
}

func (s *Service) handleTraverseStart(ctx context.Context, r request) {
	var req proto.TraverseStart
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	t := &traversal{id: s.nextID.Add(1), owner: r.m.Src, d: d, flags: req.Flags &^ proto.TraverseOpen, pending: []uint32{s.pnn}, last: time.Now()}
	if req.Flags&proto.TraverseLocal == 0 && !d.transactional() {
		t.pending = append(t.pending, s.connectedPeers()...)
		t.seen = make(map[string]struct{})
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		open := proto.TraversePull{ID: t.id, DBID: d.id, Flags: t.flags | proto.TraverseOpen}
		res := s.callAll(ctx, t.pending, proto.OpTraversePull, &open, func() error {
			_, err := s.pullSession(ctx, sessKey{pnn: s.pnn, id: t.id}, &open)
			return err
		})
		if err := firstError(res); err != nil {
			s.endTraverse(t)
			r.fail(fmt.Errorf("traverse %s: %w", d.name, err))
			return
		}
		s.trav.mu.Lock()
		s.trav.coord[t.id] = t
		s.trav.mu.Unlock()
		r.reply(&proto.U64{V: t.id})
	})
}

// traversalOf returns a client's traverse and marks it busy.
func (s *Service) traversalOf(owner proto.Endpoint, id uint64) (*traversal, error) {
	s.trav.mu.Lock()
	defer s.trav.mu.Unlock()
	t := s.trav.coord[id]
	if t == nil || t.owner != owner {
		return nil, statusErr(proto.OpTraverseNext, proto.StatusNotFound, "no traverse %d", id)
	}
	if t.busy {
		return nil, statusErr(proto.OpTraverseNext, proto.StatusBusy, "traverse %d is already being read", id)
	}
	t.busy, t.last = true, time.Now()
	return t, nil
}

func (s *Service) handleTraverseNext(ctx context.Context, r request) {
	var req proto.TraverseRef
	if !r.decode(&req) {
		return
	}
	t, err := s.traversalOf(r.m.Src, req.ID)
	if err != nil {
		r.fail(err)
		return
	}
	s.spawn(func() {
		batch, err := s.nextBatch(ctx, t)
		s.trav.mu.Lock()
		t.busy, t.last = false, time.Now()
		s.trav.mu.Unlock()
		if err != nil || batch.Done {
			s.endTraverse(t)
		}
		if err != nil {
			r.fail(fmt.Errorf("traverse %s: %w", t.d.name, err))
			return
		}
		r.reply(batch)
	})
}

// nextBatch pulls from every node not done yet until it has records or
// all are done, and returns a bounded part of what it has.
func (s *Service) nextBatch(ctx context.Context, t *traversal) (*proto.RecordBatch, error) {
	for len(t.buf) == 0 && len(t.pending) > 0 {
		pctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		batches := make([]proto.RecordBatch, len(t.pending))
		pull := proto.TraversePull{ID: t.id, DBID: t.d.id, Flags: t.flags}
		res := make([]nodeResult, len(t.pending))
		var wg sync.WaitGroup
		for i, pnn := range t.pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if pnn == s.pnn {
					var b *proto.RecordBatch
					if b, err = s.pullSession(pctx, sessKey{pnn: s.pnn, id: t.id}, &pull); err == nil {
						batches[i] = *b
					}
				} else {
					err = s.call(pctx, pnn, proto.OpTraversePull, &pull, &batches[i])
				}
				res[i] = nodeResult{pnn: pnn, err: err}
			}()
		}
		wg.Wait()
		cancel()
		if err := firstError(res); err != nil {
			return nil, err
		}
		var pending []uint32
		for i, b := range batches {
			for _, rec := range b.Records {
				if t.seen != nil {
					if _, dup := t.seen[string(rec.Key)]; dup {
						continue
					}
					t.seen[string(rec.Key)] = struct{}{}
				}
				t.buf = append(t.buf, rec)
			}
			if !b.Done {
				pending = append(pending, t.pending[i])
			}
		}
		t.pending = pending
	}
	n, size := 0, 0
	for n < len(t.buf) && n < travReplyRecs && (n == 0 || size+len(t.buf[n].Data)+len(t.buf[n].Key) <= travReplyBytes) {
		size += len(t.buf[n].Data) + len(t.buf[n].Key)
		n++
	}
	out := &proto.RecordBatch{DBID: t.d.id, Records: t.buf[:n:n]}
	t.buf = t.buf[n:]
	out.Done = len(t.buf) == 0 && len(t.pending) == 0
	return out, nil
}

func (s *Service) handleTraverseEnd(_ context.Context, r request) {
	var req proto.TraverseRef
	if !r.decode(&req) {
		return
	}
	if r.m.Src.Service == proto.ServiceDatabase {
		s.closeSession(sessKey{pnn: r.m.Src.PNN, id: req.ID})
		return
	}
	s.trav.mu.Lock()
	t := s.trav.coord[req.ID]
	if t != nil && t.owner != r.m.Src {
		t = nil
	}
	s.trav.mu.Unlock()
	if t != nil {
		s.endTraverse(t)
	}
	r.reply(nil)
}

// endTraverse forgets a traverse and closes its sessions.
func (s *Service) endTraverse(t *traversal) {
	s.trav.mu.Lock()
	delete(s.trav.coord, t.id)
	s.trav.mu.Unlock()
	s.closeSession(sessKey{pnn: s.pnn, id: t.id})
	for _, pnn := range t.pending {
		if pnn != s.pnn {
			s.send(pnn, proto.OpTraverseEnd, &proto.TraverseRef{ID: t.id})
		}
	}
}

func (s *Service) travClientGone(owner proto.Endpoint) {
	s.trav.mu.Lock()
	var gone []*traversal
	for _, t := range s.trav.coord {
		if t.owner == owner {
			gone = append(gone, t)
		}
	}
	s.trav.mu.Unlock()
	for _, t := range gone {
		s.endTraverse(t)
	}
}

func (s *Service) handleTraversePull(ctx context.Context, r request) {
	var req proto.TraversePull
	if !r.decode(&req) {
		return
	}
	s.spawn(func() {
		b, err := s.pullSession(ctx, sessKey{pnn: r.m.Src.PNN, id: req.ID}, &req)
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(b)
	})
}

// pullSession opens a session (TraverseOpen) or returns its next batch:
// what left the node first, then the scan's next records.
func (s *Service) pullSession(ctx context.Context, key sessKey, req *proto.TraversePull) (*proto.RecordBatch, error) {
	d := s.lookup(req.DBID)
	if d == nil {
		return nil, statusErr(proto.OpTraversePull, proto.StatusNotFound, "no database with id 0x%08x", req.DBID)
	}
	s.trav.mu.Lock()
	ss := s.trav.sessions[key]
	if ss == nil {
		sctx, cancel := context.WithCancel(s.ctx)
		ss = &travSession{key: key, d: d, flags: req.Flags &^ proto.TraverseOpen, ch: make(chan []proto.Record), ctx: sctx, cancel: cancel}
		s.trav.sessions[key] = ss
		d.mu.Lock()
		d.sessions[ss] = struct{}{}
		d.mu.Unlock()
		// Taken after registering: a grant applied in between is in the
		// file when the scan, which has not started yet, flushes it.
		pending := s.pendingIn(d)
		d.mu.Lock()
		ss.pending = pending
		d.mu.Unlock()
	}
	s.trav.mu.Unlock()
	ss.mu.Lock()
	ss.last = time.Now()
	start := !ss.scanning && req.Flags&proto.TraverseOpen == 0
	ss.scanning = ss.scanning || start
	ss.mu.Unlock()
	if req.Flags&proto.TraverseOpen != 0 {
		return &proto.RecordBatch{DBID: d.id}, nil
	}
	if start {
		s.spawn(func() { s.scan(ss) })
	}
	out := &proto.RecordBatch{DBID: d.id}
	ss.mu.Lock()
	out.Records, ss.captured = ss.captured, nil
	ss.mu.Unlock()
	for len(out.Records) == 0 {
		select {
		case recs, ok := <-ss.ch:
			if !ok {
				// The scan is over; whatever left meanwhile was read.
				ss.mu.Lock()
				out.Records, ss.captured = ss.captured, nil
				ss.mu.Unlock()
				out.Done = true
				s.closeSession(key)
				return out, nil
			}
			out.Records = recs
		case <-ss.ctx.Done():
			return nil, statusErr(proto.OpTraversePull, proto.StatusNotFound, "traverse %d was closed", key.id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// scan reads the session's database in key order and hands the records
// it lists to pullSession, one batch at a time.
func (s *Service) scan(ss *travSession) {
	defer close(ss.ch)
	err := ss.d.store.Records(ss.ctx, tdb.DefaultBatch, func(recs []tdb.Record) error {
		out := make([]proto.Record, 0, len(recs))
		for _, r := range recs {
			if rec := toProto(r); ss.wants(s.pnn, rec) {
				out = append(out, rec)
			}
		}
		ss.mu.Lock()
		ss.cursor, ss.read = recs[len(recs)-1].Key, true
		ss.mu.Unlock()
		if len(out) == 0 {
			return nil
		}
		select {
		case ss.ch <- out:
			return nil
		case <-ss.ctx.Done():
			return ss.ctx.Err()
		}
	})
	if err != nil && ss.ctx.Err() == nil {
		s.log.Warn("traverse scan failed", "db", ss.d.name, "err", err)
		ss.cancel()
		return
	}
	for _, w := range ss.pending {
		select {
		case <-w.done:
		case <-ss.ctx.Done():
			return
		}
	}
}

func (s *Service) closeSession(key sessKey) {
	s.trav.mu.Lock()
	ss := s.trav.sessions[key]
	delete(s.trav.sessions, key)
	s.trav.mu.Unlock()
	if ss == nil {
		return
	}
	ss.cancel()
	ss.d.mu.Lock()
	delete(ss.d.sessions, ss)
	ss.d.mu.Unlock()
}

// expireTraverses drops traverses and sessions nobody pulled from for
// TraverseTimeout seconds.
func (s *Service) expireTraverses(now time.Time) {
	idle := time.Duration(s.tunable(func(t *config.Tunables) uint32 { return t.TraverseTimeout })) * time.Second
	var ts []*traversal
	var keys []sessKey
	s.trav.mu.Lock()
	for _, t := range s.trav.coord {
		if !t.busy && now.Sub(t.last) > idle {
			ts = append(ts, t)
		}
	}
	for k, ss := range s.trav.sessions {
		ss.mu.Lock()
		if now.Sub(ss.last) > idle {
			keys = append(keys, k)
		}
		ss.mu.Unlock()
	}
	s.trav.mu.Unlock()
	for _, t := range ts {
		s.log.Info("traverse expired", "db", t.d.name, "id", t.id)
		s.endTraverse(t)
	}
	for _, k := range keys {
		s.closeSession(k)
	}
}
