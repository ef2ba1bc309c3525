package database

import (
	"context"
	"fmt"
	"time"

	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// lockKey names a client's record lock: the client and the token it
// chose.
type lockKey struct {
	owner proto.Endpoint
	token uint64
}

// clientLock is a fetch-lock of a client, waiting or granted.
type clientLock struct {
	key []byte
	// cancel stops a waiting fetch-lock; nil once granted.
	cancel context.CancelFunc
	// lock and hdr are set when the lock is granted: the held key lock
	// and the record header at that moment, which nobody else changes
	// while it is held.
	lock *tdb.Lock
	hdr  proto.RecordHeader
}

// register records a new client lock; a token in use is StatusExists.
func (d *db) register(k lockKey, cl *clientLock) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.locks[k]; dup {
		return false
	}
	d.locks[k] = cl
	return true
}

// grant hands a held key lock to a registered client lock; it reports
// false (and releases the key lock) when the client gave up meanwhile.
func (d *db) grant(k lockKey, cl *clientLock, l *tdb.Lock, h proto.RecordHeader) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.locks[k] != cl {
		l.Unlock()
		return false
	}
	cl.lock, cl.hdr, cl.cancel = l, h, nil
	return true
}

// take removes a client lock from the registry.
func (d *db) take(k lockKey) *clientLock {
	d.mu.Lock()
	defer d.mu.Unlock()
	cl := d.locks[k]
	delete(d.locks, k)
	return cl
}

// releaseOwner releases or cancels every lock of a departed client.
func (d *db) releaseOwner(owner proto.Endpoint) {
	d.mu.Lock()
	var gone []*clientLock
	for k, cl := range d.locks {
		if k.owner == owner {
			gone = append(gone, cl)
			delete(d.locks, k)
		}
	}
	d.mu.Unlock()
	for _, cl := range gone {
		cl.release()
	}
}

// release unlocks a granted lock or stops a waiting one.
func (cl *clientLock) release() {
	if cl.lock != nil {
		cl.lock.Unlock()
	} else if cl.cancel != nil {
		cl.cancel()
	}
}

// timeoutCtx bounds ctx by a client's timeout in milliseconds (0: none).
func timeoutCtx(ctx context.Context, ms uint32) (context.Context, context.CancelFunc) {
	if ms == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
}

// handleFetchLock locks a record for a client. When the key is free and
// this node is its dmaster without read-only delegations, the answer is
// given at once; otherwise a goroutine waits for the key, migrates the
// record here and revokes delegations as needed.
func (s *Service) handleFetchLock(ctx context.Context, r request) {
	var req proto.FetchLock
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	noMigrate := req.Flags&proto.LockNoMigrate != 0
	if d.transactional() && !noMigrate {
		r.status(proto.StatusInvalid, fmt.Sprintf("database %s is %s: use a transaction", d.name, proto.DBTypeName(d.flags.Load())))
		return
	}
	k := lockKey{owner: r.m.Src, token: req.Token}
	cl := &clientLock{key: req.Key}
	lctx, cancel := timeoutCtx(ctx, req.Timeout)
	cl.cancel = cancel
	if !d.register(k, cl) {
		cancel()
		r.status(proto.StatusExists, fmt.Sprintf("lock token %d is in use", req.Token))
		return
	}
	if l, ok := d.store.TryLock(req.Key); ok {
		rec, _, err := d.read(req.Key)
		if err == nil && (noMigrate || s.writable(rec)) {
			cancel()
			if d.grant(k, cl, l, rec.Header) {
				r.reply(&rec)
			}
			return
		}
		s.spawn(func() { s.fetchLockSlow(lctx, cancel, d, k, cl, r, l, noMigrate) })
		return
	}
	s.spawn(func() { s.fetchLockSlow(lctx, cancel, d, k, cl, r, nil, noMigrate) })
}

// writable reports whether a local client may write rec as it is: this
// node is its dmaster and no read-only copy is out.
func (s *Service) writable(rec proto.Record) bool {
	return rec.Header.DMaster == s.pnn && rec.Header.Flags&proto.RecFlagROHaveDelegations == 0
}

// fetchLockSlow is the waiting part of a fetch-lock.
func (s *Service) fetchLockSlow(ctx context.Context, cancel context.CancelFunc, d *db, k lockKey, cl *clientLock, r request, l *tdb.Lock, noMigrate bool) {
	defer cancel()
	l, rec, err := s.acquire(ctx, d, cl.key, l, noMigrate)
	if err != nil {
		d.take(k)
		r.fail(err)
		return
	}
	if d.grant(k, cl, l, rec.Header) {
		r.reply(&rec)
	}
}

// acquire takes the key lock (or keeps l, already held) and, unless
// noMigrate, makes this node the record's dmaster with no read-only copy
// out: it migrates the record here and revokes delegations while holding
// the lock. It returns the held lock and the record.
func (s *Service) acquire(ctx context.Context, d *db, key []byte, l *tdb.Lock, noMigrate bool) (*tdb.Lock, proto.Record, error) {
	release := func() {
		if l != nil {
			l.Unlock()
			l = nil
		}
	}
	for backoff := time.Millisecond; ; {
		if l == nil {
			var err error
			if l, err = d.store.Lock(ctx, key); err != nil {
				return nil, proto.Record{}, err
			}
		}
		rec, _, err := d.read(key)
		if err != nil {
			release()
			return nil, proto.Record{}, err
		}
		switch {
		case noMigrate || s.writable(rec):
			return l, rec, nil
		case rec.Header.DMaster == s.pnn:
			err = s.revoke(ctx, d, key)
		default:
			_, err = s.migrate(ctx, d, key, false)
		}
		if proto.StatusOf(err) == proto.StatusBusy {
			// A frozen database or a new vnnmap: let go of the key so
			// that a freeze can complete, and try again.
			release()
			if err := sleep(ctx, backoff); err != nil {
				return nil, proto.Record{}, err
			}
			backoff = min(2*backoff, 100*time.Millisecond)
			continue
		}
		if err != nil {
			release()
			return nil, proto.Record{}, err
		}
	}
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// handleUnlock ends a client's fetch-lock: it stores or deletes the
// record if asked, then releases the key. A fetch-lock still waiting is
// cancelled. Unlock is one-way unless the client asks for an answer,
// which a durable store does.
func (s *Service) handleUnlock(ctx context.Context, r request) {
	var req proto.Unlock
	if !r.decode(&req) {
		return
	}
	d := s.lookup(req.DBID)
	if d == nil {
		r.status(proto.StatusNotFound, fmt.Sprintf("no database with id 0x%08x", req.DBID))
		return
	}
	cl := d.take(lockKey{owner: r.m.Src, token: req.Token})
	if cl == nil {
		s.log.Debug("unlock of an unknown lock", "db", d.name, "token", req.Token, "from", r.m.Src.String())
		r.status(proto.StatusNotFound, fmt.Sprintf("no lock with token %d", req.Token))
		return
	}
	if cl.lock == nil {
		cl.release()
		r.reply(nil)
		return
	}
	if req.Op == proto.UnlockOnly {
		cl.lock.Unlock()
		r.reply(nil)
		return
	}
	if cl.hdr.DMaster != s.pnn {
		cl.lock.Unlock()
		r.status(proto.StatusInvalid, "the record was locked without migrating it here and cannot be written")
		return
	}
	h := proto.RecordHeader{RSN: cl.hdr.RSN + 1, DMaster: s.pnn, Flags: cl.hdr.Flags &^ (proto.RecFlagDeleted | proto.RecFlagDurable)}
	data := req.Data
	if req.Op == proto.UnlockDelete {
		h.Flags |= proto.RecFlagDeleted
		data = nil
	}
	if d.durable != nil && (req.Flags&proto.RecFlagDurable != 0 || cl.hdr.Flags&proto.RecFlagDurable != 0) {
		if req.Op == proto.UnlockStore && req.Flags&proto.RecFlagDurable != 0 {
			h.Flags |= proto.RecFlagDurable
		}
		s.spawn(func() {
			defer cl.lock.Unlock()
			if err := s.storeDurable(ctx, d, proto.Record{Key: cl.key, Header: h, Data: data}); err != nil {
				r.fail(err)
				return
			}
			r.reply(nil)
		})
		return
	}
	err := d.write(cl.key, h, data)
	if err == nil && req.Op == proto.UnlockDelete {
		d.deleted(cl.key, h.RSN)
	}
	cl.lock.Unlock()
	if err != nil {
		d.log.Error("store failed", "key", fmt.Sprintf("%x", cl.key), "err", err)
		r.fail(err)
		return
	}
	r.reply(nil)
}

// handleFetch reads a record without keeping a lock: the local copy as it
// is, or a read-only copy (see readonly.go).
func (s *Service) handleFetch(ctx context.Context, r request) {
	var req proto.Fetch
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if req.Flags&proto.FetchLocalCopy != 0 || d.transactional() {
		rec, found, err := d.read(req.Key)
		switch {
		case err != nil:
			r.fail(err)
		case !found:
			r.status(proto.FetchNoCopy, "no local copy")
		default:
			r.reply(&rec)
		}
		return
	}
	s.fetchReadonly(ctx, d, r, req)
}

// handleUpdateRecord stores a record with the header it carries when its
// RSN is higher than the local copy's (CTDB's UPDATE_RECORD).
func (s *Service) handleUpdateRecord(_ context.Context, r request) {
	var req proto.UpdateRecord
	if !r.decode(&req) {
		return
	}
	d := s.lookupOrFail(r, req.DBID)
	if d == nil {
		return
	}
	if d.isFrozen() {
		r.status(proto.StatusBusy, fmt.Sprintf("database %s is frozen", d.name))
		return
	}
	mu := d.stripe(req.Record.Key)
	mu.Lock()
	defer mu.Unlock()
	cur, found, err := d.read(req.Record.Key)
	if err != nil {
		r.fail(err)
		return
	}
	if found && cur.Header.RSN >= req.Record.Header.RSN {
		r.status(proto.StatusConflict, fmt.Sprintf("stored RSN %d is not lower than %d", cur.Header.RSN, req.Record.Header.RSN))
		return
	}
	if err := d.write(req.Record.Key, req.Record.Header, req.Record.Data); err != nil {
		r.fail(err)
		return
	}
	r.reply(nil)
}
