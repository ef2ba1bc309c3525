//go:build integration

package database

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// TestTraverse001One is traverse.001: a record written on one node and
// rewritten on another is listed once, with the newer value, by catdb on
// every node.
func TestTraverse001One(t *testing.T) {
	t.Parallel()
	c := cluster(t, 33, 3)
	c.CtdbOK(t, 0, "attach", "traverse_db.tdb")
	c.CtdbOK(t, 0, "writekey", "traverse_db.tdb", "foo", "bar0")
	c.CtdbOK(t, 1, "writekey", "traverse_db.tdb", "foo", "bar1")
	for i := 0; i < 2; i++ {
		out := c.CtdbOK(t, i, "catdb", "traverse_db.tdb")
		assert.Contains(t, out, "Dumped 1 records\n")
		assert.Contains(t, out, "data(4) = \"bar1\"\n")
	}
	c.CtdbOK(t, 0, "wipedb", "traverse_db.tdb")
	for i := 0; i < 10; i++ {
		c.CtdbOK(t, 0, "writekey", "traverse_db.tdb", fmt.Sprintf("foo%d", i), fmt.Sprintf("bar%d@0", i))
	}
	for i := 1; i <= 5; i++ {
		c.CtdbOK(t, 1, "writekey", "traverse_db.tdb", fmt.Sprintf("foo%d", i), fmt.Sprintf("bar%d@1", i))
	}
	for i := 0; i < 3; i++ {
		recs := catdb(t, c, i, "catdb", "traverse_db.tdb")
		require.Len(t, recs, 10)
		assert.Equal(t, "bar3@1", string(recs["foo3"].data()))
		assert.Equal(t, "bar7@0", string(recs["foo7"].data()))
	}
}

// TestTraverse002Many is traverse.002: 1000 records written on different
// nodes are all listed by catdb; and a traverse that runs while the
// records migrate lists each record exactly once.
func TestTraverse002Many(t *testing.T) {
	t.Parallel()
	c := cluster(t, 34, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n = 1000
	dbs := make([]*client.DB, 3)
	for i := range dbs {
		db, err := c.Client(i).Attach(ctx, "traverse_test.tdb", client.Volatile)
		require.NoError(t, err)
		dbs[i] = db
	}
	c.CtdbOK(t, 0, "wipedb", "traverse_test.tdb")
	for i := 0; i < n; i++ {
		require.NoError(t, dbs[i%3].Store(ctx, fmt.Appendf(nil, "key-%04x", i), fmt.Appendf(nil, "value-%d", i)))
	}
	out := c.CtdbOK(t, 0, "catdb", "traverse_test.tdb")
	assert.True(t, strings.HasSuffix(out, fmt.Sprintf("Dumped %d records\n", n)))

	// Traverse from every node while other clients keep moving every
	// record between nodes.
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
	for round := 0; round < 5; round++ {
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
	stop()
	wg.Wait()
}
