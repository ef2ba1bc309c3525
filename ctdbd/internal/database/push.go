package database

import (
	"context"
	"errors"
	"fmt"

	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// restore is a client's restore in progress: the database is quiet on
// every node until the client's last batch.
type restore struct {
	d       *db
	nodes   []uint32
	release func()
}

func (s *Service) handlePushRecords(ctx context.Context, r request) {
	var req proto.PushRecords
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawn(func() {
		var err error
		if r.fromClient() {
			err = s.restoreBatch(ctx, r.m.Src, d, &req)
		} else {
			err = d.push(ctx, &req)
		}
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	})
}

// push stores records with their headers in one atomic update; into the
// durable store only where they are newer than its copy.
func (d *db) push(ctx context.Context, p *proto.PushRecords) error {
	store := d.store
	if p.Flags&proto.PushDurable != 0 {
		if d.durable == nil {
			return statusErr(proto.OpPushRecords, proto.StatusInvalid, "database %s is not per-record persistent", d.name)
		}
		store = d.durable
	}
	return store.Update(ctx, func(tx *tdb.Tx) error {
		if p.Flags&proto.PushWipe != 0 {
			tx.Wipe()
		}
		for _, rec := range p.Records {
			if p.Flags&proto.PushDurable != 0 {
				old, err := tx.Fetch(rec.Key)
				if err == nil && old.Header.RSN >= rec.Header.RSN {
					continue
				}
				if err != nil && !errors.Is(err, tdb.ErrNotFound) {
					return err
				}
			}
			if err := tx.Store(rec.Key, toTDB(rec.Header), rec.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// restoreBatch applies one batch of a client's restore. The first batch
// (PushWipe) quiets and wipes the database everywhere, the last
// (PushLast) lets it go. A volatile record goes to its lmaster, which
// becomes its dmaster; a transactional database gets every record on
// every node. Every record's RSN is bumped, as CTDB's restore does.
func (s *Service) restoreBatch(ctx context.Context, owner proto.Endpoint, d *db, p *proto.PushRecords) error {
	s.mu.Lock()
	rs := s.restores[owner]
	s.mu.Unlock()
	if p.Flags&proto.PushWipe != 0 {
		if rs != nil {
			return statusErr(proto.OpPushRecords, proto.StatusExists, "a restore of %s is already in progress", rs.d.name)
		}
		var err error
		if rs, err = s.startRestore(ctx, d); err != nil {
			return err
		}
		s.mu.Lock()
		s.restores[owner] = rs
		s.mu.Unlock()
	} else if rs == nil || rs.d != d {
		return statusErr(proto.OpPushRecords, proto.StatusInvalid, "no restore of %s in progress", d.name)
	}
	err := s.restoreRecords(ctx, rs, p.Records)
	if err != nil || p.Flags&proto.PushLast != 0 {
		s.endRestore(owner)
	}
	return err
}

func (s *Service) startRestore(ctx context.Context, d *db) (*restore, error) {
	qctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	nodes, release, err := s.quiesce(qctx, d)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", d.name, err)
	}
	wipe := proto.DBControl{DBID: d.id, Generation: d.generation()}
	if err := firstError(s.callAll(qctx, nodes, proto.OpWipeDB, &wipe, func() error { return d.wipe(qctx) })); err != nil {
		release()
		return nil, fmt.Errorf("restore %s: %w", d.name, err)
	}
	return &restore{d: d, nodes: nodes, release: release}, nil
}

func (s *Service) endRestore(owner proto.Endpoint) {
	s.mu.Lock()
	rs := s.restores[owner]
	delete(s.restores, owner)
	s.mu.Unlock()
	if rs != nil {
		rs.release()
	}
}

func (s *Service) restoreRecords(ctx context.Context, rs *restore, recs []proto.Record) error {
	perNode := make(map[uint32][]proto.Record)
	var durable []proto.Record
	v := rs.d.vnnmap()
	for _, rec := range recs {
		rec.Header.RSN++
		rec.Header.Flags &^= proto.RecFlagsRO
		if rs.d.transactional() {
			for _, pnn := range rs.nodes {
				perNode[pnn] = append(perNode[pnn], rec)
			}
			continue
		}
		lm := v.LMaster(rec.Key)
		rec.Header.DMaster = lm
		perNode[lm] = append(perNode[lm], rec)
		if rec.Header.Flags&proto.RecFlagDurable != 0 && rs.d.durable != nil {
			durable = append(durable, rec)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	push := func(pnn uint32, p *proto.PushRecords) error {
		if pnn == s.pnn {
			return rs.d.push(pctx, p)
		}
		return s.call(pctx, pnn, proto.OpPushRecords, p, nil)
	}
	for pnn, batch := range perNode {
		if err := push(pnn, &proto.PushRecords{DBID: rs.d.id, Generation: v.Generation, Records: batch}); err != nil {
			return fmt.Errorf("restore %s on node %d: %w", rs.d.name, pnn, err)
		}
	}
	if len(durable) > 0 {
		for _, pnn := range rs.nodes {
			if err := push(pnn, &proto.PushRecords{DBID: rs.d.id, Generation: v.Generation, Flags: proto.PushDurable, Records: durable}); err != nil {
				return fmt.Errorf("restore %s on node %d: %w", rs.d.name, pnn, err)
			}
		}
	}
	return nil
}

// storeDurable stores a record of a per-record-persistent database here
// and in the durable store of every active node, returning once every
// one has it on disk. The caller holds the key lock.
func (s *Service) storeDurable(ctx context.Context, d *db, rec proto.Record) error {
	mu := d.stripe(rec.Key)
	mu.Lock()
	err := d.write(rec.Key, rec.Header, rec.Data)
	mu.Unlock()
	if err != nil {
		return err
	}
	p := proto.PushRecords{DBID: d.id, Generation: d.generation(), Flags: proto.PushDurable, Records: []proto.Record{rec}}
	cctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	for _, r := range s.callAll(cctx, s.activeNodes(), proto.OpPushRecords, &p, func() error { return d.push(cctx, &p) }) {
		if r.err != nil && (r.pnn == s.pnn || !gone(r.err)) {
			return fmt.Errorf("make record durable on node %d: %w", r.pnn, r.err)
		}
	}
	return nil
}

// loadDurable puts the records of the durable store into the (wiped)
// volatile store at attach, so a node that restarts has them back.
func (d *db) loadDurable(ctx context.Context) error {
	return d.durable.Records(ctx, 0, func(recs []tdb.Record) error {
		return d.store.Import(ctx, recs)
	})
}
