package tdb

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Write-back sizing. A non-persistent database keeps recent writes in
// memory and flushes them to its file in batches: one bbolt commit per
// batch instead of one per store is what makes the volatile hot path fast.
const (
	wbShards = 32 // a power of two; touched shards fit a uint32 mask

	// A shard asks for a flush when it holds this many changed keys or
	// bytes, so a batch is roughly wbShards times as large.
	wbKickEntries = 128
	wbKickBytes   = 256 << 10

	// A writer waits for the next flush when its shard holds this many
	// changed keys or bytes: memory stays bounded under any write rate.
	wbMaxEntries = 2048
	wbMaxBytes   = 2 << 20

	// Import waits for a flush above this many changed keys in total.
	wbImportHighWater = wbShards * wbMaxEntries / 2

	// entryOverhead approximates the memory of a map entry beyond its
	// key and value bytes.
	entryOverhead = 48

	// DefaultFlushInterval bounds how long a write to a non-persistent
	// database stays only in memory when writes are too few to fill a batch.
	DefaultFlushInterval = time.Second
)

// wbShard is one part of the write-back buffer. A value of nil in dirty or
// flushing is a deletion.
type wbShard struct {
	mu       sync.Mutex
	dirty    map[string][]byte // written since the last flush began
	flushing map[string][]byte // being written by the running flush
	spare    map[string][]byte // a cleared map to reuse as dirty
	bytes    int               // approximate memory held by dirty
	closed   bool
	_        [64]byte // keep shards on separate cache lines
}

// writeBack is the write path of a non-persistent database: writes land in
// sharded maps that reads consult before the file, and one goroutine
// flushes them to the file in sorted batches.
type writeBack struct {
	st   *store
	log  *slog.Logger
	seed maphash.Seed

	shards [wbShards]wbShard

	flushMu sync.Mutex                    // one flush or wipe at a time
	swapped atomic.Pointer[chan struct{}] // closed to wake writers waiting for room

	interval time.Duration
	kick     chan struct{}
	closing  chan struct{} // closed when the database starts closing
	stop     chan struct{} // stops the flusher
	done     chan struct{} // closed when the flusher has returned
}

func newWriteBack(st *store, log *slog.Logger, interval time.Duration) *writeBack {
	w := &writeBack{
		st:       st,
		log:      log,
		seed:     maphash.MakeSeed(),
		interval: interval,
		kick:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range w.shards {
		w.shards[i].dirty = make(map[string][]byte)
	}
	ch := make(chan struct{})
	w.swapped.Store(&ch)
	go w.run()
	return w
}

func (w *writeBack) shardIndex(key string) int {
	return int(maphash.String(w.seed, key) & (wbShards - 1))
}

func (w *writeBack) shardFor(key []byte) *wbShard {
	return &w.shards[maphash.Bytes(w.seed, key)&(wbShards-1)]
}

// lookup returns the buffered value of key. found reports whether the
// buffer knows the key at all; a found nil value means it was deleted.
func (w *writeBack) lookup(key []byte) (val []byte, found bool, err error) {
	s := w.shardFor(key)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false, ErrClosed
	}
	val, found = s.dirty[string(key)]
	if !found {
		val, found = s.flushing[string(key)]
	}
	s.mu.Unlock()
	return val, found, nil
}

// put buffers one change of key; val nil deletes. It waits for a flush
// when the key's shard is full.
func (w *writeBack) put(key []byte, val []byte) error {
	s := w.shardFor(key)
	for {
		s.mu.Lock()
		if err := w.writable(s); err != nil {
			s.mu.Unlock()
			return err
		}
		if len(s.dirty) >= wbMaxEntries || s.bytes >= wbMaxBytes && len(s.dirty) > 0 {
			swapped := *w.swapped.Load()
			s.mu.Unlock()
			w.requestFlush()
			select {
			case <-swapped:
			case <-w.closing:
			}
			continue
		}
		kick := s.set(string(key), val)
		s.mu.Unlock()
		if kick {
			w.requestFlush()
		}
		return nil
	}
}

// set stores one change in the shard, which must be locked, and reports
// whether the shard has crossed its flush threshold.
func (s *wbShard) set(key string, val []byte) bool {
	if old, ok := s.dirty[key]; ok {
		s.bytes += len(val) - len(old)
	} else {
		s.bytes += len(key) + len(val) + entryOverhead
	}
	s.dirty[key] = val
	return len(s.dirty) >= wbKickEntries || s.bytes >= wbKickBytes
}

// writable returns why the locked shard refuses writes, if it does.
func (w *writeBack) writable(s *wbShard) error {
	if s.closed {
		return ErrClosed
	}
	return w.st.failure()
}

// applySet applies a write set to the buffer atomically: every shard it
// touches is locked at once, so no reader sees part of it.
func (w *writeBack) applySet(ws *writeSet) error {
	if ws.wipe {
		return w.applyWipe(ws.ops)
	}
	idx := make([]int, len(ws.ops))
	var mask uint32
	for i, o := range ws.ops {
		idx[i] = w.shardIndex(o.key)
		mask |= 1 << idx[i]
	}
	unlock := w.lockShards(mask)
	defer unlock()
	for m := mask; m != 0; m &= m - 1 {
		if err := w.writable(&w.shards[bits.TrailingZeros32(m)]); err != nil {
			return err
		}
	}
	kick := false
	for i, o := range ws.ops {
		kick = w.shards[idx[i]].set(o.key, o.val) || kick
	}
	if kick {
		w.requestFlush()
	}
	return nil
}

// applyWipe empties the file and the buffer and then buffers ops, with no
// flush running and every shard locked, so readers see the old contents
// or the new ones and nothing in between.
func (w *writeBack) applyWipe(ops []op) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	unlock := w.lockShards(^uint32(0))
	defer unlock()
	for i := range w.shards {
		if err := w.writable(&w.shards[i]); err != nil {
			return err
		}
	}
	if err := w.st.apply(&writeSet{wipe: true}); err != nil {
		return err
	}
	for i := range w.shards {
		clear(w.shards[i].dirty)
		w.shards[i].bytes = 0
	}
	for _, o := range ops {
		w.shards[w.shardIndex(o.key)].set(o.key, o.val)
	}
	w.requestFlush()
	return nil
}

// lockShards locks the shards in mask in index order, the one order every
// multi-shard locker uses, and returns the matching unlock.
func (w *writeBack) lockShards(mask uint32) func() {
	for m := mask; m != 0; m &= m - 1 {
		w.shards[bits.TrailingZeros32(m)].mu.Lock()
	}
	return func() {
		for m := mask; m != 0; m &= m - 1 {
			w.shards[bits.TrailingZeros32(m)].mu.Unlock()
		}
	}
}

// waitRoom waits until the buffer is below the import high-water mark, so
// bulk loads run at the speed of the file instead of filling memory.
func (w *writeBack) waitRoom(ctx context.Context) error {
	for {
		n := 0
		for i := range w.shards {
			s := &w.shards[i]
			s.mu.Lock()
			n += len(s.dirty)
			s.mu.Unlock()
		}
		if n < wbImportHighWater {
			return nil
		}
		if err := w.st.failure(); err != nil {
			return err
		}
		swapped := *w.swapped.Load()
		w.requestFlush()
		select {
		case <-swapped:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.closing:
			return ErrClosed
		}
	}
}

func (w *writeBack) requestFlush() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// flush writes everything buffered so far to the file. When it returns
// nil, every change made before the call is in the file.
func (w *writeBack) flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	if err := w.st.failure(); err != nil {
		w.wakeWriters()
		return err
	}
	n := 0
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		if len(s.dirty) > 0 {
			s.flushing, s.dirty, s.spare = s.dirty, s.spare, nil
			if s.dirty == nil {
				s.dirty = make(map[string][]byte, len(s.flushing))
			}
			s.bytes = 0
			n += len(s.flushing)
		}
		s.mu.Unlock()
	}
	w.wakeWriters()
	if n == 0 {
		return nil
	}
	// Only the flush holding flushMu changes flushing maps, so they can be
	// read here without the shard locks. Sorted keys make bbolt fill pages
	// in order instead of splitting them at random; sorting plain strings
	// is cheaper than sorting ops.
	keys := make([]string, 0, n)
	for i := range w.shards {
		for k := range w.shards[i].flushing {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	ops := make([]op, len(keys))
	for i, k := range keys {
		ops[i] = op{key: k, val: w.shards[w.shardIndex(k)].flushing[k]}
	}
	if err := w.st.apply(&writeSet{ops: ops}); err != nil {
		// The batch stays in the flushing maps, so readers keep seeing it.
		w.log.Error("flush write-back buffer", "path", w.st.path, "records", len(ops), "err", err)
		w.wakeWriters() // to find the store broken
		return err
	}
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		if s.flushing != nil {
			clear(s.flushing)
			s.spare, s.flushing = s.flushing, nil
		}
		s.mu.Unlock()
	}
	return nil
}

// wakeWriters wakes the writers waiting for room in the buffer, after a
// swap made room or a failure made waiting pointless.
func (w *writeBack) wakeWriters() {
	next := make(chan struct{})
	close(*w.swapped.Swap(&next))
}

// run is the flusher: it flushes when a shard fills up and at least every
// interval while anything is buffered.
func (w *writeBack) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		case <-t.C:
		}
		// A failed flush breaks the store; writers get its error.
		_ = w.flush()
	}
}

// close refuses further reads and writes, stops the flusher and flushes
// what is left.
func (w *writeBack) close() error {
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	close(w.closing)
	close(w.stop)
	<-w.done
	return w.flush()
}
