// Package statetest checks that an implementation of state.DB has the
// locking and watch semantics smbd relies on; the in-memory and the gctdb
// implementations run the same checks.
package statetest

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/smbd/internal/state"
)

// Pair returns one database as two smbd processes see it (on two nodes,
// for a clustered implementation).
type Pair func(t *testing.T) (a, b state.DB)

// wakeTimeout bounds how long a watch may take to fire after a change.
const wakeTimeout = 5 * time.Second

// Run runs every check against databases from pair; each check uses its
// own keys.
func Run(t *testing.T, pair Pair) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, a, b state.DB, key []byte)
	}{
		{"LockIsExclusive", lockIsExclusive},
		{"DeleteRemovesTheValue", deleteRemovesTheValue},
		{"WatchFiresOnLaterChangeOnly", watchFiresOnLaterChangeOnly},
		{"UnlockKeepsAWatch", unlockKeepsAWatch},
		{"DeleteKeepsOwnWatch", deleteKeepsOwnWatch},
		{"OneChangeWakesEveryWatcher", oneChangeWakesEveryWatcher},
		{"CancelledWatchStaysQuiet", cancelledWatchStaysQuiet},
		{"ConcurrentChangesAreSerialised", concurrentChangesAreSerialised},
		{"CancelledFetchLockLeavesNoLock", cancelledFetchLockLeavesNoLock},
		{"BlockedLockWakesOnUnlock", blockedLockWakesOnUnlock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t)
			tc.fn(t, a, b, []byte("statetest/"+tc.name))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func fetch(t *testing.T, db state.DB, key []byte) state.Record {
	t.Helper()
	rec, err := db.FetchLock(ctx(t), key)
	require.NoError(t, err)
	return rec
}

func store(t *testing.T, db state.DB, key []byte, v string) {
	t.Helper()
	require.NoError(t, fetch(t, db, key).Store(ctx(t), []byte(v)))
}

func fired(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitFired(t *testing.T, ch <-chan struct{}, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(wakeTimeout):
		t.Fatalf("%s: the watch did not fire", what)
		return 0
	}
}

func lockIsExclusive(t *testing.T, a, b state.DB, key []byte) {
	rec := fetch(t, a, key)
	assert.Nil(t, rec.Data(), "a record never stored has no value")

	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := b.FetchLock(short, key)
	require.Error(t, err, "a second fetch-lock must wait for the first")

	got := make(chan []byte, 1)
	go func() {
		r2, err := b.FetchLock(context.Background(), key)
		if err != nil {
			got <- nil
			return
		}
		got <- r2.Data()
		r2.Unlock()
	}()
	require.NoError(t, rec.Store(ctx(t), []byte("v1")))
	select {
	case v := <-got:
		assert.Equal(t, []byte("v1"), v, "the waiter gets the lock with the stored value")
	case <-time.After(wakeTimeout):
		t.Fatal("the waiting fetch-lock was not granted after the store")
	}
}

func deleteRemovesTheValue(t *testing.T, a, b state.DB, key []byte) {
	store(t, a, key, "v")
	rec := fetch(t, b, key)
	assert.Equal(t, []byte("v"), rec.Data())
	require.NoError(t, rec.Delete(ctx(t)))
	rec = fetch(t, a, key)
	assert.Nil(t, rec.Data())
	rec.Unlock()
}

func watchFiresOnLaterChangeOnly(t *testing.T, a, b state.DB, key []byte) {
	rec := fetch(t, a, key)
	ch, cancel := rec.Watch()
	defer cancel()
	require.NoError(t, rec.Store(ctx(t), []byte("mine")))
	fetch(t, b, key).Unlock()
	// Another watch taken after the two quiet events and fired with it
	// shows whether the first would have fired by now.
	probe := fetch(t, a, key)
	pch, pcancel := probe.Watch()
	defer pcancel()
	probe.Unlock()
	assert.False(t, fired(ch), "the watcher's own store or an unlock fired the watch")

	rec = fetch(t, b, key)
	assert.Equal(t, []byte("mine"), rec.Data())
	require.NoError(t, rec.Store(ctx(t), []byte("other")))
	d := waitFired(t, ch, "store by the other process")
	waitFired(t, pch, "store by the other process (second watch)")
	t.Logf("watch fired %v after the other process stored", d)
}

func unlockKeepsAWatch(t *testing.T, a, b state.DB, key []byte) {
	store(t, b, key, "v")
	rec := fetch(t, a, key)
	ch, cancel := rec.Watch()
	defer cancel()
	rec.Unlock()
	rec = fetch(t, b, key)
	assert.Equal(t, []byte("v"), rec.Data(), "keeping a watch does not change the value")
	require.NoError(t, rec.Delete(ctx(t)))
	waitFired(t, ch, "delete by the other process")
}

func deleteKeepsOwnWatch(t *testing.T, a, b state.DB, key []byte) {
	store(t, b, key, "v")
	rec := fetch(t, a, key)
	ch, cancel := rec.Watch()
	defer cancel()
	require.NoError(t, rec.Delete(ctx(t)))
	rec = fetch(t, b, key)
	assert.Nil(t, rec.Data(), "the record was deleted")
	require.NoError(t, rec.Store(ctx(t), []byte("again")))
	waitFired(t, ch, "store after the watcher's own delete")
}

func oneChangeWakesEveryWatcher(t *testing.T, a, b state.DB, key []byte) {
	var chans []<-chan struct{}
	for i := 0; i < 3; i++ {
		for _, db := range []state.DB{a, b} {
			rec := fetch(t, db, key)
			ch, cancel := rec.Watch()
			t.Cleanup(cancel)
			chans = append(chans, ch)
			rec.Unlock()
		}
	}
	store(t, a, key, "x")
	for i, ch := range chans {
		waitFired(t, ch, "watcher "+string(rune('0'+i)))
	}
}

func cancelledWatchStaysQuiet(t *testing.T, a, b state.DB, key []byte) {
	rec := fetch(t, a, key)
	quiet, cancel := rec.Watch()
	cancel()
	cancel() // twice is harmless
	live, cancelLive := rec.Watch()
	defer cancelLive()
	rec.Unlock()
	store(t, b, key, "x")
	waitFired(t, live, "live watch")
	assert.False(t, fired(quiet), "a cancelled watch fired")
}

// concurrentChangesAreSerialised increments a counter from many
// goroutines of both processes: no increment may be lost.
func concurrentChangesAreSerialised(t *testing.T, a, b state.DB, key []byte) {
	const workers, rounds = 6, 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for _, db := range []state.DB{a, b} {
		for i := 0; i < workers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < rounds; j++ {
					rec, err := db.FetchLock(context.Background(), key)
					if err != nil {
						errs <- err
						return
					}
					var n uint64
					if v := rec.Data(); len(v) == 8 {
						n = binary.LittleEndian.Uint64(v)
					}
					if err := rec.Store(context.Background(), binary.LittleEndian.AppendUint64(nil, n+1)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rec := fetch(t, a, key)
	defer rec.Unlock()
	require.Len(t, rec.Data(), 8)
	assert.Equal(t, uint64(2*workers*rounds), binary.LittleEndian.Uint64(rec.Data()))
}

// cancelledFetchLockLeavesNoLock gives up waiting for a held record; the
// record must stay usable afterwards.
func cancelledFetchLockLeavesNoLock(t *testing.T, a, b state.DB, key []byte) {
	for _, waiter := range []state.DB{a, b} {
		rec := fetch(t, a, key)
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := waiter.FetchLock(short, key)
		cancel()
		require.Error(t, err)
		require.NoError(t, rec.Store(ctx(t), []byte("v")))
		rec = fetch(t, b, key)
		assert.Equal(t, []byte("v"), rec.Data())
		require.NoError(t, rec.Delete(ctx(t)))
	}
}

// blockedLockWakesOnUnlock: a byte-range lock refused to process b is
// granted as soon as process a unlocks (through Store's lock helpers).
func blockedLockWakesOnUnlock(t *testing.T, a, b state.DB, key []byte) {
	sa, sb := &state.Store{Locks: a}, &state.Store{Locks: b}
	file := state.FileKey{Dev: uint64(len(key)), Ino: uint64(key[len(key)-1])}
	oa := state.OpenRef{Node: 0, Server: 1, OpenID: 1}
	ob := state.OpenRef{Node: 1, Server: 2, OpenID: 2}
	take := func(o state.OpenRef) func(*state.Locks) error {
		return func(l *state.Locks) error {
			x := state.Lock{Open: o, Offset: 0, Length: 10, Exclusive: true}
			if !l.CanLock(&x) {
				return state.ErrLockConflict
			}
			l.Locks = append(l.Locks, x)
			return nil
		}
	}
	_, _, err := sa.ModifyLocksOrWatch(ctx(t), file, take(oa))
	require.NoError(t, err)
	changed, cancel, err := sb.ModifyLocksOrWatch(ctx(t), file, take(ob))
	require.ErrorIs(t, err, state.ErrLockConflict)
	defer cancel()

	unlocked := time.Now()
	require.NoError(t, sa.ModifyLocks(ctx(t), file, func(l *state.Locks) error {
		l.RemoveOpen(oa)
		return nil
	}))
	waitFired(t, changed, "unlock by the other process")
	_, _, err = sb.ModifyLocksOrWatch(ctx(t), file, take(ob))
	require.NoError(t, err, "the lock is free after the unlock")
	took := time.Since(unlocked)
	t.Logf("the waiting lock was granted %v after the unlock", took)
	assert.Less(t, took, time.Second)
}
