package tdb_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tdb"
)

func TestStats(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		ctx := context.Background()
		require.NoError(t, db.Store([]byte("ab"), tdb.Header{}, []byte("xyz")))
		require.NoError(t, db.Store([]byte("c"), tdb.Header{}, nil))
		st, err := db.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, st.Records)
		// Keys plus values, each value a 16-byte header and the data.
		assert.Equal(t, int64(2+16+3+1+16), st.LiveBytes)
		assert.Positive(t, st.FileSize)
	})
}

// TestCompactShrinks deletes 90% of 100,000 records and expects the file
// to shrink accordingly.
func TestCompactShrinks(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		db := openDB(t, opts)
		ctx := context.Background()
		const n = 100000
		value := bytes.Repeat([]byte("v"), 100)
		recs := make([]tdb.Record, n)
		for i := range recs {
			recs[i] = tdb.Record{Key: key(i), Header: tdb.Header{RSN: uint64(i)}, Data: value}
		}
		require.NoError(t, db.Import(ctx, recs))
		require.NoError(t, db.Update(ctx, func(tx *tdb.Tx) error {
			for i := range n {
				if i%10 != 0 {
					if err := tx.Delete(key(i)); err != nil {
						return err
					}
				}
			}
			return nil
		}))
		before, err := db.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, n/10, before.Records)

		res, err := db.Compact(ctx)
		require.NoError(t, err)
		after, err := db.Stats(ctx)
		require.NoError(t, err)
		t.Logf("file %d -> %d bytes (live %d), pause %v, took %v",
			res.SizeBefore, res.SizeAfter, after.LiveBytes, res.Pause, res.Duration)
		assert.Equal(t, before.FileSize, res.SizeBefore)
		assert.Equal(t, after.FileSize, res.SizeAfter)
		assert.Less(t, res.SizeAfter, res.SizeBefore/4, "the file shrank")
		assert.Less(t, after.FileSize, 2*after.LiveBytes+1<<20, "the new file is dense")
		assert.Equal(t, n/10, after.Records)

		all := collect(t, db)
		require.Len(t, all, n/10)
		for i := 0; i < n; i += 10 {
			assert.Equal(t, uint64(i), all[string(key(i))].Header.RSN)
		}
		require.NoError(t, db.Store([]byte("after"), tdb.Header{}, nil), "writable after the swap")
	})
}

// TestCompactDuringWrites compacts while writers keep storing and deleting;
// the compacted database must hold exactly what was written last.
func TestCompactDuringWrites(t *testing.T) {
	modes(t, func(t *testing.T, opts tdb.Options) {
		path := filepath.Join(t.TempDir(), "c.tdb")
		db := openAt(t, path, opts)
		ctx := context.Background()
		fill(t, db, 30000)

		var mu sync.Mutex
		want := make(map[string]string)
		for i := range 30000 {
			want[string(key(i))] = fmt.Sprintf("value-%d", i)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := key((i*31 + w*7) % 25000)
					mu.Lock()
					var err error
					if i%3 == 0 {
						err = db.Delete(k)
						delete(want, string(k))
					} else {
						v := fmt.Sprintf("w%d-%d", w, i)
						err = db.Store(k, tdb.Header{}, []byte(v))
						want[string(k)] = v
					}
					mu.Unlock()
					if !assert.NoError(t, err) {
						return
					}
				}
			})
		}
		// Traversals across the file swaps still see every record that
		// nobody touches exactly once.
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				seen := make(map[string]int)
				if !assert.NoError(t, db.Traverse(ctx, func(r tdb.Record) error {
					seen[string(r.Key)]++
					return nil
				})) {
					return
				}
				for i := 25000; i < 30000; i++ {
					if !assert.Equal(t, 1, seen[string(key(i))], "untouched record %d", i) {
						return
					}
				}
			}
		})
		for range 3 {
			_, err := db.Compact(ctx)
			require.NoError(t, err)
		}
		close(stop)
		wg.Wait()

		check := func(db *tdb.DB) {
			got := collect(t, db)
			assert.Len(t, got, len(want))
			for k, v := range want {
				assert.Equal(t, v, string(got[k].Data), "key %s", k)
			}
		}
		check(db)
		require.NoError(t, db.Close())
		check(openAt(t, path, tdb.Options{Persistent: opts.Persistent}))
	})
}

func TestCompactCancelled(t *testing.T) {
	db := openDB(t, tdb.Options{Persistent: true})
	fill(t, db, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Compact(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.NoFileExists(t, db.Path()+".compact")
	assert.Len(t, collect(t, db), 1000)
}
