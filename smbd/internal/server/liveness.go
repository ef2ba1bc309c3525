package server

import (
	"context"
	"sync"
	"time"

	"gctdb/smbd/internal/state"
)

// aliveFor is how long a process found alive is believed alive without
// asking again (so a client retrying an open that a live process's entry
// refuses costs at most a few questions a second); a process found gone
// stays gone (ids are never reused).
const aliveFor = 500 * time.Millisecond

// liveness caches what the bus said about other smbd processes.
type liveness struct {
	mu    sync.Mutex
	gone  map[state.Process]bool
	alive map[state.Process]time.Time
}

// goneAmong returns the processes of ps that ended (crashed, or their node
// died) without closing their opens. It is only asked when their entries
// are in the way, never while a record lock is held.
func (srv *Server) goneAmong(ctx context.Context, ps []state.Process) map[state.Process]bool {
	var out map[state.Process]bool
	for _, p := range ps {
		srv.live.mu.Lock()
		gone := srv.live.gone[p]
		fresh := time.Since(srv.live.alive[p]) < aliveFor
		srv.live.mu.Unlock()
		if !gone && !fresh {
			alive := srv.cfg.Store.Bus.Alive(ctx, p)
			srv.live.mu.Lock()
			if alive {
				srv.live.alive[p] = time.Now()
			} else {
				delete(srv.live.alive, p)
				srv.live.gone[p] = true
				gone = true
			}
			srv.live.mu.Unlock()
		}
		if gone {
			if out == nil {
				out = map[state.Process]bool{}
			}
			out[p] = true
		}
	}
	return out
}

// dropGoneOwners removes from key's records the opens and locks of the
// processes among owners that are gone, and reports whether there were
// any.
func (srv *Server) dropGoneOwners(ctx context.Context, key state.FileKey, owners []state.Process) bool {
	gone := srv.goneAmong(ctx, owners)
	if len(gone) == 0 {
		return false
	}
	srv.log.Info("dropping the opens of smbd processes that are gone", "file", key, "processes", len(gone))
	levelII := 0
	if err := srv.cfg.Store.ModifyShareModes(ctx, key, func(m *state.ShareModes) error {
		levelII = m.DropProcesses(gone)
		return nil
	}); err != nil {
		srv.log.Warn("drop stale share-mode entries", "err", err)
	}
	if err := srv.cfg.Store.ModifyLocks(ctx, key, func(l *state.Locks) error {
		l.DropProcesses(gone, levelII)
		return nil
	}); err != nil {
		srv.log.Warn("drop stale byte-range locks", "err", err)
	}
	return true
}
