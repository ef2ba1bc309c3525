package tdb_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"gctdb/tdb"
)

var benchModes = []struct {
	name string
	opts tdb.Options
}{
	{"volatile", tdb.Options{Wipe: true}},
	{"persistent", tdb.Options{Persistent: true}},
}

var benchValue = bytes.Repeat([]byte("v"), 100)

// BenchmarkStore stores distinct keys from one goroutine, so the
// write-back flusher has to write every one of them to the file.
func BenchmarkStore(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			db := openDB(b, m.opts)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := db.Store(key(i), tdb.Header{RSN: uint64(i)}, benchValue); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkStoreParallel(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) { storeParallel(b, openDB(b, m.opts), key) })
	}
}

// storeParallel stores from many goroutines, the i-th store to keyOf(i).
func storeParallel(b *testing.B, db *tdb.DB, keyOf func(int) []byte) {
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			if err := db.Store(keyOf(i), tdb.Header{RSN: uint64(i)}, benchValue); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStoreHot rewrites a small set of keys, like smbd updating the
// records of open files.
func BenchmarkStoreHot(b *testing.B) {
	db := openDB(b, tdb.Options{Wipe: true})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := db.Store(key(i%1000), tdb.Header{RSN: uint64(i)}, benchValue); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

const benchRecords = 100000

func filled(b *testing.B, opts tdb.Options) *tdb.DB {
	db := openDB(b, opts)
	recs := make([]tdb.Record, benchRecords)
	for i := range recs {
		recs[i] = tdb.Record{Key: key(i), Header: tdb.Header{RSN: uint64(i)}, Data: benchValue}
	}
	if err := db.Import(context.Background(), recs); err != nil {
		b.Fatal(err)
	}
	// Push everything to the file so fetches measure the file path.
	if _, err := db.Stats(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkFetch(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			db := filled(b, m.opts)
			r := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Fetch(key(r.IntN(benchRecords))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFetchBuffered fetches records still in the write-back buffer.
func BenchmarkFetchBuffered(b *testing.B) {
	db := openDB(b, tdb.Options{Wipe: true})
	for i := range 1000 {
		if err := db.Store(key(i), tdb.Header{}, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Fetch(key(i % 1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkFetchParallel(b *testing.B) {
	db := filled(b, tdb.Options{Wipe: true})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 2))
		for pb.Next() {
			if _, err := db.Fetch(key(r.IntN(benchRecords))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLockUnlock(b *testing.B) {
	db := openDB(b, tdb.Options{Wipe: true})
	ctx := context.Background()
	k := []byte("some-record-key")
	b.ReportAllocs()
	for b.Loop() {
		l, err := db.Lock(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		l.Unlock()
	}
}

// BenchmarkLockUnlockContended has every goroutine lock the same key.
func BenchmarkLockUnlockContended(b *testing.B) {
	db := openDB(b, tdb.Options{Wipe: true})
	ctx := context.Background()
	k := []byte("some-record-key")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := db.Lock(ctx, k)
			if err != nil {
				b.Error(err)
				return
			}
			l.Unlock()
		}
	})
}

func BenchmarkUpdate100(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			db := openDB(b, m.opts)
			ctx := context.Background()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				err := db.Update(ctx, func(tx *tdb.Tx) error {
					for i := range 100 {
						if err := tx.Store(key(n%100000+i), tdb.Header{RSN: uint64(n)}, benchValue); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				n += 100
			}
		})
	}
}

func BenchmarkTraverse100k(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			db := filled(b, m.opts)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				err := db.Traverse(ctx, func(tdb.Record) error { n++; return nil })
				if err != nil || n != benchRecords {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// BenchmarkStoreHotParallel rewrites a small set of keys from many
// goroutines: the write-back buffer alone, without the file.
func BenchmarkStoreHotParallel(b *testing.B) {
	storeParallel(b, openDB(b, tdb.Options{Wipe: true}), func(i int) []byte { return key(i % 1000) })
}
