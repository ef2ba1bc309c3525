// Command update_record is CTDB's update_record test program for gctdb:
// it fetch-locks a record of a volatile database (migrating it to this
// node and revoking read-only copies), then stores it through
// UPDATE_RECORD on this node with its RSN raised by 10 and the new RSN
// as data. Options are CTDB's:
//
//	update_record -D <db> -k <key>
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/src/internal/testprog"
	"gctdb/transportd/proto"
)

func main() {
	o, ok := testprog.Parse("update_record", os.Args[1:], true, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	c, err := testprog.Connect(ctx, "update_record", o)
	if err != nil {
		testprog.Fail("%v", err)
	}
	defer c.Close()
	db, err := c.Attach(ctx, o.DBName, client.Volatile)
	if err != nil {
		testprog.Fail("Failed to attach DB %s", o.DBName)
	}
	key := []byte(o.Key)
	rec, err := db.FetchLock(ctx, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		testprog.Fail("update record failed")
	}
	h := rec.Header
	rec.Unlock()
	h.RSN += 10
	// The record holds data now, whatever it was before.
	h.Flags &^= proto.RecFlagDeleted
	if err := db.UpdateRecord(ctx, key, h, []byte(strconv.FormatUint(h.RSN, 10))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		testprog.Fail("update record failed")
	}
}
