package tdb_test

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tdb"
)

func TestLockUnlock(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	ctx := context.Background()
	l, err := db.Lock(ctx, []byte("k"))
	require.NoError(t, err)
	assert.Equal(t, []byte("k"), l.Key())

	_, ok := db.TryLock([]byte("k"))
	assert.False(t, ok, "held key")
	other, ok := db.TryLock([]byte("other"))
	require.True(t, ok, "other keys are independent")
	other.Unlock()

	l.Unlock()
	l.Unlock() // idempotent: must not release someone else's lock
	l2, ok := db.TryLock([]byte("k"))
	require.True(t, ok)
	l.Unlock()
	_, ok = db.TryLock([]byte("k"))
	assert.False(t, ok, "a second Unlock of an old handle leaves the new holder alone")
	l2.Unlock()

	st := db.LockStats()
	assert.Equal(t, 0, st.Current)
	assert.Equal(t, uint64(2), st.Busy)
	assert.Equal(t, uint64(5), st.Calls)
}

func TestLockFIFO(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	ctx := context.Background()
	first, err := db.Lock(ctx, []byte("k"))
	require.NoError(t, err)

	const n = 5
	order := make(chan int, n)
	for i := range n {
		go func() {
			l, err := db.Lock(ctx, []byte("k"))
			if !assert.NoError(t, err) {
				return
			}
			order <- i
			l.Unlock()
		}()
		// Queue the waiters one at a time so their arrival order is known.
		require.Eventually(t, func() bool { return db.LockStats().Pending == i+1 }, 5*time.Second, time.Millisecond)
	}
	_, ok := db.TryLock([]byte("k"))
	assert.False(t, ok, "TryLock does not jump the queue")
	first.Unlock()
	for i := range n {
		assert.Equal(t, i, <-order)
	}
	st := db.LockStats()
	assert.Equal(t, uint64(n), st.Waits)
	assert.Equal(t, uint64(n), st.Latency.Count)
	assert.Equal(t, 0, st.Pending)
	var bucketed uint64
	for _, b := range st.Buckets {
		bucketed += b
	}
	assert.Equal(t, uint64(n), bucketed)
	assert.LessOrEqual(t, st.Latency.Min, st.Latency.Avg())
	assert.LessOrEqual(t, st.Latency.Avg(), st.Latency.Max)
}

func TestLockContextCancel(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	held, err := db.Lock(context.Background(), []byte("k"))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := db.Lock(ctx, []byte("k"))
		errc <- err
	}()
	require.Eventually(t, func() bool { return db.LockStats().Pending == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	st := db.LockStats()
	assert.Equal(t, 0, st.Pending)
	assert.Equal(t, uint64(1), st.Failed)

	held.Unlock()
	l, ok := db.TryLock([]byte("k"))
	require.True(t, ok, "the cancelled waiter left the queue")
	l.Unlock()

	_, err = db.Lock(ctx, []byte("free"))
	assert.ErrorIs(t, err, context.Canceled, "an ended context fails even a free lock")
}

// TestLockNoLostIncrements has many goroutines increment a counter record
// under the key lock; every increment must survive.
func TestLockNoLostIncrements(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		ctx := context.Background()
		k := []byte("counter")
		require.NoError(t, db.Store(k, tdb.Header{}, binary.LittleEndian.AppendUint64(nil, 0)))

		workers, each := 16, 200
		if opts.Persistent {
			each = 20 // every increment is an fsync
		}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					l, err := db.Lock(ctx, k)
					if !assert.NoError(t, err) {
						return
					}
					rec, err := db.Fetch(k)
					if assert.NoError(t, err) {
						n := binary.LittleEndian.Uint64(rec.Data)
						rec.Header.RSN++
						assert.NoError(t, db.Store(k, rec.Header, binary.LittleEndian.AppendUint64(nil, n+1)))
					}
					l.Unlock()
				}
			})
		}
		wg.Wait()
		rec, err := db.Fetch(k)
		require.NoError(t, err)
		assert.Equal(t, uint64(workers*each), binary.LittleEndian.Uint64(rec.Data))
		assert.Equal(t, uint64(workers*each), rec.Header.RSN)
		assert.Equal(t, 0, db.LockStats().Current)
	})
}

func TestFreezeThaw(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	ctx := context.Background()
	held, err := db.Lock(ctx, []byte("a"))
	require.NoError(t, err)

	frozen := make(chan error)
	go func() { frozen <- db.Freeze(ctx) }()
	require.Eventually(t, func() bool {
		l, ok := db.TryLock([]byte("b"))
		if ok {
			l.Unlock()
		}
		return !ok
	}, 5*time.Second, time.Millisecond, "freezing stops granting at once")
	assert.False(t, db.Frozen(), "not frozen while a lock is held")

	// A Lock during the freeze waits, and Freeze waits for the holder.
	got := make(chan *tdb.Lock)
	go func() {
		l, err := db.Lock(ctx, []byte("b"))
		assert.NoError(t, err)
		got <- l
	}()
	require.Eventually(t, func() bool { return db.LockStats().Pending == 1 }, 5*time.Second, time.Millisecond)
	select {
	case <-frozen:
		t.Fatal("Freeze returned while a lock was held")
	default:
	}

	held.Unlock()
	require.NoError(t, <-frozen)
	assert.True(t, db.Frozen())
	assert.True(t, db.LockStats().Frozen)
	select {
	case <-got:
		t.Fatal("lock granted while frozen")
	default:
	}

	// Recovery writes while frozen.
	require.NoError(t, db.Store([]byte("b"), tdb.Header{RSN: 1}, nil))

	require.NoError(t, db.Thaw())
	l := <-got
	assert.False(t, db.Frozen())
	l.Unlock()
	assert.ErrorIs(t, db.Thaw(), tdb.ErrNotFrozen)
}

// TestLockUnlessFrozen: such a lock fails when the database is frozen,
// and a waiting one fails as soon as a freeze starts (so that the freeze
// can complete), while a plain Lock waiting for the same key keeps its
// place and is granted after the thaw.
func TestLockUnlessFrozen(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	ctx := context.Background()
	held, err := db.Lock(ctx, []byte("a"))
	require.NoError(t, err)

	failed := make(chan error)
	go func() {
		_, err := db.LockUnlessFrozen(ctx, []byte("a"))
		failed <- err
	}()
	plain := make(chan *tdb.Lock)
	go func() {
		l, err := db.Lock(ctx, []byte("a"))
		assert.NoError(t, err)
		plain <- l
	}()
	require.Eventually(t, func() bool { return db.LockStats().Pending == 2 }, 5*time.Second, time.Millisecond)

	frozen := make(chan error)
	go func() { frozen <- db.Freeze(ctx) }()
	select {
	case err := <-failed:
		require.ErrorIs(t, err, tdb.ErrFrozen)
	case <-time.After(5 * time.Second):
		t.Fatal("a LockUnlessFrozen waiter was not failed by the freeze")
	}
	held.Unlock()
	require.NoError(t, <-frozen)
	_, err = db.LockUnlessFrozen(ctx, []byte("b"))
	require.ErrorIs(t, err, tdb.ErrFrozen)

	require.NoError(t, db.Thaw())
	l := <-plain
	l.Unlock()
	l, err = db.LockUnlessFrozen(ctx, []byte("a"))
	require.NoError(t, err)
	l.Unlock()
}

func TestFreezeContextUndoes(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	held, err := db.Lock(context.Background(), []byte("a"))
	require.NoError(t, err)

	waiter := make(chan *tdb.Lock)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() {
		// Queued behind the holder; must still be served after the freeze
		// gives up.
		l, err := db.Lock(context.Background(), []byte("a"))
		assert.NoError(t, err)
		waiter <- l
	}()
	require.Eventually(t, func() bool { return db.LockStats().Pending == 1 }, 5*time.Second, time.Millisecond)

	require.ErrorIs(t, db.Freeze(ctx), context.DeadlineExceeded)
	assert.False(t, db.Frozen())
	assert.ErrorIs(t, db.Thaw(), tdb.ErrNotFrozen, "a failed Freeze needs no Thaw")
	other, ok := db.TryLock([]byte("other"))
	require.True(t, ok, "granting resumed")
	other.Unlock()

	held.Unlock()
	(<-waiter).Unlock()
}

func TestNestedFreeze(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	ctx := context.Background()
	require.NoError(t, db.Freeze(ctx))
	require.NoError(t, db.Freeze(ctx))
	require.NoError(t, db.Thaw())
	_, ok := db.TryLock([]byte("k"))
	assert.False(t, ok, "still frozen by the first Freeze")
	require.NoError(t, db.Thaw())
	l, ok := db.TryLock([]byte("k"))
	require.True(t, ok)
	l.Unlock()
}

func TestCloseFailsLockWaiters(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	held, err := db.Lock(context.Background(), []byte("k"))
	require.NoError(t, err)
	errc := make(chan error)
	go func() {
		_, err := db.Lock(context.Background(), []byte("k"))
		errc <- err
	}()
	require.Eventually(t, func() bool { return db.LockStats().Pending == 1 }, 5*time.Second, time.Millisecond)
	freezeErr := make(chan error)
	go func() { freezeErr <- db.Freeze(context.Background()) }()

	require.NoError(t, db.Close())
	assert.ErrorIs(t, <-errc, tdb.ErrClosed)
	assert.ErrorIs(t, <-freezeErr, tdb.ErrClosed)
	held.Unlock() // still safe after Close
}

func TestLockStress(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	inside := make([]int, len(keys))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx := context.Background()
	for w := range 12 {
		wg.Go(func() {
			for i := range 300 {
				k := (w + i) % len(keys)
				var l *tdb.Lock
				if i%3 == 0 {
					var ok bool
					if l, ok = db.TryLock(keys[k]); !ok {
						continue
					}
				} else {
					tctx, cancel := context.WithTimeout(ctx, time.Duration(i%5)*time.Millisecond)
					var err error
					l, err = db.Lock(tctx, keys[k])
					cancel()
					if err != nil {
						continue
					}
				}
				mu.Lock()
				inside[k]++
				assert.Equal(t, 1, inside[k], "two holders of one key")
				mu.Unlock()
				mu.Lock()
				inside[k]--
				mu.Unlock()
				l.Unlock()
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			fctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			if db.Freeze(fctx) == nil {
				assert.NoError(t, db.Thaw())
			}
			cancel()
		}
	})
	wg.Wait()
	st := db.LockStats()
	assert.Equal(t, 0, st.Current)
	assert.Equal(t, 0, st.Pending)
	assert.False(t, st.Frozen)
}
