package database

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gctdb/tdb"
	"gctdb/transportd/proto"
	"gctdb/vacuum"
)

// This file is the database service's side of vacuuming (package vacuum
// holds the rules, the vacuum service drives the runs): scans for the
// tombstones this node is the data master of, the location master's
// cluster-wide deletion of a batch, every node's careful drop of its own
// copies, and compaction.

// vacState is a database's vacuuming state on this node.
type vacState struct {
	queue *vacuum.DeleteQueue

	mu       sync.Mutex
	counters proto.VacuumCounters
	// runStart is when the current run's scan began; latency times runs
	// from there to their compaction check, the last step.
	runStart time.Time
	latency  proto.Latency
}

func (v *vacState) init() { v.queue = vacuum.NewDeleteQueue(0) }

// count changes the counters under the lock.
func (v *vacState) count(fn func(c *proto.VacuumCounters)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fn(&v.counters)
}

func (v *vacState) snapshot() proto.VacuumCounters {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.counters
}

// ranUntil ends the timing of the current run.
func (v *vacState) ranUntil(now func() time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.runStart.IsZero() {
		return
	}
	v.latency.Add(now().Sub(v.runStart))
	v.runStart = time.Time{}
}

// tombstones counts the deleted records of a store.
func tombstones(ctx context.Context, store *tdb.DB) (uint64, error) {
	var n uint64
	err := store.Records(ctx, tdb.DefaultBatch, func(recs []tdb.Record) error {
		for _, r := range recs {
			if uint32(r.Header.Flags)&proto.RecFlagDeleted != 0 {
				n++
			}
		}
		return nil
	})
	return n, err
}

// deleted queues a record deleted on this node for the next fast vacuum.
func (d *db) deleted(key []byte, rsn uint64) {
	if !d.transactional() {
		d.vac.queue.Add(key, rsn)
	}
}

func (s *Service) handleVacuumScan(ctx context.Context, r request) {
	var req proto.VacuumScan
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if d.transactional() {
		r.status(proto.StatusInvalid, fmt.Sprintf("database %s is not volatile and is not vacuumed", d.name))
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) { return s.vacuumScan(ctx, d, &req) })
}

// vacuumScan finds up to req.Max tombstones this node is the data master
// of: from the delete queue, or, for a full scan, from its stores in key
// order after req.Cursor.
func (s *Service) vacuumScan(ctx context.Context, d *db, req *proto.VacuumScan) (*proto.VacuumBatch, error) {
	limit := int(req.Max)
	if limit <= 0 || limit > vacuum.BatchSize {
		limit = vacuum.BatchSize
	}
	b := &proto.VacuumBatch{DBID: d.id, Generation: d.generation(), Flags: req.Flags & proto.VacuumFull}
	if req.Flags&proto.VacuumFull == 0 {
		for _, e := range d.vac.queue.Take(limit) {
			rec, found, err := d.read(e.Key)
			if err != nil {
				return nil, err
			}
			if found && s.ownTombstone(rec.Header) {
				b.Records = append(b.Records, proto.VacuumRecord{Key: e.Key, RSN: rec.Header.RSN, DMaster: s.pnn})
			}
		}
		b.More = d.vac.queue.Len() > 0
	} else if err := s.vacuumFullScan(ctx, d, req.Cursor, limit, b); err != nil {
		return nil, err
	}
	if len(req.Cursor) == 0 {
		d.vac.count(func(c *proto.VacuumCounters) {
			if req.Flags&proto.VacuumFull != 0 {
				c.FullRuns++
			} else {
				c.FastRuns++
			}
			c.LastRun = proto.TimestampOf(time.Now())
		})
		d.vac.mu.Lock()
		d.vac.runStart = time.Now()
		d.vac.mu.Unlock()
	}
	d.vac.count(func(c *proto.VacuumCounters) { c.Candidates += uint64(len(b.Records)) })
	return b, nil
}

// ownTombstone reports whether h is a deleted record this node is the
// data master of: this node's to vacuum.
func (s *Service) ownTombstone(h proto.RecordHeader) bool {
	return h.Flags&proto.RecFlagDeleted != 0 && h.DMaster == s.pnn
}

// vacuumFullScan fills b with up to limit tombstones this node is the
// data master of, from its copy and then, for a per-record-persistent
// database, from its durable store (a durable tombstone outlives the
// volatile one when that was vacuumed while a node was down). The cursor
// is the store's index followed by the last key looked at.
func (s *Service) vacuumFullScan(ctx context.Context, d *db, cursor []byte, limit int, b *proto.VacuumBatch) error {
	stores := []*tdb.DB{d.store}
	if d.durable != nil {
		stores = append(stores, d.durable)
	}
	phase, after := 0, []byte(nil)
	if len(cursor) > 0 {
		phase, after = int(cursor[0]), cursor[1:]
	}
	seen := make(map[string]bool)
	for ; phase < len(stores); phase, after = phase+1, nil {
		var last []byte
		err := stores[phase].Records(ctx, tdb.DefaultBatch, func(recs []tdb.Record) error {
			for _, tr := range recs {
				if after != nil && bytes.Compare(tr.Key, after) <= 0 {
					continue
				}
				if len(b.Records) == limit {
					b.More, b.Cursor = true, append([]byte{byte(phase)}, last...)
					return tdb.ErrStopTraverse
				}
				last = tr.Key
				h := toProto(tr).Header
				if s.ownTombstone(h) && !seen[string(tr.Key)] {
					seen[string(tr.Key)] = true
					b.Records = append(b.Records, proto.VacuumRecord{Key: tr.Key, RSN: h.RSN, DMaster: s.pnn})
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("vacuum scan of %s: %w", d.name, err)
		}
		if b.More {
			return nil
		}
	}
	return nil
}

func (s *Service) handleVacuumDelete(ctx context.Context, r request) {
	var req proto.VacuumBatch
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) {
		cctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		return s.vacuumDelete(cctx, d, &req)
	})
}

// vacuumDelete is the location master's part: for the records of the
// batch it is the location master of and no migration is under way for,
// it holds their migration turns, has every other active node drop its
// copy, and drops its own copy of those every node dropped.
func (s *Service) vacuumDelete(ctx context.Context, d *db, b *proto.VacuumBatch) (*proto.VacuumResult, error) {
	v := d.vnnmap()
	if b.Generation != v.Generation || d.isFrozen() {
		return nil, statusErr(proto.OpVacuumDelete, proto.StatusBusy, "database %s is in generation %d, not %d, or recovering", d.name, v.Generation, b.Generation)
	}
	res := &proto.VacuumResult{}
	var cands []proto.VacuumRecord
	for _, rec := range b.Records {
		if v.LMaster(rec.Key) != s.pnn || !d.tryEnter(rec.Key) {
			res.Skipped++
			continue
		}
		cands = append(cands, rec)
	}
	defer func() {
		for _, rec := range cands {
			d.leave(rec.Key)
		}
	}()
	kept := make([]bool, len(cands))
	req := proto.VacuumBatch{DBID: d.id, Generation: v.Generation, Records: cands}
	durable := d.durable != nil && s.everyNodeActive()
	if durable {
		req.Flags = proto.VacuumDurable
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pnn := range s.activeNodes() {
		if pnn == s.pnn {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k proto.VacuumKept
			err := s.call(ctx, pnn, proto.OpVacuumTryDelete, &req, &k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				d.log.Debug("vacuum batch refused", "pnn", pnn, "err", err)
				for i := range kept {
					kept[i] = true
				}
				return
			}
			for _, i := range k.Indexes {
				if int(i) < len(kept) {
					kept[i] = true
				}
			}
		}()
	}
	wg.Wait()
	var mine []proto.VacuumRecord
	for i, rec := range cands {
		if kept[i] {
			res.Failed++
		} else {
			mine = append(mine, rec)
		}
	}
	local := uint32(len(s.tryDelete(d, mine, durable)))
	res.Skipped += local
	res.Deleted = uint32(len(mine)) - local
	d.vac.count(func(c *proto.VacuumCounters) {
		c.Deleted += uint64(res.Deleted)
		c.Skipped += uint64(res.Skipped)
		c.Failed += uint64(res.Failed)
	})
	return res, nil
}

// tryEnter takes key's migration turn at this lmaster if nobody holds it.
func (d *db) tryEnter(key []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, busy := d.coord[string(key)]; busy {
		return false
	}
	d.coord[string(key)] = &keyQueue{}
	return true
}

func (s *Service) handleVacuumTryDelete(_ context.Context, r request) {
	var req proto.VacuumBatch
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if req.Generation != d.generation() || d.isFrozen() {
		r.status(proto.StatusBusy, fmt.Sprintf("database %s is in generation %d, not %d, or recovering", d.name, d.generation(), req.Generation))
		return
	}
	durable := req.Flags&proto.VacuumDurable != 0
	s.spawn(func() { r.reply(&proto.VacuumKept{Indexes: s.tryDelete(d, req.Records, durable)}) })
}

// tryDelete drops this node's copies of records being vacuumed and
// returns the indexes of those it kept: a copy newer than the deletion
// (the record was re-created or migrated since), a live copy this node is
// the data master of, or a record somebody holds locked.
func (s *Service) tryDelete(d *db, recs []proto.VacuumRecord, durable bool) []uint32 {
	var kept []uint32
	for i, rec := range recs {
		if !s.dropIfVacuumable(d, rec, durable) {
			kept = append(kept, uint32(i))
		}
	}
	return kept
}

func (s *Service) dropIfVacuumable(d *db, rec proto.VacuumRecord, durable bool) bool {
	l, ok := d.store.TryLock(rec.Key)
	if !ok {
		if rec.DMaster == s.pnn {
			// Locked by a client: the next fast vacuum tries again.
			d.deleted(rec.Key, rec.RSN)
		}
		return false
	}
	defer l.Unlock()
	mu := d.stripe(rec.Key)
	mu.Lock()
	defer mu.Unlock()
	key := fmt.Sprintf("%x", rec.Key)
	cur, found, err := d.read(rec.Key)
	switch {
	case err != nil:
		d.log.Warn("vacuum: read failed", "key", key, "err", err)
		return false
	case !found:
	case cur.Header.RSN > rec.RSN:
		return false
	case cur.Header.DMaster == s.pnn && cur.Header.Flags&proto.RecFlagDeleted == 0:
		return false
	}
	if durable && d.durable != nil {
		dc, err := d.durable.Fetch(rec.Key)
		switch {
		case errors.Is(err, tdb.ErrNotFound):
		case err != nil:
			d.log.Warn("vacuum: read of the durable copy failed", "key", key, "err", err)
			return false
		case dc.Header.RSN > rec.RSN || uint32(dc.Header.Flags)&proto.RecFlagDeleted == 0:
			return false
		default:
			if err := d.durable.Delete(rec.Key); err != nil {
				d.log.Warn("vacuum: delete of the durable copy failed", "key", key, "err", err)
				return false
			}
		}
	}
	if !found {
		return true
	}
	if err := d.store.Delete(rec.Key); err != nil {
		d.log.Warn("vacuum: delete failed", "key", key, "err", err)
		return false
	}
	return true
}

// everyNodeActive reports whether every node of the cluster is connected
// and active: only then may durable tombstones go, since a node that is
// down keeps its durable store and could bring a deleted record back.
func (s *Service) everyNodeActive() bool {
	for _, n := range s.nodes.Load().Nodes {
		if n.Flags&proto.NodeFlagDeleted == 0 && n.Flags&proto.NodeFlagsInactive != 0 {
			return false
		}
	}
	return true
}

func (s *Service) handleVacuumCompact(ctx context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawnReply(r, func() (proto.Payload, error) { return s.vacuumCompact(ctx, d, req.Flags&proto.VacuumForce != 0) })
}

// vacuumCompact compacts the database's file when enough of it is free
// space (or force is set).
func (s *Service) vacuumCompact(ctx context.Context, d *db, force bool) (*proto.VacuumCompacted, error) {
	defer d.vac.ranUntil(time.Now)
	st, err := d.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := &proto.VacuumCompacted{SizeBefore: uint64(st.FileSize), SizeAfter: uint64(st.FileSize)}
	if !force && !vacuum.ShouldCompact(st.FileSize, st.LiveBytes) {
		return out, nil
	}
	res, err := d.store.Compact(ctx)
	if err != nil {
		return nil, err
	}
	out.Compacted, out.SizeBefore, out.SizeAfter = true, uint64(res.SizeBefore), uint64(res.SizeAfter)
	d.vac.count(func(c *proto.VacuumCounters) {
		c.Compactions++
		if res.SizeBefore > res.SizeAfter {
			c.BytesFreed += uint64(res.SizeBefore - res.SizeAfter)
		}
	})
	return out, nil
}
