package client_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/dbtest"
	"gctdb/transportd/proto"
)

// The examples run against a two-node cluster started once for the test
// binary (127.104.200.x; no other test uses those addresses).
var example struct {
	once sync.Once
	tb   exampleTB
	cl   *dbtest.Cluster
}

// exampleTB lets the harness run outside a test.
type exampleTB struct {
	cleanups []func()
	dirs     []string
}

func (*exampleTB) Helper()                           {}
func (*exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) Cleanup(f func())                { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) TempDir() string {
	d, err := os.MkdirTemp("", "dbexample")
	if err != nil {
		panic(err)
	}
	e.dirs = append(e.dirs, d)
	return d
}

func (e *exampleTB) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	for _, d := range e.dirs {
		os.RemoveAll(d)
	}
}

// exampleSocket returns the socket of node pnn of the example cluster.
func exampleSocket(pnn uint32) string {
	example.once.Do(func() {
		example.cl = dbtest.Start(&example.tb, dbtest.Options{
			Addrs: []string{"127.104.200.1", "127.104.200.2"}, Port: 15600, LivenessPort: 15601,
		})
	})
	return example.cl.Socket(pnn)
}

func TestMain(m *testing.M) {
	code := m.Run()
	example.tb.close()
	os.Exit(code)
}

func connect(pnn uint32) *client.Client {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, exampleSocket(pnn))
	if err != nil {
		panic(err)
	}
	return c
}

// A volatile record is locked with FetchLock, which answers in one round
// trip with the record; Store writes the new value and releases the lock
// without waiting. The record follows the node that locks it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := connect(0)
	defer c.Close()

	db, err := c.Attach(ctx, "example_locking.tdb", client.Volatile)
	if err != nil {
		fmt.Println(err)
		return
	}
	key := []byte("fileid:1234")
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("exists:", rec.Exists())
	if err := rec.Store(ctx, []byte("opened by client A")); err != nil {
		fmt.Println(err)
		return
	}

	// Another node locks it next: the record migrates there.
	other := connect(1)
	defer other.Close()
	db1, err := other.Attach(ctx, "example_locking.tdb", client.Volatile)
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err = db1.FetchLock(ctx, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s (dmaster %d)\n", rec.Data, rec.Header.DMaster)
	rec.Delete(ctx)
	// Output:
	// exists: false
	// opened by client A (dmaster 1)
}

// Persistent databases change in transactions: the transaction lock is
// cluster-wide, reads see the latest commit, and the commit reaches every
// active node or none.
func ExampleDB_Transaction() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := connect(0)
	defer c.Close()
	db, err := c.Attach(ctx, "example_users.tdb", client.Persistent)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 0; i < 3; i++ {
		_, err := db.Transaction(ctx, func(tx *client.Tx) error {
			data, _, err := tx.Fetch(ctx, []byte("logins"))
			if err != nil {
				return err
			}
			var n uint64
			if len(data) == 8 {
				n = binary.LittleEndian.Uint64(data)
			}
			tx.Store([]byte("logins"), binary.LittleEndian.AppendUint64(nil, n+1))
			return nil
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	// Every node has the full, committed copy.
	other := connect(1)
	defer other.Close()
	db1, err := other.Attach(ctx, "example_users.tdb", client.Persistent)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _, err := db1.Fetch(ctx, []byte("logins"))
	if err != nil {
		fmt.Println(err)
		return
	}
	seq, _ := other.DBSeqnum(ctx, client.Local, db1.ID())
	fmt.Println("logins:", binary.LittleEndian.Uint64(v.Data), "seqnum:", seq)
	// Output:
	// logins: 3 seqnum: 3
}

// Traverse lists every record of the cluster once, from the node that
// holds it.
func ExampleDB_Traverse() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c0, c1 := connect(0), connect(1)
	defer c0.Close()
	defer c1.Close()
	db0, err := c0.Attach(ctx, "example_sessions.tdb", client.Volatile)
	if err != nil {
		fmt.Println(err)
		return
	}
	db1, err := c1.Attach(ctx, "example_sessions.tdb", client.Volatile)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := db0.Store(ctx, []byte("session-a"), []byte("alice")); err != nil {
		fmt.Println(err)
		return
	}
	if err := db1.Store(ctx, []byte("session-b"), []byte("bob")); err != nil {
		fmt.Println(err)
		return
	}
	// Store does not wait for the daemon; the next lock of the record is
	// granted once the store is applied.
	rec, err := db1.FetchLock(ctx, []byte("session-b"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rec.Unlock(); err != nil {
		fmt.Println(err)
		return
	}

	var lines []string
	err = db0.Traverse(ctx, client.TraverseOptions{}, func(r proto.Record) error {
		lines = append(lines, fmt.Sprintf("%s=%s on node %d", r.Key, r.Data, r.Header.DMaster))
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// session-a=alice on node 0
	// session-b=bob on node 1
}

// A per-record-persistent database keeps the records stored with
// StoreDurable on disk on every active node: they outlive the node that
// holds them.
func ExampleRecord_StoreDurable() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := connect(0)
	defer c.Close()
	db, err := c.Attach(ctx, "example_handles.tdb", client.PerRecordPersistent)
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := db.FetchLock(ctx, []byte("handle:42"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rec.StoreDurable(ctx, []byte("persistent handle state")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("durable on every node")
	// Output:
	// durable on every node
}
