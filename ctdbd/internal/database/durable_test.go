package database_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// keyWithLMaster returns a key whose lmaster is node lmaster in a vnnmap
// of n nodes numbered from 0.
func keyWithLMaster(t *testing.T, lmaster, n uint32) []byte {
	t.Helper()
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "key-%d", i)
		if proto.Hash(k)%n == lmaster {
			return k
		}
	}
}

// A durable record is on disk on every node when StoreDurable returns, so
// it outlives its dmaster: the lmaster carries on from its durable copy.
func TestDurableRecordSurvivesItsDMasterLoss(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 7)
	ctx := testCtx(t)
	key := keyWithLMaster(t, 0, 3)
	plain := keyWithLMaster(t, 0, 3)
	plain = append(plain, 'p')
	db1, err := cl.Client(1).Attach(ctx, "handles.tdb", client.PerRecordPersistent)
	require.NoError(t, err)
	rec, err := db1.FetchLock(ctx, key)
	require.NoError(t, err)
	require.NoError(t, rec.StoreDurable(ctx, []byte("persistent handle")))
	// The flag sticks: a later plain Store of the record is durable too.
	rec, err = db1.FetchLock(ctx, key)
	require.NoError(t, err)
	assert.NotZero(t, rec.Header.Flags&proto.RecFlagDurable)
	require.NoError(t, rec.Store(ctx, []byte("persistent handle v2")))

	cl.Stop(1)
	db2, err := cl.Client(2).Attach(ctx, "handles.tdb", client.PerRecordPersistent)
	require.NoError(t, err)
	rec, err = db2.FetchLock(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "persistent handle v2", string(rec.Data))
	require.NoError(t, rec.Unlock())
}

// Every node reloads the durable records at start; the other records of
// the database are volatile.
func TestDurableRecordsSurviveRestartOfEveryNode(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 8)
	ctx := testCtx(t)
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "handles.tdb", client.PerRecordPersistent)
		require.NoError(t, err)
		rec, err := db.FetchLock(ctx, fmt.Appendf(nil, "durable-%d", pnn))
		require.NoError(t, err)
		require.NoError(t, rec.StoreDurable(ctx, fmt.Appendf(nil, "handle %d", pnn)))
		require.NoError(t, db.Store(ctx, fmt.Appendf(nil, "volatile-%d", pnn), []byte("lost at restart")))
	}
	// Delete one durable record: the deletion is durable as well.
	db, err := cl.Client(0).Attach(ctx, "handles.tdb", client.PerRecordPersistent)
	require.NoError(t, err)
	rec, err := db.FetchLock(ctx, []byte("durable-2"))
	require.NoError(t, err)
	require.NoError(t, rec.Delete(ctx))

	for pnn := uint32(0); pnn < 3; pnn++ {
		cl.Stop(pnn)
	}
	for pnn := uint32(0); pnn < 3; pnn++ {
		cl.Restart(pnn)
	}
	cl.WaitConnected()
	dbs, err := cl.Client(1).DBMap(ctx, client.Local)
	require.NoError(t, err)
	require.Len(t, dbs, 1, "attached again at start")
	assert.Equal(t, uint32(proto.DBFlagPerRecordPersistent), dbs[0].Flags&proto.DBTypeFlags)

	db = cl.Client(1).OpenDB(dbs[0])
	for pnn := 0; pnn < 3; pnn++ {
		rec, err := db.FetchLock(ctx, fmt.Appendf(nil, "durable-%d", pnn))
		require.NoError(t, err)
		if pnn == 2 {
			assert.False(t, rec.Exists(), "deleted")
		} else {
			assert.Equal(t, fmt.Sprintf("handle %d", pnn), string(rec.Data))
		}
		require.NoError(t, rec.Unlock())
		rec, err = db.FetchLock(ctx, fmt.Appendf(nil, "volatile-%d", pnn))
		require.NoError(t, err)
		assert.False(t, rec.Exists(), "volatile record volatile-%d", pnn)
		require.NoError(t, rec.Unlock())
	}
}

// Readers of a read-only enabled database never see a value older than
// one they have seen, while a writer on another node keeps changing it.
func TestReadonlyCopiesAreRevokedBeforeAWrite(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 9)
	ctx := testCtx(t)
	db0, err := cl.Client(0).Attach(ctx, "ro.tdb", client.Volatile)
	require.NoError(t, err)
	require.NoError(t, cl.Client(0).SetDBFlags(ctx, client.Local, db0.ID(), proto.DBFlagReadonly))
	key := []byte("hot")
	const writes = 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for pnn := uint32(1); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "ro.tdb", client.Volatile)
		require.NoError(t, err)
		for r := 0; r < 2; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var last uint64
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, err := db.FetchReadonly(ctx, key)
					if !assert.NoError(t, err) {
						return
					}
					if !v.Exists() {
						continue
					}
					n := binary.LittleEndian.Uint64(v.Data)
					if !assert.GreaterOrEqual(t, n, last, "node %d went back in time", pnn) {
						return
					}
					last = n
				}
			}()
		}
	}
	for i := uint64(1); i <= writes; i++ {
		require.NoError(t, db0.Store(ctx, key, binary.LittleEndian.AppendUint64(nil, i)))
	}
	close(stop)
	wg.Wait()
	for pnn := uint32(0); pnn < 3; pnn++ {
		db, err := cl.Client(pnn).Attach(ctx, "ro.tdb", client.Volatile)
		require.NoError(t, err)
		v, err := db.FetchReadonly(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, uint64(writes), binary.LittleEndian.Uint64(v.Data), "node %d", pnn)
	}
	st, err := cl.Client(0).DBStatistics(ctx, 0, db0.ID())
	require.NoError(t, err)
	t.Logf("node 0: %d delegations, %d revokes", st.RODelegations, st.RORevokes)
}
