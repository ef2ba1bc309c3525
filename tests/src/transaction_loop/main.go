// Command transaction_loop is CTDB's transaction_loop test program for
// gctdb: every node runs transactions in a loop on one record of a
// persistent (or replicated) database, each incrementing this node's
// counter in it, while node 0 checks that no counter ever goes down.
// Options and output are CTDB's:
//
//	transaction_loop -n <nodes> -t <seconds> -D <db> -T persistent|replicated -k <key> [-i]
//
// prints "Transaction[<pnn>]: " and the counters of every node at the
// end (with -i, node 0 also every second).
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/src/internal/testprog"
)

func main() {
	o, ok := testprog.Parse("transaction_loop", os.Args[1:], true, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "transaction loop test failed")
		os.Exit(1)
	}
}

func counters(prefix string, pnn uint32, c []uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s[%d]: ", prefix, pnn)
	for _, v := range c {
		fmt.Fprintf(&b, "%6d ", v)
	}
	return b.String()
}

func run(o *testprog.Options) error {
	ctx := context.Background()
	c, err := testprog.Connect(ctx, "transaction_loop", o)
	if err != nil {
		return err
	}
	defer c.Close()
	typ := o.Type()
	if typ == client.Volatile {
		typ = client.Persistent
	}
	db, err := c.Attach(ctx, o.DBName, typ)
	if err != nil {
		return fmt.Errorf("Failed to attach to persistent DB %s", o.DBName)
	}
	if err := testprog.ClusterWait(ctx, c, o.NumNodes, os.Stdout); err != nil {
		return err
	}
	pnn, n := c.PNN(), o.NumNodes
	if int(pnn) >= n {
		return fmt.Errorf("node %d is not one of the %d nodes of -n", pnn, n)
	}
	key := []byte(o.Key)
	cur := make([]uint32, n)
	old := make([]uint32, n)
	// A transaction that started runs to its end, so that the counters
	// printed are exactly what was committed.
	end := time.Now().Add(time.Duration(o.Timelimit) * time.Second)
	lastShown := time.Now()
	next := make([]uint32, n)
	for time.Now().Before(end) {
		txCtx, cancel := context.WithTimeout(ctx, time.Duration(o.Timelimit)*time.Second)
		_, err := db.Transaction(txCtx, func(tx *client.Tx) error {
			data, _, err := tx.Fetch(txCtx, key)
			if err != nil {
				return err
			}
			buf := make([]byte, 4*n)
			if len(data) >= 4*n {
				copy(buf, data)
			}
			v := binary.LittleEndian.Uint32(buf[4*pnn:])
			binary.LittleEndian.PutUint32(buf[4*pnn:], v+1)
			for i := range next {
				next[i] = binary.LittleEndian.Uint32(buf[4*i:])
			}
			tx.Store(key, buf)
			return nil
		})
		cancel()
		if err != nil {
			return fmt.Errorf("transaction commit failed - %w", err)
		}
		copy(cur, next)
		if pnn == 0 {
			for i := range cur {
				if cur[i] < old[i] {
					return fmt.Errorf("Counter reduced for node %d: %d -> %d", i, old[i], cur[i])
				}
			}
			copy(old, cur)
		}
		if o.Interactive && pnn == 0 && time.Since(lastShown) >= time.Second {
			lastShown = time.Now()
			fmt.Println(counters("Transaction", pnn, cur))
		}
	}
	fmt.Println(counters("Transaction", pnn, cur))
	return nil
}
