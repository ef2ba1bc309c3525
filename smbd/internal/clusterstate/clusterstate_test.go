package clusterstate

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/dbtest"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/state/statetest"
)

// The tests share one two-node cluster on 127.107.10.x (this package's
// addresses), started by the first test that needs it (never in fuzzing
// workers) and stopped by TestMain.
var (
	clusterOnce sync.Once
	cluster     *dbtest.Cluster
	clusterTB   = &mainTB{}
)

// mainTB lets the harness run outside a test.
type mainTB struct {
	cleanups []func()
	dirs     []string
}

func (*mainTB) Helper()                           {}
func (*mainTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (m *mainTB) Cleanup(f func())                { m.cleanups = append(m.cleanups, f) }
func (m *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "clusterstate")
	if err != nil {
		panic(err)
	}
	m.dirs = append(m.dirs, d)
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(clusterTB.cleanups) - 1; i >= 0; i-- {
		clusterTB.cleanups[i]()
	}
	for _, d := range clusterTB.dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func socket(pnn uint32) string {
	clusterOnce.Do(func() {
		cluster = dbtest.Start(clusterTB, dbtest.Options{
			Addrs: []string{"127.107.10.1", "127.107.10.2"}, Port: 15710, LivenessPort: 15711,
		})
	})
	return cluster.Socket(pnn)
}

// open connects an smbd-like process to node pnn.
func open(t *testing.T, pnn uint32) (*Cluster, *state.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, socket(pnn))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	cl, st, err := Open(ctx, c, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cl.Close()) })
	return cl, st
}

func TestDBSemanticsAcrossNodes(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (state.DB, state.DB) {
		_, a := open(t, 0)
		_, b := open(t, 1)
		return a.ShareModes, b.ShareModes
	})
}

func TestDBSemanticsInOneProcess(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (state.DB, state.DB) {
		_, a := open(t, 0)
		return a.Locks, a.Locks
	})
}

func TestBusDeliversBetweenNodes(t *testing.T) {
	c0, _ := open(t, 0)
	c1, _ := open(t, 1)
	got := make(chan []byte, 1)
	c1.Handle(func(b []byte) { got <- append([]byte(nil), b...) })
	require.NoError(t, c0.Send(c1.Self(), []byte("break")))
	select {
	case b := <-got:
		assert.Equal(t, []byte("break"), b)
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
	assert.Equal(t, uint32(1), c1.Self().Node)
	assert.NotEqual(t, c0.Self().Instance, c1.Self().Instance)
}

func TestEnvelopeGolden(t *testing.T) {
	e := envelope{hasValue: true, value: []byte{0xAA}, watchers: []watcher{{node: 1, srvid: 0xF7C1000000000002, id: 3}}}
	b := e.encode()
	assert.Equal(t, "01"+"01"+"0100"+"01000000"+"020000000000c1f7"+"0300000000000000"+"aa", hex.EncodeToString(b))
	got, err := decodeEnvelope(b)
	require.NoError(t, err)
	assert.Equal(t, e, got)

	none, err := decodeEnvelope(envelope{watchers: e.watchers}.encode())
	require.NoError(t, err)
	assert.Nil(t, none.value, "a value-less record has no value")

	for _, bad := range [][]byte{{}, {2, 0, 0, 0}, {1, 2, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 0, 9}} {
		_, err := decodeEnvelope(bad)
		assert.ErrorIs(t, err, state.ErrCorrupt, "%x", bad)
	}
}

func TestWatchIDsRoundTrip(t *testing.T) {
	b := encodeWatchIDs([]uint64{1, 1 << 40})
	ids, err := decodeWatchIDs(b[2:])
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 1 << 40}, ids)
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, {0, 0, 0, 1}} {
		_, err := decodeWatchIDs(bad)
		assert.ErrorIs(t, err, ErrBadMessage)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(envelope{hasValue: true, value: []byte("v"), watchers: []watcher{{1, 2, 3}}}.encode())
	f.Add(envelope{}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(e.encode())
		require.NoError(t, err)
		assert.Equal(t, e, again)
	})
}

func FuzzDispatch(f *testing.F) {
	f.Add(encodeWatchIDs([]uint64{5}))
	f.Add([]byte{msgVersion, msgKindBus, 1, 2})
	cl := &Cluster{watches: map[uint64]chan struct{}{}}
	cl.Handle(func([]byte) {})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = cl.dispatch(b) // must not panic
	})
}

// TestCloseStoresKeptRecords: a record this process keeps after a store
// reaches ctdbd when the process closes, not only when it lingers out.
func TestCloseStoresKeptRecords(t *testing.T) {
	ctx := context.Background()
	c0, err := client.Connect(ctx, socket(0))
	require.NoError(t, err)
	cl0, s0, err := Open(ctx, c0, nil)
	require.NoError(t, err)
	_, s1 := open(t, 1)
	key := []byte("close-stores")
	rec, err := s0.Sessions.FetchLock(ctx, key)
	require.NoError(t, err)
	require.NoError(t, rec.Store(ctx, []byte("kept")))
	// As smbd ends: the cluster state, then the connection at once.
	require.NoError(t, cl0.Close())
	require.NoError(t, c0.Close())

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec, err = s1.Sessions.FetchLock(short, key)
	require.NoError(t, err)
	defer rec.Unlock()
	assert.Equal(t, []byte("kept"), rec.Data())
}

// TestLostWhenCtdbdStops: smbd learns that its ctdbd is gone.
func TestLostWhenCtdbdStops(t *testing.T) {
	own := dbtest.Start(t, dbtest.Options{Addrs: []string{"127.107.13.1"}, Port: 15716, LivenessPort: 15717})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, own.Socket(0))
	require.NoError(t, err)
	defer c.Close()
	cl, _, err := Open(ctx, c, nil)
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.Err())

	own.Stop(0)
	select {
	case <-cl.Lost():
		assert.Error(t, cl.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the stopped ctdbd went unnoticed")
	}
}
