package tdb_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"gctdb/tdb"
)

func TestStoreFetchDelete(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		h := tdb.Header{RSN: 5, DMaster: 1, Flags: tdb.MigratedWithData}

		_, err := db.Fetch([]byte("k"))
		require.ErrorIs(t, err, tdb.ErrNotFound)

		require.NoError(t, db.Store([]byte("k"), h, []byte("v1")))
		rec, err := db.Fetch([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, tdb.Record{Key: []byte("k"), Header: h, Data: []byte("v1")}, rec)

		h.RSN++
		require.NoError(t, db.Store([]byte("k"), h, []byte("v2")))
		rec, err = db.Fetch([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, h, rec.Header)
		assert.Equal(t, []byte("v2"), rec.Data)

		require.NoError(t, db.Delete([]byte("k")))
		_, err = db.Fetch([]byte("k"))
		require.ErrorIs(t, err, tdb.ErrNotFound)
		assert.NoError(t, db.Delete([]byte("k")), "deleting a missing key is not an error")
	})
}

func TestEmptyKeyAndData(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		require.NoError(t, db.Store(nil, tdb.Header{RSN: 1}, nil))
		require.NoError(t, db.Store([]byte("x"), tdb.Header{RSN: 2}, []byte{}))

		rec, err := db.Fetch([]byte{})
		require.NoError(t, err)
		assert.Equal(t, uint64(1), rec.Header.RSN)
		assert.NotNil(t, rec.Data)
		assert.Empty(t, rec.Data)

		all := collect(t, db)
		assert.Len(t, all, 2)
		assert.Contains(t, all, "")
	})
}

func TestCallerBuffersAreCopied(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		k, d := []byte("key"), []byte("data")
		require.NoError(t, db.Store(k, tdb.Header{}, d))
		k[0], d[0] = 'X', 'X'
		rec, err := db.Fetch([]byte("key"))
		require.NoError(t, err)
		assert.Equal(t, []byte("data"), rec.Data)
		rec.Data[0] = 'Y'
		again, err := db.Fetch([]byte("key"))
		require.NoError(t, err)
		assert.Equal(t, []byte("data"), again.Data, "returned data is the caller's copy")
	})
}

func TestLargeValue(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
		require.NoError(t, db.Store([]byte("big"), tdb.Header{RSN: 9}, big))
		rec, err := db.Fetch([]byte("big"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(big, rec.Data))

		path := db.Path()
		require.NoError(t, db.Close())
		db2 := openAt(t, path, tdb.Options{Persistent: opts.Persistent})
		rec, err = db2.Fetch([]byte("big"))
		require.NoError(t, err)
		assert.Len(t, rec.Data, len(big))
	})
}

func TestSizeLimits(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	long := make([]byte, tdb.MaxKeySize+1)
	assert.ErrorIs(t, db.Store(long, tdb.Header{}, nil), tdb.ErrKeyTooLarge)
	assert.ErrorIs(t, db.Delete(long), tdb.ErrKeyTooLarge)
	assert.ErrorIs(t, db.Import(context.Background(), []tdb.Record{{Key: long}}), tdb.ErrKeyTooLarge)
	err := db.Update(context.Background(), func(tx *tdb.Tx) error { return tx.Store(long, tdb.Header{}, nil) })
	assert.ErrorIs(t, err, tdb.ErrKeyTooLarge)
	assert.NoError(t, db.Store(long[:tdb.MaxKeySize], tdb.Header{}, nil), "the longest allowed key")
}

func TestPersistentSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.tdb")
	db := openAt(t, path, tdb.Options{Persistent: true})
	require.NoError(t, db.Store([]byte("a"), tdb.Header{RSN: 3}, []byte("A")))
	require.NoError(t, db.Update(context.Background(), func(tx *tdb.Tx) error {
		return tx.Store([]byte("b"), tdb.Header{RSN: 4}, []byte("B"))
	}))
	require.NoError(t, db.Close())

	db = openAt(t, path, tdb.Options{Persistent: true})
	all := collect(t, db)
	assert.Equal(t, []byte("A"), all["a"].Data)
	assert.Equal(t, uint64(4), all["b"].Header.RSN)
}

func TestPersistentWriteIsOnDiskBeforeClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.tdb")
	db := openAt(t, path, tdb.Options{Persistent: true})
	require.NoError(t, db.Store([]byte("a"), tdb.Header{RSN: 3}, []byte("A")))

	// Copy the file while the database is open, as a crash would leave it.
	snap := filepath.Join(t.TempDir(), "snap.tdb")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(snap, b, 0o600))
	other := openAt(t, snap, tdb.Options{Persistent: true})
	rec, err := other.Fetch([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, []byte("A"), rec.Data)
}

func TestWipeOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.tdb")
	db := openAt(t, path, tdb.Options{})
	fill(t, db, 100)
	require.NoError(t, db.Close())

	db = openAt(t, path, tdb.Options{})
	assert.Len(t, collect(t, db), 100, "a clean close leaves a complete file")
	require.NoError(t, db.Close())

	db = openAt(t, path, tdb.Options{Wipe: true})
	assert.Empty(t, collect(t, db))
}

func TestWipe(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		fill(t, db, 500)
		require.NoError(t, db.Wipe(context.Background()))
		assert.Empty(t, collect(t, db))
		_, err := db.Fetch(key(1))
		require.ErrorIs(t, err, tdb.ErrNotFound)
		require.NoError(t, db.Store(key(1), tdb.Header{}, nil))
		assert.Len(t, collect(t, db), 1)
	})
}

func TestUpdateAllOrNothing(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		ctx := context.Background()
		require.NoError(t, db.Store([]byte("keep"), tdb.Header{RSN: 1}, []byte("old")))

		boom := errors.New("boom")
		err := db.Update(ctx, func(tx *tdb.Tx) error {
			require.NoError(t, tx.Store([]byte("keep"), tdb.Header{RSN: 2}, []byte("new")))
			require.NoError(t, tx.Store([]byte("added"), tdb.Header{}, nil))
			return boom
		})
		require.ErrorIs(t, err, boom)
		rec, err := db.Fetch([]byte("keep"))
		require.NoError(t, err)
		assert.Equal(t, []byte("old"), rec.Data, "a failed update leaves no trace")
		_, err = db.Fetch([]byte("added"))
		require.ErrorIs(t, err, tdb.ErrNotFound)

		require.NoError(t, db.Update(ctx, func(tx *tdb.Tx) error {
			rec, err := tx.Fetch([]byte("keep"))
			require.NoError(t, err)
			rec.Header.RSN++
			require.NoError(t, tx.Store([]byte("keep"), rec.Header, []byte("new")))
			got, err := tx.Fetch([]byte("keep"))
			require.NoError(t, err)
			assert.Equal(t, []byte("new"), got.Data, "a transaction reads its own writes")
			require.NoError(t, tx.Store([]byte("gone"), tdb.Header{}, nil))
			require.NoError(t, tx.Delete([]byte("gone")))
			_, err = tx.Fetch([]byte("gone"))
			require.ErrorIs(t, err, tdb.ErrNotFound)
			return nil
		}))
		rec, err = db.Fetch([]byte("keep"))
		require.NoError(t, err)
		assert.Equal(t, tdb.Header{RSN: 2}, rec.Header)
		_, err = db.Fetch([]byte("gone"))
		require.ErrorIs(t, err, tdb.ErrNotFound)
	})
}

func TestUpdateWipeAndPush(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		fill(t, db, 300)
		err := db.Update(context.Background(), func(tx *tdb.Tx) error {
			require.NoError(t, tx.Store([]byte("before-wipe"), tdb.Header{}, nil))
			tx.Wipe()
			_, err := tx.Fetch(key(1))
			require.ErrorIs(t, err, tdb.ErrNotFound, "wiped inside the transaction")
			for i := range 10 {
				require.NoError(t, tx.Store(key(1000+i), tdb.Header{RSN: 7}, []byte("pushed")))
			}
			return nil
		})
		require.NoError(t, err)
		all := collect(t, db)
		assert.Len(t, all, 10)
		assert.Equal(t, []byte("pushed"), all[string(key(1005))].Data)
	})
}

func TestTxUnusableAfterUpdate(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	var kept *tdb.Tx
	require.NoError(t, db.Update(context.Background(), func(tx *tdb.Tx) error { kept = tx; return nil }))
	assert.ErrorIs(t, kept.Store([]byte("k"), tdb.Header{}, nil), tdb.ErrTxDone)
	assert.ErrorIs(t, kept.Delete([]byte("k")), tdb.ErrTxDone)
	_, err := kept.Fetch([]byte("k"))
	assert.ErrorIs(t, err, tdb.ErrTxDone)
}

func TestUpdateWaitsForContext(t *testing.T) {
	db := openDB(t, tdb.Options{Wipe: true})
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.Update(context.Background(), func(*tdb.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.Update(ctx, func(*tdb.Tx) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
	close(release)
	require.NoError(t, <-done)
}

func TestClosed(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		require.NoError(t, db.Store([]byte("k"), tdb.Header{}, nil))
		require.NoError(t, db.Close())
		require.NoError(t, db.Close(), "Close is idempotent")
		ctx := context.Background()

		_, err := db.Fetch([]byte("k"))
		assert.ErrorIs(t, err, tdb.ErrClosed)
		assert.ErrorIs(t, db.Store([]byte("k"), tdb.Header{}, nil), tdb.ErrClosed)
		assert.ErrorIs(t, db.Delete([]byte("k")), tdb.ErrClosed)
		assert.ErrorIs(t, db.Update(ctx, func(*tdb.Tx) error { return nil }), tdb.ErrClosed)
		assert.ErrorIs(t, db.Traverse(ctx, func(tdb.Record) error { return nil }), tdb.ErrClosed)
		assert.ErrorIs(t, db.Import(ctx, []tdb.Record{{Key: []byte("k")}}), tdb.ErrClosed)
		_, err = db.Stats(ctx)
		assert.ErrorIs(t, err, tdb.ErrClosed)
		_, err = db.Compact(ctx)
		assert.ErrorIs(t, err, tdb.ErrClosed)
		_, err = db.Lock(ctx, []byte("k"))
		assert.ErrorIs(t, err, tdb.ErrClosed)
		_, ok := db.TryLock([]byte("k"))
		assert.False(t, ok)
	})
}

func TestOpenRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "foreign.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("other"))
		return err
	}))
	require.NoError(t, bdb.Close())

	_, err = tdb.Open(path, tdb.Options{Persistent: true})
	assert.ErrorIs(t, err, tdb.ErrFormat)

	require.NoError(t, os.WriteFile(path, []byte("not a database at all"), 0o600))
	_, err = tdb.Open(path, tdb.Options{Persistent: true})
	assert.Error(t, err)

	db, err := tdb.Open(path, tdb.Options{Wipe: true})
	require.NoError(t, err, "wipe replaces an unreadable file")
	require.NoError(t, db.Close())
}

func TestOpenLockedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the open timeout")
	}
	path := filepath.Join(t.TempDir(), "p.tdb")
	openAt(t, path, tdb.Options{Persistent: true})
	_, err := tdb.Open(path, tdb.Options{Persistent: true})
	assert.ErrorContains(t, err, "locked by another process")
}
