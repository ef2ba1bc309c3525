package tdb

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openInternal(t *testing.T, opts Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "i.tdb"), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// inFile reports whether key is in the file itself, not just buffered.
func inFile(db *DB, key []byte) bool {
	return db.st.get(key, func([]byte) error { return nil }) == nil
}

func TestFlushInterval(t *testing.T) {
	db := openInternal(t, Options{Wipe: true, FlushInterval: 10 * time.Millisecond})
	require.NoError(t, db.Store([]byte("k"), Header{}, nil))
	require.Eventually(t, func() bool { return inFile(db, []byte("k")) }, 5*time.Second, time.Millisecond)
}

func TestFlushWhenBatchFills(t *testing.T) {
	db := openInternal(t, Options{Wipe: true, FlushInterval: time.Hour})
	for i := range wbShards * wbKickEntries {
		require.NoError(t, db.Store(fmt.Appendf(nil, "k%d", i), Header{}, nil))
	}
	require.Eventually(t, func() bool { return inFile(db, []byte("k0")) }, 5*time.Second, time.Millisecond)
}

// TestWriteBackBounded stalls the file and checks that writers wait
// instead of buffering without limit, then carry on when the file does.
func TestWriteBackBounded(t *testing.T) {
	db := openInternal(t, Options{Wipe: true})
	db.st.writeMu.Lock()
	stalled := true
	defer func() {
		if stalled {
			db.st.writeMu.Unlock()
		}
	}()
	total := 3 * wbShards * wbMaxEntries
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			if !assert.NoError(t, db.Store(fmt.Appendf(nil, "k%d", i), Header{}, nil)) {
				return
			}
		}
	}()
	buffered := func() int {
		n := 0
		for i := range db.wb.shards {
			s := &db.wb.shards[i]
			s.mu.Lock()
			n += len(s.dirty) + len(s.flushing)
			s.mu.Unlock()
		}
		return n
	}
	require.Never(t, func() bool { return buffered() > 2*wbShards*wbMaxEntries }, 300*time.Millisecond, 5*time.Millisecond)
	select {
	case <-done:
		t.Fatal("all stores returned while the file was stalled")
	default:
	}
	db.st.writeMu.Unlock()
	stalled = false
	<-done
	st, err := db.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, total, st.Records)
}

func TestBrokenAfterWriteError(t *testing.T) {
	t.Run("volatile", func(t *testing.T) {
		db := openInternal(t, Options{Wipe: true})
		require.NoError(t, db.Store([]byte("k"), Header{RSN: 1}, nil))
		require.NoError(t, db.st.cur.Load().Close()) // the file goes away under the flusher
		require.ErrorIs(t, db.wb.flush(), ErrBroken)
		assert.ErrorIs(t, db.Store([]byte("k2"), Header{}, nil), ErrBroken)
		assert.ErrorIs(t, db.Update(context.Background(), func(tx *Tx) error {
			return tx.Store([]byte("k3"), Header{}, nil)
		}), ErrBroken)
		rec, err := db.Fetch([]byte("k"))
		require.NoError(t, err, "reads of the unflushed batch go on")
		assert.Equal(t, uint64(1), rec.Header.RSN)
	})
	t.Run("persistent", func(t *testing.T) {
		db := openInternal(t, Options{Persistent: true})
		require.NoError(t, db.st.cur.Load().Close())
		assert.ErrorIs(t, db.Store([]byte("k"), Header{}, nil), ErrBroken)
		assert.ErrorIs(t, db.Delete([]byte("k")), ErrBroken)
	})
}

func TestCompactTracksConcurrentChanges(t *testing.T) {
	db := openInternal(t, Options{Persistent: true})
	for i := range 100 {
		require.NoError(t, db.Store(fmt.Appendf(nil, "k%03d", i), Header{RSN: 1}, nil))
	}
	// Changes made between the bulk copy and the swap are exactly what the
	// tracker must carry over: make them from inside the copy.
	alive := func() func() error {
		n := 0
		return func() error {
			n++
			if n == 2 { // after the first bulk chunk
				require.NoError(t, db.Store([]byte("k000"), Header{RSN: 2}, nil))
				require.NoError(t, db.Delete([]byte("k001")))
				require.NoError(t, db.Store([]byte("new"), Header{RSN: 3}, nil))
			}
			return nil
		}
	}()
	_, err := db.st.compact(alive)
	require.NoError(t, err)
	rec, err := db.Fetch([]byte("k000"))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), rec.Header.RSN)
	_, err = db.Fetch([]byte("k001"))
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.Fetch([]byte("new"))
	assert.NoError(t, err)
}

// TestWaitingWriterSeesBreak checks that a writer waiting for room in the
// buffer is woken with ErrBroken when the flush it waits for fails.
func TestWaitingWriterSeesBreak(t *testing.T) {
	db := openInternal(t, Options{Wipe: true})
	db.st.writeMu.Lock()
	errc := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := db.Store(fmt.Appendf(nil, "k%d", i), Header{}, nil); err != nil {
				errc <- err
				return
			}
		}
	}()
	require.Eventually(t, func() bool {
		for i := range db.wb.shards {
			s := &db.wb.shards[i]
			s.mu.Lock()
			full := len(s.dirty) >= wbMaxEntries
			s.mu.Unlock()
			if full {
				return true
			}
		}
		return false
	}, 10*time.Second, time.Millisecond, "a shard fills up while the file is stalled")
	require.NoError(t, db.st.cur.Load().Close())
	db.st.writeMu.Unlock()
	assert.ErrorIs(t, <-errc, ErrBroken)
	assert.ErrorIs(t, db.Import(context.Background(), make([]Record, 3*wbImportHighWater)), ErrBroken)
}
