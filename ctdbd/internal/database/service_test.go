package database_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/dbtest"
	"gctdb/transportd/proto"
)

// Each test cluster has its own addresses in 127.104.0.0/16 and its own
// ports, so the tests of this package can run in parallel.
func startCluster(t *testing.T, n int, third byte) *dbtest.Cluster {
	t.Helper()
	var addrs []string
	for i := 0; i < n; i++ {
		addrs = append(addrs, fmt.Sprintf("127.104.%d.%d", third, i+1))
	}
	return dbtest.Start(t, dbtest.Options{Addrs: addrs, Port: 15000 + int(third)*2, LivenessPort: 15001 + int(third)*2})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAttachEveryTypeOnEveryNode(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 1)
	ctx := testCtx(t)
	c := cl.Client(0)
	for _, tc := range []struct {
		name string
		typ  client.DBType
	}{{"v.tdb", client.Volatile}, {"p.tdb", client.Persistent}, {"r.tdb", client.Replicated}, {"d.tdb", client.PerRecordPersistent}} {
		name, typ := tc.name, tc.typ
		db, err := c.Attach(ctx, name, typ)
		require.NoError(t, err, name)
		assert.Equal(t, proto.DBID(name), db.ID())
		assert.Equal(t, typ, db.Type())
	}
	for pnn := uint32(0); pnn < 3; pnn++ {
		dbs, err := cl.Client(pnn).DBMap(ctx, client.Local)
		require.NoError(t, err)
		require.Len(t, dbs, 4, "node %d", pnn)
		assert.Equal(t, "d.tdb", dbs[0].Name, "newest first")
	}
	_, err := c.Attach(ctx, "v.tdb", client.Persistent)
	require.Error(t, err)
	assert.Equal(t, proto.StatusConflict, proto.StatusOf(err))
	assert.Contains(t, err.Error(), "attached as volatile, not persistent")
}

func TestFetchLockStoreMigratesBetweenNodes(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 2)
	ctx := testCtx(t)
	var dbs []*client.DB
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "m.tdb", client.Volatile)
		require.NoError(t, err)
		dbs = append(dbs, db)
	}
	key := []byte("counter")
	var lastRSN uint64
	for i := 0; i < 30; i++ {
		db := dbs[i%3]
		rec, err := db.FetchLock(ctx, key)
		require.NoError(t, err, "round %d", i)
		assert.Greater(t, rec.Header.RSN, lastRSN, "RSN grows with every migration")
		lastRSN = rec.Header.RSN
		var n uint64
		if rec.Exists() {
			require.Len(t, rec.Data, 8)
			n = binary.LittleEndian.Uint64(rec.Data)
		} else {
			require.Zero(t, i, "only the first fetch finds no record")
		}
		assert.Equal(t, uint64(i), n)
		require.NoError(t, rec.Store(ctx, binary.LittleEndian.AppendUint64(nil, n+1)))
	}
	rec, err := dbs[1].FetchLock(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, uint64(30), binary.LittleEndian.Uint64(rec.Data))
	require.NoError(t, rec.Unlock())
}

func TestConcurrentFetchLocksLoseNoUpdate(t *testing.T) {
	t.Parallel()
	concurrentFetchLocks(t, 3, 0)
}

// Sticky records stay pinned on a node for a while after they arrive;
// the requests of other nodes wait and none is lost.
func TestConcurrentFetchLocksOnStickyRecords(t *testing.T) {
	t.Parallel()
	concurrentFetchLocks(t, 60, proto.DBFlagSticky)
}

func concurrentFetchLocks(t *testing.T, third byte, flags uint32) {
	cl := startCluster(t, 3, third)
	ctx := testCtx(t)
	const workers, rounds = 4, 40
	key := []byte("hot")
	var wg sync.WaitGroup
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "hot.tdb", client.Volatile)
		require.NoError(t, err)
		if pnn == 0 && flags != 0 {
			require.NoError(t, cl.Client(0).SetDBFlags(ctx, client.Local, db.ID(), flags))
		}
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					rec, err := db.FetchLock(ctx, key)
					if !assert.NoError(t, err) {
						return
					}
					var n uint64
					if rec.Exists() {
						n = binary.LittleEndian.Uint64(rec.Data)
					}
					assert.NoError(t, rec.Store(ctx, binary.LittleEndian.AppendUint64(nil, n+1)))
				}
			}()
		}
	}
	wg.Wait()
	db, err := cl.Client(0).Attach(ctx, "hot.tdb", client.Volatile)
	require.NoError(t, err)
	rec, err := db.FetchLock(ctx, key)
	require.NoError(t, err)
	defer rec.Unlock()
	assert.Equal(t, uint64(3*workers*rounds), binary.LittleEndian.Uint64(rec.Data))
}

func TestTraverseListsEveryRecordOnce(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 4)
	ctx := testCtx(t)
	const n = 300
	var dbs []*client.DB
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "trav.tdb", client.Volatile)
		require.NoError(t, err)
		dbs = append(dbs, db)
	}
	for i := 0; i < n; i++ {
		require.NoError(t, dbs[i%3].Store(ctx, fmt.Appendf(nil, "key-%04x", i), fmt.Appendf(nil, "value-%d", i)))
	}
	require.NoError(t, dbs[1].Delete(ctx, []byte("key-0000")))
	seen := map[string]string{}
	require.NoError(t, dbs[0].Traverse(ctx, client.TraverseOptions{}, func(r proto.Record) error {
		_, dup := seen[string(r.Key)]
		assert.False(t, dup, "key %s listed twice", r.Key)
		seen[string(r.Key)] = string(r.Data)
		return nil
	}))
	assert.Len(t, seen, n-1)
	assert.Equal(t, "value-7", seen["key-0007"])
}

func TestTransactionsOnEveryNode(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 5)
	ctx := testCtx(t)
	var dbs []*client.DB
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "tx.tdb", client.Persistent)
		require.NoError(t, err)
		dbs = append(dbs, db)
	}
	var wg sync.WaitGroup
	const rounds = 20
	for pnn := 0; pnn < 3; pnn++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				_, err := dbs[pnn].Transaction(ctx, func(tx *client.Tx) error {
					data, _, err := tx.Fetch(ctx, []byte("counters"))
					if err != nil {
						return err
					}
					counters := make([]byte, 12)
					copy(counters, data)
					v := binary.LittleEndian.Uint32(counters[4*pnn:])
					binary.LittleEndian.PutUint32(counters[4*pnn:], v+1)
					tx.Store([]byte("counters"), counters)
					return nil
				})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	for pnn := uint32(0); pnn < 3; pnn++ {
		v, found, err := dbs[pnn].Fetch(ctx, []byte("counters"))
		require.NoError(t, err)
		require.True(t, found)
		for i := 0; i < 3; i++ {
			assert.Equal(t, uint32(rounds), binary.LittleEndian.Uint32(v.Data[4*i:]), "node %d counter %d", pnn, i)
		}
		seq, err := cl.Client(pnn).DBSeqnum(ctx, client.Local, dbs[pnn].ID())
		require.NoError(t, err)
		assert.Equal(t, uint64(3*rounds), seq)
	}
}

// TestFreezeDuringMigrationCompletes: a dmaster whose hand-over waits for
// a key lock when a freeze begins gives up at once (the requester retries
// later) instead of waiting through the freeze. Otherwise the requester
// keeps holding its own key lock for the migration, its node's freeze
// waits for that, and the freeze (a recovery, a wipe) hangs until
// ControlTimeout.
func TestFreezeDuringMigrationCompletes(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 2, 10)
	ctx := testCtx(t)
	db0, err := cl.Client(0).Attach(ctx, "mig.tdb", client.Volatile)
	require.NoError(t, err)
	db1, err := cl.Client(1).Attach(ctx, "mig.tdb", client.Volatile)
	require.NoError(t, err)
	key := []byte("share mode")
	held, err := db0.FetchLock(ctx, key)
	require.NoError(t, err)

	pending := func() uint32 {
		st, err := cl.Client(0).DBStatistics(ctx, 0, db0.ID())
		require.NoError(t, err)
		return st.LockPending
	}
	fetched := make(chan error, 1)
	go func() {
		rec, err := db1.FetchLock(ctx, key)
		if err == nil {
			err = rec.Unlock()
		}
		fetched <- err
	}()
	require.Eventually(t, func() bool { return pending() == 1 }, 10*time.Second, 5*time.Millisecond,
		"node 0 hands the record over once its client lets go")

	wiped := make(chan error, 1)
	go func() { wiped <- cl.Client(0).WipeDB(ctx, 0, db0.ID()) }()
	require.Eventually(t, func() bool { return pending() == 0 }, 10*time.Second, 5*time.Millisecond,
		"the hand-over still waits for the key lock on a freezing database")
	require.NoError(t, held.Unlock())
	select {
	case err := <-wiped:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the wipe's freeze hangs on the migration")
	}
	select {
	case err := <-fetched:
		require.NoError(t, err, "node 1 gets the record once the database is thawed")
	case <-time.After(10 * time.Second):
		t.Fatal("node 1 never got the record")
	}
}
