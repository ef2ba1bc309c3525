package tdb

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const lockShards = 32

// lockBucketBounds are the upper bounds of CTDB's lock latency buckets
// (ctdb statistics "lock_buckets"); waits of 64 s or more fall in the
// bucket after the last bound.
var lockBucketBounds = [...]time.Duration{
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
	16 * time.Second, 32 * time.Second, 64 * time.Second,
}

// LockBuckets is the number of lock latency buckets, as in CTDB.
const LockBuckets = 16

// Latency summarizes a set of durations.
type Latency struct {
	Count uint64
	Min   time.Duration
	Max   time.Duration
	Total time.Duration
}

// Avg returns the mean duration, or 0 when Count is 0.
func (l Latency) Avg() time.Duration {
	if l.Count == 0 {
		return 0
	}
	return l.Total / time.Duration(l.Count)
}

func (l *Latency) add(d time.Duration) {
	if l.Count == 0 || d < l.Min {
		l.Min = d
	}
	if d > l.Max {
		l.Max = d
	}
	l.Count++
	l.Total += d
}

func (l *Latency) merge(o Latency) {
	if o.Count == 0 {
		return
	}
	if l.Count == 0 || o.Min < l.Min {
		l.Min = o.Min
	}
	if o.Max > l.Max {
		l.Max = o.Max
	}
	l.Count += o.Count
	l.Total += o.Total
}

// LockStats are the key lock statistics of a database, the numbers ctdb
// statistics shows under "locks".
type LockStats struct {
	Calls   uint64 // Lock and TryLock calls
	Current int    // locks held now
	Pending int    // Lock calls waiting now
	Waits   uint64 // Lock calls that had to wait
	Failed  uint64 // Lock calls that gave up: context ended or database closed
	Busy    uint64 // TryLock calls refused (key locked or database frozen), LockUnlessFrozen calls refused (frozen)
	Frozen  bool   // a Freeze has completed and not been thawed
	// Latency is the wait of the Lock calls that waited and got the lock;
	// Buckets counts them by CTDB's bounds: <1ms <10ms <100ms <1s <2s <4s
	// <8s <16s <32s <64s >=64s.
	Latency Latency
	Buckets [LockBuckets]uint64
}

// lockTable holds the key locks of one database. Key locks are process
// memory only: they order the users of this process (the daemon's clients,
// recovery, vacuuming), as CTDB's chain locks order the users of one node.
type lockTable struct {
	seed   maphash.Seed
	shards [lockShards]lockShard
	held   atomic.Int64

	freezeMu  sync.Mutex
	freezers  int           // Freeze calls in progress or completed, not thawed
	drainedCh chan struct{} // closed when held drops to zero while frozen
	closed    chan struct{}
}

type lockShard struct {
	mu     sync.Mutex
	keys   map[string]*keyState
	frozen bool
	closed bool

	calls, waits, failed, busy uint64
	pending                    int
	latency                    Latency
	buckets                    [LockBuckets]uint64
	_                          [64]byte
}

// keyState is one locked or waited-for key. Waiters form a FIFO queue.
type keyState struct {
	held       bool
	head, tail *waiter
}

type waiter struct {
	next, prev *waiter
	ready      chan struct{} // closed when granted or failed
	done       bool          // granted or failed; guarded by the shard lock
	err        error
	start      time.Time
	// unlessFrozen fails the wait when a freeze starts.
	unlessFrozen bool
}

func (st *keyState) push(w *waiter) {
	w.prev = st.tail
	if st.tail == nil {
		st.head = w
	} else {
		st.tail.next = w
	}
	st.tail = w
}

func (st *keyState) remove(w *waiter) {
	if w.prev == nil {
		st.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		st.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.next, w.prev = nil, nil
}

func newLockTable() *lockTable {
	t := &lockTable{seed: maphash.MakeSeed(), drainedCh: make(chan struct{}), closed: make(chan struct{})}
	for i := range t.shards {
		t.shards[i].keys = make(map[string]*keyState)
	}
	return t
}

func (t *lockTable) shard(key []byte) *lockShard {
	return &t.shards[maphash.Bytes(t.seed, key)&(lockShards-1)]
}

// Lock is a held key lock.
type Lock struct {
	t        *lockTable
	s        *lockShard
	st       *keyState
	key      string
	released atomic.Bool
}

// Key returns the locked key.
func (l *Lock) Key() []byte { return []byte(l.key) }

// Unlock releases the lock and hands it to the longest waiting Lock call,
// if any. Calling it again does nothing.
func (l *Lock) Unlock() {
	if l.released.CompareAndSwap(false, true) {
		l.t.release(l.s, l.key, l.st)
	}
}

// Lock takes the lock on key, waiting behind earlier requests for the same
// key in arrival order. While the database is frozen it waits for Thaw.
// It fails when ctx ends first or the database is closed.
func (db *DB) Lock(ctx context.Context, key []byte) (*Lock, error) {
	l, err := db.locks.lock(ctx, key, false)
	if err != nil {
		return nil, fmt.Errorf("lock %x: %w", key, err)
	}
	return l, nil
}

// LockUnlessFrozen is Lock for a caller that must not wait through a
// freeze: it fails with ErrFrozen when the database is frozen or a Freeze
// starts while it waits. The daemon answering another node uses it, since
// the freeze may wait for a lock held on that node's behalf until the
// answer arrives.
func (db *DB) LockUnlessFrozen(ctx context.Context, key []byte) (*Lock, error) {
	l, err := db.locks.lock(ctx, key, true)
	if err != nil {
		return nil, fmt.Errorf("lock %x: %w", key, err)
	}
	return l, nil
}

// TryLock takes the lock on key if that needs no waiting: the key is not
// locked, nobody waits for it and the database is not frozen.
func (db *DB) TryLock(key []byte) (*Lock, bool) {
	return db.locks.tryLock(key)
}

// Freeze stops granting key locks and waits until every held one has been
// released: then nobody but the caller changes records that are changed
// under locks. When ctx ends first the freeze is undone. Each successful
// Freeze must be matched by a Thaw.
func (db *DB) Freeze(ctx context.Context) error {
	if err := db.locks.freeze(ctx); err != nil {
		return fmt.Errorf("freeze %s: %w", db.path, err)
	}
	return nil
}

// Thaw undoes one successful Freeze; when none is left, waiting Lock calls
// are granted again in arrival order.
func (db *DB) Thaw() error {
	if err := db.locks.thaw(); err != nil {
		return fmt.Errorf("thaw %s: %w", db.path, err)
	}
	return nil
}

// Frozen reports whether a Freeze has completed and not been thawed.
func (db *DB) Frozen() bool { return db.locks.frozen() }

// LockStats returns the key lock statistics.
func (db *DB) LockStats() LockStats { return db.locks.stats() }

func (t *lockTable) lock(ctx context.Context, key []byte, unlessFrozen bool) (*Lock, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := t.shard(key)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.calls++
	if s.frozen && unlessFrozen {
		s.busy++
		s.mu.Unlock()
		return nil, ErrFrozen
	}
	st := s.keys[string(key)]
	if st == nil {
		st = &keyState{}
		s.keys[string(key)] = st
	}
	if !s.frozen && !st.held && st.head == nil {
		st.held = true
		t.held.Add(1)
		s.mu.Unlock()
		return &Lock{t: t, s: s, st: st, key: string(key)}, nil
	}
	w := &waiter{ready: make(chan struct{}), start: time.Now(), unlessFrozen: unlessFrozen}
	st.push(w)
	s.pending++
	s.waits++
	s.mu.Unlock()

	select {
	case <-w.ready:
	case <-ctx.Done():
		s.mu.Lock()
		if !w.done {
			st.remove(w)
			s.pending--
			s.failed++
			s.forget(string(key), st)
			s.mu.Unlock()
			return nil, ctx.Err()
		}
		s.mu.Unlock()
	}
	// Granted or failed; once done, w is no longer touched by others.
	if w.err != nil {
		return nil, w.err
	}
	return &Lock{t: t, s: s, st: st, key: string(key)}, nil
}

func (t *lockTable) tryLock(key []byte) (*Lock, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.calls++
	st := s.keys[string(key)]
	if s.frozen || st != nil && (st.held || st.head != nil) {
		s.busy++
		return nil, false
	}
	if st == nil {
		st = &keyState{}
		s.keys[string(key)] = st
	}
	st.held = true
	t.held.Add(1)
	return &Lock{t: t, s: s, st: st, key: string(key)}, true
}

// forget drops the state of a key nobody holds or waits for.
func (s *lockShard) forget(key string, st *keyState) {
	if !st.held && st.head == nil {
		delete(s.keys, key)
	}
}

// grantNext hands the held lock of st to its first waiter and reports
// whether there was one. The shard must be locked.
func (s *lockShard) grantNext(st *keyState) bool {
	w := st.head
	if w == nil {
		return false
	}
	st.remove(w)
	s.pending--
	d := time.Since(w.start)
	s.latency.add(d)
	s.buckets[lockBucket(d)]++
	w.done = true
	close(w.ready)
	return true
}

// failUnlessFrozen fails the waiters of st that must not wait through a
// freeze. The shard must be locked.
func (s *lockShard) failUnlessFrozen(key string, st *keyState) {
	for w := st.head; w != nil; {
		next := w.next
		if w.unlessFrozen {
			s.fail(st, w, ErrFrozen)
		}
		w = next
	}
	s.forget(key, st)
}

// fail ends w's wait for st with err. The shard must be locked.
func (s *lockShard) fail(st *keyState, w *waiter, err error) {
	st.remove(w)
	s.pending--
	s.failed++
	w.err = err
	w.done = true
	close(w.ready)
}

func lockBucket(d time.Duration) int {
	for i, b := range lockBucketBounds {
		if d < b {
			return i
		}
	}
	return len(lockBucketBounds)
}

func (t *lockTable) release(s *lockShard, key string, st *keyState) {
	s.mu.Lock()
	if !s.frozen && s.grantNext(st) {
		s.mu.Unlock()
		return
	}
	st.held = false
	s.forget(key, st)
	drained := t.held.Add(-1) == 0 && s.frozen
	s.mu.Unlock()
	if drained {
		t.freezeMu.Lock()
		close(t.drainedCh)
		t.drainedCh = make(chan struct{})
		t.freezeMu.Unlock()
	}
}

func (t *lockTable) freeze(ctx context.Context) error {
	t.freezeMu.Lock()
	t.freezers++
	if t.freezers == 1 {
		t.setFrozen(true)
	}
	t.freezeMu.Unlock()
	for {
		t.freezeMu.Lock()
		drained := t.drainedCh
		zero := t.held.Load() == 0
		t.freezeMu.Unlock()
		if zero {
			return nil
		}
		select {
		case <-drained:
		case <-ctx.Done():
			_ = t.thaw()
			return ctx.Err()
		case <-t.closed:
			_ = t.thaw()
			return ErrClosed
		}
	}
}

func (t *lockTable) thaw() error {
	t.freezeMu.Lock()
	defer t.freezeMu.Unlock()
	if t.freezers == 0 {
		return ErrNotFrozen
	}
	t.freezers--
	if t.freezers == 0 {
		t.setFrozen(false)
	}
	return nil
}

// setFrozen sets the frozen state of every shard. Setting it under each
// shard lock makes sure no grant that missed it is still under way when
// freeze starts counting held locks. Thawing grants each waited-for key
// that nobody holds to its first waiter.
func (t *lockTable) setFrozen(frozen bool) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.frozen = frozen
		for key, st := range s.keys {
			switch {
			case frozen:
				s.failUnlessFrozen(key, st)
			case !st.held && s.grantNext(st):
				st.held = true
				t.held.Add(1)
			}
		}
		s.mu.Unlock()
	}
}

func (t *lockTable) frozen() bool {
	t.freezeMu.Lock()
	defer t.freezeMu.Unlock()
	return t.freezers > 0 && t.held.Load() == 0
}

// close fails every waiting Lock call and refuses new ones. Held locks
// stay valid until unlocked.
func (t *lockTable) close() {
	close(t.closed)
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.closed = true
		for key, st := range s.keys {
			for w := st.head; w != nil; w = st.head {
				s.fail(st, w, ErrClosed)
			}
			s.forget(key, st)
		}
		s.mu.Unlock()
	}
}

func (t *lockTable) stats() LockStats {
	out := LockStats{Current: int(t.held.Load()), Frozen: t.frozen()}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		out.Calls += s.calls
		out.Waits += s.waits
		out.Failed += s.failed
		out.Busy += s.busy
		out.Pending += s.pending
		out.Latency.merge(s.latency)
		for b, n := range s.buckets {
			out.Buckets[b] += n
		}
		s.mu.Unlock()
	}
	return out
}
