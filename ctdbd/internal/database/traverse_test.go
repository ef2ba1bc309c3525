package database_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// TestTraverseDuringMigrations traverses from every node again and again
// while clients keep moving every record between the nodes: each record
// is listed exactly once every time.
func TestTraverseDuringMigrations(t *testing.T) {
	t.Parallel()
	cl := startCluster(t, 3, 6)
	ctx := testCtx(t)
	const n = 1000
	dbs := make([]*client.DB, 3)
	for i := range dbs {
		db, err := cl.Client(uint32(i)).Attach(ctx, "tm.tdb", client.Volatile)
		require.NoError(t, err)
		dbs[i] = db
	}
	for i := 0; i < n; i++ {
		require.NoError(t, dbs[i%3].Store(ctx, fmt.Appendf(nil, "key-%04x", i), fmt.Appendf(nil, "value-%d", i)))
	}
	moveCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; moveCtx.Err() == nil; i += 7 {
				rec, err := dbs[w].FetchLock(moveCtx, fmt.Appendf(nil, "key-%04x", i%n))
				if err != nil {
					return
				}
				rec.Store(moveCtx, rec.Data)
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	for round := 0; round < 8; round++ {
		for i, db := range dbs {
			seen := make(map[string]int)
			require.NoError(t, db.Traverse(ctx, client.TraverseOptions{}, func(r proto.Record) error {
				seen[string(r.Key)]++
				return nil
			}))
			for k := 0; k < n; k++ {
				key := fmt.Sprintf("key-%04x", k)
				require.Equal(t, 1, seen[key], "round %d from node %d: %s", round, i, key)
			}
		}
	}
}
