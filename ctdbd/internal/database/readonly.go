package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gctdb/transportd/proto"
)

// fetchReadonly answers a read-only fetch. The local copy serves it when
// this node is the dmaster or holds a read-only copy; otherwise, in a
// database with read-only records enabled, a read-only copy is fetched
// through the lmaster, and in any other database the read is upgraded to
// a fetch-lock released at once, as CTDB does.
func (s *Service) fetchReadonly(ctx context.Context, d *db, r request, req proto.Fetch) {
	rec, found, err := d.read(req.Key)
	if err != nil {
		r.fail(err)
		return
	}
	if found && (rec.Header.DMaster == s.pnn || d.readonlyEnabled() && rec.Header.Flags&proto.RecFlagROHaveReadonly != 0) {
		r.reply(&rec)
		return
	}
	s.spawn(func() {
		ctx, cancel := timeoutCtx(ctx, req.Timeout)
		defer cancel()
		var rec proto.Record
		var err error
		if d.readonlyEnabled() {
			rec, err = s.readonlyCopy(ctx, d, req.Key)
		} else {
			rec, err = s.fetchOnce(ctx, d, req.Key)
		}
		if err != nil {
			r.fail(err)
			return
		}
		r.reply(&rec)
	})
}

// readonlyCopy gets a read-only copy through the lmaster, again if a
// revocation overtook it.
func (s *Service) readonlyCopy(ctx context.Context, d *db, key []byte) (proto.Record, error) {
	for backoff := time.Millisecond; ; {
		rec, err := s.migrate(ctx, d, key, true)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, errRevoked) && proto.StatusOf(err) != proto.StatusBusy {
			return proto.Record{}, err
		}
		if err := sleep(ctx, backoff); err != nil {
			return proto.Record{}, err
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// fetchOnce migrates the record here under its key lock and reads it.
func (s *Service) fetchOnce(ctx context.Context, d *db, key []byte) (proto.Record, error) {
	l, rec, err := s.acquire(ctx, d, key, nil, false)
	if err != nil {
		return proto.Record{}, err
	}
	l.Unlock()
	return rec, nil
}

// revoke drops every read-only copy of a record this node is the dmaster
// of and clears its delegation flag; it waits for every connected node.
// The caller holds the key lock.
func (s *Service) revoke(ctx context.Context, d *db, key []byte) error {
	rctx, cancel := context.WithTimeout(ctx, s.controlTimeout())
	defer cancel()
	req := proto.Revoke{DBID: d.id, Generation: d.generation(), Key: key}
	for _, res := range s.callAll(rctx, s.connectedPeers(), proto.OpRevoke, &req, nil) {
		if res.err != nil && !gone(res.err) {
			return fmt.Errorf("revoke read-only copy on node %d: %w", res.pnn, res.err)
		}
	}
	mu := d.stripe(key)
	mu.Lock()
	defer mu.Unlock()
	rec, found, err := d.read(key)
	if err != nil || !found || rec.Header.DMaster != s.pnn {
		return err
	}
	d.roRevokes.Add(1)
	rec.Header.Flags &^= proto.RecFlagsRO
	return d.write(key, rec.Header, rec.Data)
}

// handleRevoke drops this node's read-only copy of a record and marks
// read-only requests for it still on their way, so their copies are not
// stored when they arrive.
func (s *Service) handleRevoke(_ context.Context, r request) {
	var req proto.Revoke
	if !r.decode(&req) {
		return
	}
	d := s.lookup(req.DBID)
	if d == nil {
		r.reply(nil)
		return
	}
	mu := d.stripe(req.Key)
	mu.Lock()
	defer mu.Unlock()
	d.mu.Lock()
	for _, w := range d.roWait[string(req.Key)] {
		w.revoked = true
	}
	d.mu.Unlock()
	rec, found, err := d.read(req.Key)
	if err != nil {
		r.fail(err)
		return
	}
	if found && rec.Header.DMaster != s.pnn && rec.Header.Flags&proto.RecFlagROHaveReadonly != 0 {
		rec.Header.Flags &^= proto.RecFlagsRO
		if err := d.write(req.Key, rec.Header, rec.Data); err != nil {
			r.fail(err)
			return
		}
	}
	r.reply(nil)
}
