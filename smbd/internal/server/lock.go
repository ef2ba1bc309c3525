package server

import (
	"context"
	"errors"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/wire"
)

const (
	lockShared    = wire.LockShared
	lockExclusive = wire.LockExclusive
	lockUnlock    = wire.LockUnlock
	lockFailNow   = wire.LockFailImmediately
)

// handleLock implements LOCK ([MS-SMB2] §3.3.5.14) with Samba's checks.
func (c *conn) handleLock(r *request) wire.Status {
	req, err := wire.ParseLock(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if len(req.Locks) == 0 {
		return wire.StatusInvalidParameter
	}
	if o.pipe != nil {
		return wire.StatusNotSupported
	}
	blocking := false
	unlock := false
	switch req.Locks[0].Flags {
	case lockShared, lockExclusive:
		if len(req.Locks) > 1 {
			return wire.StatusInvalidParameter
		}
		blocking = true
	case lockShared | lockFailNow, lockExclusive | lockFailNow:
	case lockUnlock:
		unlock = true
	default:
		return wire.StatusInvalidParameter
	}
	invalid := make([]bool, len(req.Locks))
	for i, l := range req.Locks {
		switch l.Flags {
		case lockShared, lockExclusive:
			if unlock {
				invalid[i] = true
			} else if i > 0 {
				return wire.StatusInvalidParameter
			}
		case lockShared | lockFailNow, lockExclusive | lockFailNow:
			if unlock {
				invalid[i] = true
			}
		case lockUnlock:
			if !unlock {
				return wire.StatusInvalidParameter
			}
		default:
			if !unlock {
				return wire.StatusInvalidParameter
			}
			invalid[i] = true
		}
	}
	if unlock {
		st := wire.StatusOK
		err := c.srv.cfg.Store.ModifyLocks(r.ctx, o.key, func(ls *state.Locks) error {
			for i, l := range req.Locks {
				if invalid[i] {
					st = wire.StatusInvalidParameter
					return nil
				}
				if err := ls.Unlock(o.ref, l.Offset, l.Length); err != nil {
					st = wire.StatusRangeNotLocked
					return nil
				}
			}
			return nil
		})
		if err != nil {
			return statusOf(err)
		}
		if st == wire.StatusOK {
			r.out = wire.AppendSimpleBody(r.out)
		}
		return st
	}
	for _, l := range req.Locks {
		if l.Length != 0 && l.Offset+l.Length-1 < l.Offset {
			return wire.StatusInvalidLockRange
		}
	}
	locks := make([]state.Lock, len(req.Locks))
	for i, l := range req.Locks {
		locks[i] = state.Lock{Open: o.ref, Offset: l.Offset, Length: l.Length, Exclusive: l.Flags&lockExclusive != 0}
	}
	o.mu.Lock()
	o.hasLocks = true
	o.mu.Unlock()
	var others []state.Process // other processes' locks in the way
	grant := func(ls *state.Locks) error {
		for i := range locks {
			if !ls.CanLock(&locks[i]) {
				others = ls.Owners(c.srv.self)
				return state.ErrLockConflict
			}
			// Later elements see the earlier ones: all or nothing, since
			// an error leaves the record unchanged.
			ls.Locks = append(ls.Locks, locks[i])
		}
		return nil
	}
	if !blocking {
		err := c.srv.cfg.Store.ModifyLocks(r.ctx, o.key, grant)
		if errors.Is(err, state.ErrLockConflict) && c.srv.dropGoneOwners(r.ctx, o.key, others) {
			err = c.srv.cfg.Store.ModifyLocks(r.ctx, o.key, grant)
		}
		if err != nil {
			if errors.Is(err, state.ErrLockConflict) {
				return wire.StatusLockNotGranted
			}
			return statusOf(err)
		}
		r.out = wire.AppendSimpleBody(r.out)
		return wire.StatusOK
	}
	changed, cancelWatch, err := c.srv.cfg.Store.ModifyLocksOrWatch(r.ctx, o.key, grant)
	switch {
	case err == nil:
		r.out = wire.AppendSimpleBody(r.out)
		return wire.StatusOK
	case !errors.Is(err, state.ErrLockConflict):
		return statusOf(err)
	}
	if !r.last {
		cancelWatch()
		return wire.StatusInternalError
	}
	// Locks of a process that is gone are never unlocked: dropping them
	// is the change the watch waits for.
	c.srv.dropGoneOwners(r.ctx, o.key, others)
	store := c.srv.cfg.Store
	return r.goAsync(o, func(ctx context.Context, cancelled <-chan wire.Status) (wire.Status, []byte) {
		for {
			select {
			case st := <-cancelled:
				cancelWatch()
				if st == wire.StatusRangeNotLocked {
					// The open, its tree or session is going away. When
					// that released the conflicting lock first (a tree
					// disconnect closes opens in order), Windows grants
					// the lock rather than failing it.
					if err := store.ModifyLocks(ctx, o.key, grant); err == nil {
						return wire.StatusOK, wire.AppendSimpleBody(nil)
					}
				}
				return st, nil
			case <-ctx.Done():
				cancelWatch()
				return wire.StatusCancelled, nil
			case <-changed:
				cancelWatch()
			}
			changed, cancelWatch, err = store.ModifyLocksOrWatch(ctx, o.key, grant)
			switch {
			case err == nil:
				return wire.StatusOK, wire.AppendSimpleBody(nil)
			case !errors.Is(err, state.ErrLockConflict):
				return statusOf(err), nil
			}
			c.srv.dropGoneOwners(ctx, o.key, others)
		}
	}, wire.StatusRangeNotLocked)
}
