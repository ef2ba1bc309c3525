//go:build integration

package recovery

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// localKeys lists node i's own copies of a database, tombstones
// included, by key.
func localKeys(t *testing.T, ctx context.Context, c *localdaemons.Cluster, i int, name string) map[string]proto.Record {
	t.Helper()
	db, err := c.Client(i).Attach(ctx, name, client.Volatile)
	require.NoError(t, err)
	out := map[string]proto.Record{}
	require.NoError(t, db.Traverse(ctx, client.TraverseOptions{Local: true, WithDeleted: true}, func(r proto.Record) error {
		out[string(r.Key)] = r
		return nil
	}))
	return out
}

// vacuumAll runs a vacuum of every database on every node, in turn.
func vacuumAll(t *testing.T, ctx context.Context, c *localdaemons.Cluster, flags uint32) []proto.VacuumDBReport {
	t.Helper()
	var out []proto.VacuumDBReport
	for i := 0; i < c.Nodes; i++ {
		var rep proto.VacuumReport
		err := c.Client(i).Control(ctx, client.Local, proto.ServiceVacuum, proto.OpVacuumRun, &proto.VacuumRequest{Flags: flags}, &rep)
		require.NoError(t, err, "vacuum on node %d", i)
		out = append(out, rep.DBs...)
	}
	return out
}

// TestVacuum001DeletedRecordsDisappear is vacuum.001/002: records
// deleted on several nodes are gone from every node after fast and full
// vacuuming, and the others stay.
func TestVacuum001DeletedRecordsDisappear(t *testing.T) {
	t.Parallel()
	c := cluster(t, 20, 3)
	ctx := ctx(t)
	const name = "vac001.tdb"
	c.CtdbOK(t, 0, "attach", name)
	for k := 0; k < 30; k++ {
		c.CtdbOK(t, k%3, "writekey", name, fmt.Sprintf("key%d", k), fmt.Sprintf("value%d", k))
	}
	for k := 0; k < 30; k += 3 {
		c.CtdbOK(t, (k+1)%3, "deletekey", name, fmt.Sprintf("key%d", k))
	}
	tombstones := 0
	for i := 0; i < 3; i++ {
		for _, r := range localKeys(t, ctx, c, i, name) {
			if r.Header.Flags&proto.RecFlagDeleted != 0 {
				tombstones++
			}
		}
	}
	require.Positive(t, tombstones, "deletions leave tombstones until vacuumed")
	// The first run of a database is a full one, the next a fast one.
	vacuumAll(t, ctx, c, 0)
	vacuumAll(t, ctx, c, 0)
	for i := 0; i < 3; i++ {
		recs := localKeys(t, ctx, c, i, name)
		for k := 0; k < 30; k += 3 {
			_, there := recs[fmt.Sprintf("key%d", k)]
			assert.False(t, there, "node %d still has deleted key%d", i, k)
		}
	}
	for k := 1; k < 30; k++ {
		if k%3 == 0 {
			continue
		}
		out := c.CtdbOK(t, 2, "readkey", name, fmt.Sprintf("key%d", k))
		assert.Contains(t, out, fmt.Sprintf("ptr:[value%d]", k))
	}
	st, err := c.Client(0).DBStatistics(ctx, client.Local, proto.DBID(name))
	require.NoError(t, err)
	assert.Positive(t, st.Vacuum.FullRuns)
}

// TestVacuum003RecreatedRecordSurvives is vacuum.003: a record deleted
// and then written again before vacuuming keeps its new value.
func TestVacuum003RecreatedRecordSurvives(t *testing.T) {
	t.Parallel()
	c := cluster(t, 21, 3)
	ctx := ctx(t)
	const name = "vac003.tdb"
	c.CtdbOK(t, 0, "attach", name)
	for k := 0; k < 10; k++ {
		key := fmt.Sprintf("key%d", k)
		c.CtdbOK(t, 0, "writekey", name, key, "first")
		c.CtdbOK(t, 1, "deletekey", name, key)
		c.CtdbOK(t, (k%2)*2, "writekey", name, key, "again")
	}
	vacuumAll(t, ctx, c, proto.VacuumFull)
	vacuumAll(t, ctx, c, 0)
	for i := 0; i < 3; i++ {
		for k := 0; k < 10; k++ {
			assert.Equal(t, "Data: size:5 ptr:[again]\n", c.CtdbOK(t, i, "readkey", name, fmt.Sprintf("key%d", k)), "node %d key%d", i, k)
		}
	}
}

// TestVacuumCompactionShrinksFile: after deleting 90% of the records and
// vacuuming, the database files shrink. GCTDB_VACUUM_RECORDS sets the
// number of records (docs/benchmarks.md uses 100000).
func TestVacuumCompactionShrinksFile(t *testing.T) {
	t.Parallel()
	c := cluster(t, 22, 3)
	ctx := ctx(t)
	const name = "vacsize.tdb"
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("GCTDB_VACUUM_RECORDS")); err == nil && v > 0 {
		n = v
	}
	db, err := c.Client(0).Attach(ctx, name, client.Volatile)
	require.NoError(t, err)
	recs := make([]proto.Record, n)
	for i := range recs {
		recs[i] = proto.Record{Key: []byte(fmt.Sprintf("k%06d", i)), Data: bytes.Repeat([]byte{byte(i)}, 1000)}
	}
	require.NoError(t, db.Restore(ctx, recs, nil))
	size := func() uint64 {
		var total uint64
		for i := 0; i < 3; i++ {
			st, err := c.Client(i).DBStatistics(ctx, client.Local, proto.DBID(name))
			require.NoError(t, err)
			total += st.FileSize
		}
		return total
	}
	before := size()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if i%10 == 0 {
					continue
				}
				if err := db.Delete(ctx, recs[i].Key); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	vacuumAll(t, ctx, c, proto.VacuumFull)
	after := size()
	t.Logf("%d records of 1000 bytes: database files of the 3 nodes %d bytes before, %d after deleting 90%% and vacuuming", n, before, after)
	assert.Less(t, after, before/2)
	count := 0
	require.NoError(t, db.Traverse(ctx, client.TraverseOptions{}, func(proto.Record) error { count++; return nil }))
	assert.Equal(t, n/10, count)
}

// TestVacuum030LockedRecordSkippedThenVacuumed is vacuum.030-034: a
// deleted record a client holds locked is neither deleted nor holds up
// vacuuming; once released, the next fast vacuum removes it.
func TestVacuum030LockedRecordSkippedThenVacuumed(t *testing.T) {
	t.Parallel()
	c := cluster(t, 23, 3)
	ctx := ctx(t)
	const name = "vac030.tdb"
	db, err := c.Client(0).Attach(ctx, name, client.Volatile)
	require.NoError(t, err)
	require.NoError(t, db.Store(ctx, []byte("held"), []byte("v")))
	require.NoError(t, db.Store(ctx, []byte("free"), []byte("v")))
	require.NoError(t, db.Delete(ctx, []byte("held")))
	require.NoError(t, db.Delete(ctx, []byte("free")))
	// The first runs are full ones; let them pass with nothing locked
	// but "free" already gone.
	lock, err := db.FetchLock(ctx, []byte("held"))
	require.NoError(t, err)
	vacuumAll(t, ctx, c, 0)
	recs := localKeys(t, ctx, c, 0, name)
	assert.Contains(t, recs, "held", "a locked record is not vacuumed")
	assert.NotContains(t, recs, "free")
	require.NoError(t, lock.Unlock())
	vacuumAll(t, ctx, c, 0)
	for i := 0; i < 3; i++ {
		assert.NotContains(t, localKeys(t, ctx, c, i, name), "held", "node %d", i)
	}
}

// durableTombstones sums the durable tombstones of a database on nodes.
func durableTombstones(t *testing.T, ctx context.Context, c *localdaemons.Cluster, nodes []int, name string) uint64 {
	t.Helper()
	var n uint64
	for _, i := range nodes {
		st, err := c.Client(i).DBStatistics(ctx, client.Local, proto.DBID(name))
		require.NoError(t, err)
		n += st.Vacuum.DurableTombstones
	}
	return n
}

// Durable tombstones of a per-record-persistent database are vacuumed
// only while every node is active: a stopped node keeps its durable
// store, which must not bring the record back.
func TestVacuumDurableTombstonesOnlyWithEveryNode(t *testing.T) {
	t.Parallel()
	c := cluster(t, 24, 3)
	ctx := ctx(t)
	const name = "vacdur.tdb"
	db, err := c.Client(0).Attach(ctx, name, client.PerRecordPersistent)
	require.NoError(t, err)
	rec, err := db.FetchLock(ctx, []byte("handle"))
	require.NoError(t, err)
	require.NoError(t, rec.StoreDurable(ctx, []byte("open")))
	require.NoError(t, db.Delete(ctx, []byte("handle")))
	require.Positive(t, durableTombstones(t, ctx, c, c.All(), name), "the deletion is durable")

	before, _, _ := generation(c, 0)
	c.CtdbOK(t, 0, "stop", "-n", "2")
	before = waitRecovered(t, c, []int{0, 1}, before)
	vacuumAll(t, ctx, c, proto.VacuumFull)
	assert.Positive(t, durableTombstones(t, ctx, c, []int{0, 1}, name), "kept while node 2 is stopped")

	c.CtdbOK(t, 0, "continue", "-n", "2")
	waitRecovered(t, c, c.All(), before)
	vacuumAll(t, ctx, c, proto.VacuumFull)
	assert.Zero(t, durableTombstones(t, ctx, c, c.All(), name), "gone once every node is active")
	for i := 0; i < 3; i++ {
		r, err := c.Client(i).OpenDB(db.Info()).FetchLock(ctx, []byte("handle"))
		require.NoError(t, err)
		assert.False(t, r.Exists(), "node %d", i)
		require.NoError(t, r.Unlock())
	}
}
