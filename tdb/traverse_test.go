package tdb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tdb"
)

func TestTraverseOrderAndStop(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		fill(t, db, 2500)
		ctx := context.Background()

		var prev []byte
		n := 0
		require.NoError(t, db.Traverse(ctx, func(r tdb.Record) error {
			if n > 0 {
				assert.Negative(t, bytes.Compare(prev, r.Key), "key order")
			}
			assert.Equal(t, fmt.Sprintf("value-%d", r.Header.RSN), string(r.Data))
			prev = r.Key
			n++
			return nil
		}))
		assert.Equal(t, 2500, n)

		n = 0
		require.NoError(t, db.Traverse(ctx, func(tdb.Record) error {
			n++
			if n == 10 {
				return tdb.ErrStopTraverse
			}
			return nil
		}))
		assert.Equal(t, 10, n)

		boom := errors.New("boom")
		assert.ErrorIs(t, db.Traverse(ctx, func(tdb.Record) error { return boom }), boom)

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.ErrorIs(t, db.Traverse(cctx, func(tdb.Record) error { return nil }), context.Canceled)
	})
}

func TestRecordsBatches(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		fill(t, db, 1050)
		var sizes []int
		var all []tdb.Record
		require.NoError(t, db.Records(context.Background(), 100, func(recs []tdb.Record) error {
			sizes = append(sizes, len(recs))
			all = append(all, recs...)
			return nil
		}))
		assert.Len(t, sizes, 11)
		for _, s := range sizes[:10] {
			assert.Equal(t, 100, s)
		}
		assert.Equal(t, 50, sizes[10])
		require.Len(t, all, 1050)
		assert.Equal(t, key(1049), all[1049].Key, "batches may be kept by the caller")

		// Import into a second database round-trips the export.
		other := openDB(t, opts)
		require.NoError(t, other.Import(context.Background(), all))
		assert.Equal(t, collect(t, db), collect(t, other))
	})
}

func TestImportLastWins(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		recs := []tdb.Record{
			{Key: []byte("k"), Header: tdb.Header{RSN: 1}},
			{Key: []byte("k"), Header: tdb.Header{RSN: 2}},
		}
		require.NoError(t, db.Import(context.Background(), recs))
		rec, err := db.Fetch([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, uint64(2), rec.Header.RSN)
	})
}

// TestTraverseDuringWrites checks the traverse guarantee: records that
// exist throughout are seen exactly once even while others update them in
// place, insert and delete other records.
func TestTraverseDuringWrites(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		stable := 20000
		if opts.Persistent {
			stable = 5000
		}
		fill(t, db, stable)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()

		var wg sync.WaitGroup
		var writes atomic.Int64
		for w := range 3 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					// Update a stable record in place (bigger each time,
					// so pages split and move).
					k := key((i*7919 + w) % stable)
					pad := bytes.Repeat([]byte("x"), i%200)
					err := db.Store(k, tdb.Header{RSN: uint64(i)}, append(fmt.Appendf(nil, "value-%d", i), pad...))
					if err != nil {
						assert.ErrorIs(t, err, tdb.ErrClosed)
						return
					}
					// Churn: insert and delete records outside the stable set.
					churn := []byte(fmt.Sprintf("churn-%d-%d", w, i))
					assert.NoError(t, db.Store(churn, tdb.Header{}, nil))
					if i%2 == 0 {
						assert.NoError(t, db.Delete(churn))
					}
					writes.Add(1)
				}
			})
		}
		for range 3 {
			seen := make(map[string]int)
			require.NoError(t, db.Traverse(ctx, func(r tdb.Record) error {
				seen[string(r.Key)]++
				return nil
			}))
			for i := range stable {
				assert.Equal(t, 1, seen[string(key(i))], "record %d", i)
			}
			for k, n := range seen {
				assert.Equal(t, 1, n, "record %q seen %d times", k, n)
			}
		}
		cancel()
		wg.Wait()
		assert.Positive(t, writes.Load(), "writers ran during the traverses")
	})
}
