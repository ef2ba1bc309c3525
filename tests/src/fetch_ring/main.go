// Command fetch_ring is CTDB's fetch_ring test program for gctdb: one
// program per node passes a message around the ring of nodes, and each,
// on receiving it, fetch-locks one record, appends a line to it and
// passes the message on, so the record migrates around the cluster as
// fast as it can. Options and output are CTDB's:
//
//	fetch_ring -n <nodes> -t <seconds> -D <db> -k <key> [-i]
//
// prints "Fetch[<pnn>]: <rate> msgs/sec" at the end (node 0 first prints
// "Waiting for cluster"). With -i it also prints the record and
// "Updates[<pnn>]: <n>", the number of times this node changed it.
//
// The record holds CTDB's "Test data" and one "msg_count=N on node P"
// line per update; when it grows beyond 1000 bytes it starts again with a
// first line that carries the number of lines dropped, so that the total
// number of updates can always be read back from it (see Updates).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/src/internal/testprog"
)

// msgIDFetch is the srvid of the ring's message.
const msgIDFetch = 0

func main() {
	o, ok := testprog.Parse("fetch_ring", os.Args[1:], true, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "fetch ring test failed")
		os.Exit(1)
	}
}

func run(o *testprog.Options) error {
	ctx := context.Background()
	c, err := testprog.Connect(ctx, "fetch_ring", o)
	if err != nil {
		return err
	}
	defer c.Close()
	db, err := c.Attach(ctx, o.DBName, client.Volatile)
	if err != nil {
		return fmt.Errorf("Failed to attach to DB %s", o.DBName)
	}
	sub, err := c.Subscribe(ctx, msgIDFetch)
	if err != nil {
		return err
	}
	if err := testprog.ClusterWait(ctx, c, o.NumNodes, os.Stdout); err != nil {
		return err
	}
	key := []byte(o.Key)
	pnn := c.PNN()
	next := (pnn + 1) % uint32(o.NumNodes)
	msgs, updates := 0, 0
	update := func() error {
		rec, err := db.FetchLock(ctx, key)
		if err != nil {
			return err
		}
		data := Append(rec.Data, rec.Exists(), msgs, pnn)
		if err := rec.Store(ctx, data); err != nil {
			return err
		}
		updates++
		return c.SendMessage(next, msgIDFetch, nil)
	}
	start := time.Now()
	if pnn == uint32(o.NumNodes-1) {
		if err := update(); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	for {
		if _, ok := sub.Next(runCtx); !ok {
			break
		}
		msgs++
		if err := update(); err != nil {
			return err
		}
	}
	sub.Close(ctx)
	fmt.Printf("Fetch[%d]: %.2f msgs/sec\n", pnn, float64(msgs)/time.Since(start).Seconds())
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		return err
	}
	defer rec.Unlock()
	if o.Interactive {
		fmt.Printf("DATA:\n%s\n", strings.TrimRight(string(rec.Data), "\x00"))
		fmt.Printf("Updates[%d]: %d\n", pnn, updates)
	}
	return nil
}

// Append adds this update's line to the record's data; data beyond 1000
// bytes is replaced by a first line counting the lines it held.
func Append(data []byte, exists bool, msgCount int, pnn uint32) []byte {
	s := strings.TrimRight(string(data), "\x00")
	if !exists || s == "" {
		s = "Test data\n"
	}
	if len(s) > 1000 {
		s = fmt.Sprintf("Test data after %d updates\n", Updates(s))
	}
	s += fmt.Sprintf("msg_count=%d on node %d\n", msgCount, pnn)
	return append([]byte(s), 0)
}

// Updates returns the number of updates a record's data counts.
func Updates(data string) int {
	data = strings.TrimRight(data, "\x00")
	n := strings.Count(data, "msg_count=")
	first, _, _ := strings.Cut(data, "\n")
	if rest, ok := strings.CutPrefix(first, "Test data after "); ok {
		before, _ := strconv.Atoi(strings.TrimSuffix(rest, " updates"))
		n += before
	}
	return n
}
