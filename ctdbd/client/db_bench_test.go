package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"gctdb/ctdbd/client"
)

// benchDB attaches a volatile database on node 0 of the example cluster
// for a benchmark.
func benchDB(b *testing.B, name string) (*client.Client, *client.DB) {
	b.Helper()
	c := connect(0)
	b.Cleanup(func() { c.Close() })
	db, err := c.Attach(context.Background(), name, client.Volatile)
	if err != nil {
		b.Fatal(err)
	}
	return c, db
}

// BenchmarkFetchLockStore is the hot path of smbd: a fetch-lock on the
// node that is already the record's dmaster, then a store that releases
// the lock without waiting. One round trip per iteration.
func BenchmarkFetchLockStore(b *testing.B) {
	ctx := context.Background()
	_, db := benchDB(b, "bench_fetchlock.tdb")
	key := []byte("fileid:0001")
	data := make([]byte, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, err := db.FetchLock(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		if err := rec.Store(ctx, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchLockStoreParallel runs the hot path from many goroutines
// of one client, each on its own keys (smbd's opens of different files).
func BenchmarkFetchLockStoreParallel(b *testing.B) {
	ctx := context.Background()
	_, db := benchDB(b, "bench_fetchlock_par.tdb")
	data := make([]byte, 200)
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		for i := 0; pb.Next(); i++ {
			rec, err := db.FetchLock(ctx, fmt.Appendf(nil, "w%d-k%d", w, i%64))
			if err != nil {
				b.Error(err)
				return
			}
			rec.Store(ctx, data)
		}
	})
}

// BenchmarkFetchLockStoreClients is many clients (processes, in smbd's
// terms) on their own keys.
func BenchmarkFetchLockStoreClients(b *testing.B) {
	ctx := context.Background()
	const clients = 8
	dbs := make([]*client.DB, clients)
	for i := range dbs {
		_, dbs[i] = benchDB(b, "bench_fetchlock_clients.tdb")
	}
	data := make([]byte, 200)
	var worker atomic.Int64
	b.SetParallelism(clients)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		db := dbs[int(w)%clients]
		for i := 0; pb.Next(); i++ {
			rec, err := db.FetchLock(ctx, fmt.Appendf(nil, "c%d-k%d", w, i%64))
			if err != nil {
				b.Error(err)
				return
			}
			rec.Store(ctx, data)
		}
	})
}

// BenchmarkFetchLockSameKey is contention on one hot record from many
// goroutines: every request queues for the lock and none is lost.
func BenchmarkFetchLockSameKey(b *testing.B) {
	ctx := context.Background()
	_, db := benchDB(b, "bench_fetchlock_hot.tdb")
	data := make([]byte, 200)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec, err := db.FetchLock(ctx, []byte("hot"))
			if err != nil {
				b.Error(err)
				return
			}
			rec.Store(ctx, data)
		}
	})
}

// BenchmarkPingBaseline is one request and reply to the local node
// service through the same client library and socket: the transport's
// share of a fetch-lock round trip.
func BenchmarkPingBaseline(b *testing.B) {
	ctx := context.Background()
	c := connect(0)
	b.Cleanup(func() { c.Close() })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Ping(ctx, 0); err != nil {
			b.Fatal(err)
		}
	}
}
