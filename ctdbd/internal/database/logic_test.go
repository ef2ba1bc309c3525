package database

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/internal/config"
	"gctdb/transportd/proto"
)

func TestInitialVNNMapSkipsDeletedNodesAndIsTheSameEverywhere(t *testing.T) {
	nodes := []config.Node{{PNN: 2}, {PNN: 0}, {PNN: 1, Deleted: true}, {PNN: 3}}
	v := initialVNNMap(nodes)
	assert.Equal(t, []uint32{0, 2, 3}, v.Map)
	assert.GreaterOrEqual(t, v.Generation, uint32(2), "never 0 or INVALID_GENERATION")
	again := initialVNNMap([]config.Node{{PNN: 0}, {PNN: 3}, {PNN: 2}})
	assert.Equal(t, v, again, "same map, same generation, whatever the order")
	other := initialVNNMap([]config.Node{{PNN: 0}, {PNN: 2}})
	assert.NotEqual(t, v.Generation, other.Generation)
}

func TestHotKeysTopIsCTDBOrder(t *testing.T) {
	var h hotKeys
	for i := 1; i <= 15; i++ {
		for j := 0; j < i; j++ {
			h.add(fmt.Appendf(nil, "k%02d", i))
		}
	}
	top := h.top(10)
	require.Len(t, top, 10)
	// CTDB prints its hot keys least migrated first.
	for i, hk := range top {
		assert.Equal(t, uint32(6+i), hk.Count)
		assert.Equal(t, fmt.Sprintf("k%02d", 6+i), string(hk.Key))
	}
	assert.Empty(t, (&hotKeys{}).top(10))
}

func TestHotKeysForgetWhenFull(t *testing.T) {
	var h hotKeys
	for i := 0; i < hotKeysMax; i++ {
		h.add(fmt.Appendf(nil, "%d", i))
	}
	h.add([]byte("new"))
	assert.Len(t, h.counts, 1)
}

func TestHopBucket(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 7: 3, 8: 4, 1 << 20: 15} {
		assert.Equal(t, want, hopBucket(n), "hops %d", n)
	}
}

func TestNewestPrefersHigherRSN(t *testing.T) {
	a := proto.Record{Key: []byte("a"), Header: proto.RecordHeader{RSN: 3}}
	b := proto.Record{Key: []byte("b"), Header: proto.RecordHeader{RSN: 4}}
	assert.Equal(t, b, newest(a, b))
	assert.Equal(t, b, newest(b, a))
	assert.Equal(t, a, newest(a, a))
}

func testDB() *db {
	return newDB(1, "t.tdb", "", 0, nil, &proto.VNNMap{Generation: 2, Map: []uint32{0}}, slog.New(slog.DiscardHandler))
}

// The lmaster's per-key queue gives turns in arrival order, and a waiter
// that gives up passes on a turn it was handed as it left.
func TestKeyQueueIsFIFOAndPassesAbandonedTurns(t *testing.T) {
	d := testDB()
	ctx := context.Background()
	key := []byte("k")
	require.NoError(t, d.enter(ctx, key))

	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, d.enter(ctx, key))
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			d.leave(key)
		}()
		// Let each waiter queue before the next one.
		require.Eventually(t, func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return len(d.coord["k"].waiters) == i+1
		}, 5*time.Second, time.Millisecond)
	}
	// A waiter that gives up leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- d.enter(cctx, key) }()
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.coord["k"].waiters) == 6
	}, 5*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)

	d.leave(key)
	wg.Wait()
	assert.Equal(t, []int{0, 1, 2, 3, 4}, order)
	d.mu.Lock()
	defer d.mu.Unlock()
	assert.Empty(t, d.coord, "the queue is gone with its last turn")
}

// Other keys never wait for a busy key.
func TestKeyQueueIsPerKey(t *testing.T) {
	d := testDB()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, d.enter(ctx, []byte("a")))
	require.NoError(t, d.enter(ctx, []byte("b")))
	d.leave([]byte("b"))
	d.leave([]byte("a"))
}

// A call to a node the node map already shows gone gives up at once: its
// context stays ended until the node connects again.
func TestPeerWatchRemembersGoneNodes(t *testing.T) {
	var w peerWatch
	w.init()
	up := &proto.NodeMap{Nodes: []proto.NodeInfo{{PNN: 0}, {PNN: 1}}}
	down := &proto.NodeMap{Nodes: []proto.NodeInfo{{PNN: 0}, {PNN: 1, Flags: proto.NodeFlagDisconnected}}}

	w.update(up, 0)
	live := w.aliveCtx(1)
	require.NoError(t, live.Err())
	w.update(down, 0)
	assert.Error(t, live.Err(), "a call in flight stops when the node goes")
	assert.Error(t, w.aliveCtx(1).Err(), "a call started after the node went stops at once")

	var fresh peerWatch
	fresh.init()
	fresh.update(down, 0)
	assert.Error(t, fresh.aliveCtx(1).Err(), "also when the node was never seen connected")

	w.update(up, 0)
	assert.NoError(t, w.aliveCtx(1).Err(), "a node that is back gets a new context")
}
