package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gctdb/ctdbd/internal/config"
	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// durableSuffix names the durable store of a per-record-persistent
// database, next to the persistent databases.
const durableSuffix = ".durable"

// lookup returns an attached database.
func (s *Service) lookup(id uint32) *db {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dbs[id]
}

// lookupOrFail returns an attached database or answers StatusNotFound.
func (s *Service) lookupOrFail(r request, id uint32) *db {
	d := s.lookup(id)
	if d == nil {
		r.status(proto.StatusNotFound, fmt.Sprintf("no database with id 0x%08x", id))
	}
	return d
}

func (s *Service) allDBs() []*db {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*db, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.dbs[id])
	}
	return out
}

func validDBName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("invalid database name %q", name)
	case len(name) > proto.MaxDBName:
		return fmt.Errorf("database name of %d bytes is too long", len(name))
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("database name %q contains '/' or NUL", name)
	}
	return nil
}

// attachLocal attaches a database on this node, or returns the attached
// one when name and type match.
func (s *Service) attachLocal(name string, flags uint32) (*db, error) {
	if err := validDBName(name); err != nil {
		return nil, statusErr(proto.OpDBAttach, proto.StatusInvalid, "%v", err)
	}
	typ := flags & proto.DBTypeFlags
	if typ&(typ-1) != 0 {
		return nil, statusErr(proto.OpDBAttach, proto.StatusInvalid, "database %s: more than one type in flags 0x%x", name, flags)
	}
	id := proto.DBID(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, statusErr(proto.OpDBAttach, proto.StatusShutdown, "shutting down")
	}
	if d := s.dbs[id]; d != nil {
		if d.name != name {
			return nil, statusErr(proto.OpDBAttach, proto.StatusConflict, "database id 0x%08x of %s collides with %s", id, name, d.name)
		}
		if have := d.flags.Load() & proto.DBTypeFlags; have != typ {
			return nil, statusErr(proto.OpDBAttach, proto.StatusConflict, "database %s is attached as %s, not %s",
				name, proto.DBTypeName(have), proto.DBTypeName(typ))
		}
		return d, nil
	}
	d, err := s.open(id, name, typ)
	if err != nil {
		return nil, statusErr(proto.OpDBAttach, proto.StatusFailed, "attach %s: %v", name, err)
	}
	s.dbs[id] = d
	s.order = append(s.order, id)
	s.log.Info("database attached", "db", name, "dbid", fmt.Sprintf("0x%08x", id), "type", proto.DBTypeName(typ), "path", d.path)
	return d, nil
}

// open opens a database's stores: volatile and replicated ones wiped and
// without fsync, persistent ones fsynced and kept, and for a
// per-record-persistent one a kept, fsynced durable store besides its
// volatile one.
func (s *Service) open(id uint32, name string, typ uint32) (*db, error) {
	file := name + "." + strconv.FormatUint(uint64(s.pnn), 10)
	dir := s.dirs.volatile
	opts := tdb.Options{Wipe: true, Logger: s.log, FlushInterval: s.opts.FlushInterval}
	if typ == proto.DBFlagPersistent {
		dir, opts = s.dirs.persistent, tdb.Options{Persistent: true, Logger: s.log}
	}
	path := filepath.Join(dir, file)
	store, err := tdb.Open(path, opts)
	if err != nil {
		return nil, err
	}
	d := newDB(id, name, path, typ, store, s.vnnmap(), s.log)
	if typ == proto.DBFlagPerRecordPersistent {
		durable, err := tdb.Open(filepath.Join(s.dirs.persistent, file+durableSuffix), tdb.Options{Persistent: true, Logger: s.log})
		if err != nil {
			store.Close()
			return nil, err
		}
		d.durable = durable
		if err := d.loadDurable(s.ctx); err != nil {
			d.close()
			return nil, err
		}
	}
	return d, nil
}

// attachFromDisk attaches the persistent and per-record-persistent
// databases this node kept, as CTDB attaches its persistent databases at
// start-up.
func (s *Service) attachFromDisk() error {
	entries, err := os.ReadDir(s.dirs.persistent)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	suffix := "." + strconv.FormatUint(uint64(s.pnn), 10)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name, flags := e.Name(), proto.DBFlagPersistent
		if base, ok := strings.CutSuffix(name, durableSuffix); ok {
			name, flags = base, proto.DBFlagPerRecordPersistent
		}
		name, ok := strings.CutSuffix(name, suffix)
		if !ok || validDBName(name) != nil {
			continue
		}
		if _, err := s.attachLocal(name, flags); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	}
	return nil
}

func (s *Service) handleAttach(ctx context.Context, r request) {
	var req proto.DBAttach
	if !r.decode(&req) {
		return
	}
	if r.fromClient() && s.tunable(func(t *config.Tunables) uint32 { return t.AllowClientDBAttach }) == 0 {
		r.status(proto.StatusPermission, "clients may not attach databases (AllowClientDBAttach=0)")
		return
	}
	d, err := s.attachLocal(req.Name, req.Flags)
	if err != nil {
		r.fail(err)
		return
	}
	if !r.fromClient() {
		r.reply(&proto.DBInfo{DBID: d.id, Name: d.name, Path: d.path, Flags: d.flags.Load()})
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		if err := firstError(s.callAll(ctx, s.connectedPeers(), proto.OpDBAttach, &req, nil)); err != nil {
			r.fail(fmt.Errorf("attach %s: %w", req.Name, err))
			return
		}
		info := d.info()
		r.reply(&info)
	})
}

func (s *Service) handleDetach(ctx context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	if d := s.lookup(req.DBID); d != nil && d.transactional() {
		r.status(proto.StatusInvalid, "Only volatile databases can be detached")
		return
	}
	if !r.fromClient() {
		if err := s.detachLocal(req.DBID); err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		pnns := append([]uint32{s.pnn}, s.connectedPeers()...)
		res := s.callAll(ctx, pnns, proto.OpDBDetach, &req, func() error { return s.detachLocal(req.DBID) })
		if err := firstError(res); err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	})
}

// detachLocal closes a volatile database and removes its file. A database
// that is in use (locked records, traverses) is not detached.
func (s *Service) detachLocal(id uint32) error {
	s.mu.Lock()
	d := s.dbs[id]
	if d == nil {
		s.mu.Unlock()
		return nil
	}
	if d.transactional() {
		s.mu.Unlock()
		return statusErr(proto.OpDBDetach, proto.StatusInvalid, "Only volatile databases can be detached")
	}
	if d.busy() {
		s.mu.Unlock()
		return statusErr(proto.OpDBDetach, proto.StatusBusy, "database %s is in use", d.name)
	}
	delete(s.dbs, id)
	s.order = slices.DeleteFunc(s.order, func(x uint32) bool { return x == id })
	s.mu.Unlock()
	err := d.close()
	if rerr := os.Remove(d.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	s.log.Info("database detached", "db", d.name)
	return err
}

// busy reports whether clients use the database now.
func (d *db) busy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.locks) > 0 || len(d.sessions) > 0 || len(d.coord) > 0
}

func (s *Service) handleGetDBMap(_ context.Context, r request) {
	dbs := s.allDBs()
	m := &proto.DBMap{DBs: make([]proto.DBInfo, 0, len(dbs))}
	for i := len(dbs) - 1; i >= 0; i-- {
		m.DBs = append(m.DBs, dbs[i].info())
	}
	r.reply(m)
}

func (s *Service) handleGetDBInfo(_ context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	if d := s.lookupOrFail(r, req.DBID); d != nil {
		info := d.info()
		r.reply(&info)
	}
}

func (s *Service) handleGetSeqnum(_ context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	var seq uint64
	if d.transactional() {
		var err error
		if seq, err = d.seqnum(); err != nil {
			r.fail(err)
			return
		}
	}
	r.reply(&proto.U64{V: seq})
}

func (s *Service) handleSetFlags(ctx context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if req.Flags&^(proto.DBFlagReadonly|proto.DBFlagSticky) != 0 || req.Flags == 0 {
		r.status(proto.StatusInvalid, fmt.Sprintf("flags 0x%x cannot be set", req.Flags))
		return
	}
	if d.flags.Load()&proto.DBTypeFlags&^proto.DBFlagPerRecordPersistent != 0 {
		name := "READONLY"
		if req.Flags&proto.DBFlagSticky != 0 {
			name = "STICKY"
		}
		r.status(proto.StatusInvalid, name+" can be set only on volatile DB")
		return
	}
	set := func() error {
		d.flags.Or(req.Flags)
		s.log.Info("database flags set", "db", d.name, "flags", fmt.Sprintf("0x%x", d.flags.Load()))
		return nil
	}
	if !r.fromClient() {
		set()
		r.reply(nil)
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		pnns := append([]uint32{s.pnn}, s.connectedPeers()...)
		if err := firstError(s.callAll(ctx, pnns, proto.OpSetDBFlags, &req, set)); err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	})
}

// handleWipe empties a database on every active node: a volatile one is
// frozen everywhere first, so no record moves from a node not yet wiped
// to one already wiped; a transactional one is wiped under its
// transaction lock.
func (s *Service) handleWipe(ctx context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if !r.fromClient() {
		s.spawn(func() {
			if err := d.wipe(ctx); err != nil {
				r.fail(err)
				return
			}
			r.reply(nil)
		})
		return
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
		defer cancel()
		err := s.clusterOp(ctx, d, func(nodes []uint32) error {
			req := proto.DBControl{DBID: d.id, Generation: d.generation()}
			return firstError(s.callAll(ctx, nodes, proto.OpWipeDB, &req, func() error { return d.wipe(ctx) }))
		})
		if err != nil {
			r.fail(fmt.Errorf("wipe %s: %w", d.name, err))
			return
		}
		s.log.Info("database wiped", "db", d.name)
		r.reply(nil)
	})
}

// wipe deletes every record of the local copy.
func (d *db) wipe(ctx context.Context) error {
	if err := d.store.Wipe(ctx); err != nil {
		return err
	}
	if d.durable != nil {
		return d.durable.Wipe(ctx)
	}
	return nil
}

// clusterOp runs fn with the database quiet on every active node.
func (s *Service) clusterOp(ctx context.Context, d *db, fn func(nodes []uint32) error) error {
	nodes, release, err := s.quiesce(ctx, d)
	if err != nil {
		return err
	}
	defer release()
	return fn(nodes)
}

// quiesce makes a database quiet on every active node until release is
// called: a transactional one by taking its transaction lock, a volatile
// one by freezing it on every node.
func (s *Service) quiesce(ctx context.Context, d *db) (nodes []uint32, release func(), err error) {
	nodes = s.activeNodes()
	if d.transactional() {
		release, err := s.txLockInternal(ctx, d)
		return nodes, release, err
	}
	gen := d.generation()
	req := proto.DBControl{DBID: d.id, Generation: gen}
	freeze := s.callAll(ctx, nodes, proto.OpDBFreeze, &req, func() error { return d.freeze(ctx, s.pnn, gen) })
	var frozen []uint32
	for _, r := range freeze {
		if r.err == nil {
			frozen = append(frozen, r.pnn)
		}
	}
	release = func() {
		tctx, cancel := context.WithTimeout(s.ctx, s.controlTimeout())
		defer cancel()
		for _, r := range s.callAll(tctx, frozen, proto.OpDBThaw, &req, func() error { return d.thaw(s.pnn, gen) }) {
			if r.err != nil {
				s.log.Warn("thaw failed", "db", d.name, "pnn", r.pnn, "err", r.err)
			}
		}
	}
	if err := firstError(freeze); err != nil {
		release()
		return nil, nil, err
	}
	return nodes, release, nil
}

func (s *Service) handleFreeze(ctx context.Context, r request) {
	var req proto.DBControl
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
		if err := d.freeze(ctx, r.m.Src.PNN, req.Generation); err != nil {
			r.fail(err)
			return
		}
		r.reply(nil)
	})
}

func (s *Service) handleThaw(_ context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if err := d.thaw(r.m.Src.PNN, req.Generation); err != nil {
		r.fail(err)
		return
	}
	r.reply(nil)
}

// freeze stops the database's record traffic on this node: migrations
// are refused (their senders retry) and key locks are no longer granted;
// it returns once every held key lock has been released.
func (d *db) freeze(ctx context.Context, by, gen uint32) error {
	d.mu.Lock()
	if d.frozen {
		d.mu.Unlock()
		return statusErr(proto.OpDBFreeze, proto.StatusBusy, "database %s is already frozen by node %d", d.name, d.frozenBy)
	}
	if d.rec != nil {
		d.mu.Unlock()
		return statusErr(proto.OpDBFreeze, proto.StatusBusy, "database %s is being recovered", d.name)
	}
	d.frozen, d.frozenBy, d.frozenGen = true, by, gen
	d.mu.Unlock()
	if err := d.store.Freeze(ctx); err != nil {
		d.mu.Lock()
		d.frozen = false
		d.mu.Unlock()
		return fmt.Errorf("freeze %s: %w", d.name, err)
	}
	return nil
}

// thaw undoes freeze; only the node that froze the database, in the same
// generation, may thaw it.
func (d *db) thaw(by, gen uint32) error {
	d.mu.Lock()
	if !d.frozen || d.frozenBy != by || d.frozenGen != gen {
		d.mu.Unlock()
		return statusErr(proto.OpDBThaw, proto.StatusConflict, "database %s is not frozen by node %d in generation %d", d.name, by, gen)
	}
	d.frozen = false
	d.mu.Unlock()
	return d.store.Thaw()
}

func (d *db) isFrozen() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frozen || d.rec != nil
}

// thawFrozenBy thaws the databases a node froze, once it is gone.
func (s *Service) thawFrozenBy(pnn uint32) {
	for _, d := range s.allDBs() {
		d.mu.Lock()
		mine, gen := d.frozen && d.frozenBy == pnn, d.frozenGen
		d.mu.Unlock()
		if mine {
			s.log.Warn("thawing database frozen by a node that went away", "db", d.name, "pnn", pnn)
			if err := d.thaw(pnn, gen); err != nil {
				s.log.Warn("thaw failed", "db", d.name, "err", err)
			}
		}
	}
}

func (s *Service) handleStatistics(ctx context.Context, r request) {
	var req proto.DBControl
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	s.spawn(func() {
		st, err := d.statistics(ctx)
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(st)
	})
}

func (d *db) statistics(ctx context.Context) (*proto.DBStatistics, error) {
	ls := d.store.LockStats()
	st := &proto.DBStatistics{
		RODelegations: d.roDelegations.Load(),
		RORevokes:     d.roRevokes.Load(),
		LockCalls:     ls.Calls,
		LockCurrent:   uint32(ls.Current),
		LockPending:   uint32(ls.Pending),
		LockFailed:    ls.Failed,
		LockLatency: proto.Latency{Name: "locks_latency", Count: uint32(ls.Latency.Count),
			Min: ls.Latency.Min.Seconds(), Max: ls.Latency.Max.Seconds(), Total: ls.Latency.Total.Seconds()},
		MigrationsIn:  d.migrationsIn.Load(),
		MigrationsOut: d.migrationsOt.Load(),
	}
	for i, v := range ls.Buckets {
		st.LockBuckets[i] = uint32(v)
	}
	d.mu.Lock()
	st.HopCounts = d.hopBuckets
	st.HotKeys = d.hot.top(10)
	d.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ss, err := d.store.Stats(sctx)
	if err != nil {
		return nil, err
	}
	st.Records, st.FileSize, st.LiveBytes = uint64(ss.Records), uint64(ss.FileSize), uint64(ss.LiveBytes)
	st.Vacuum = d.vac.snapshot()
	d.vac.mu.Lock()
	st.VacuumLatency = d.vac.latency
	d.vac.mu.Unlock()
	st.VacuumLatency.Name = "vacuum_latency"
	if st.Vacuum.Tombstones, err = tombstones(sctx, d.store); err != nil {
		return nil, err
	}
	if d.durable != nil {
		if st.Vacuum.DurableTombstones, err = tombstones(sctx, d.durable); err != nil {
			return nil, err
		}
	}
	return st, nil
}
