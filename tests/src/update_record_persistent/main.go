// Command update_record_persistent is CTDB's update_record_persistent
// test program for gctdb: it stores a record of a persistent database on
// this node through UPDATE_RECORD, with the RSN of the local copy plus
// one. Options are CTDB's:
//
//	update_record_persistent -D <db> -k <key> -v <value>
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/src/internal/testprog"
)

func main() {
	o, ok := testprog.Parse("update_record_persistent", os.Args[1:], true, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	if o.Value == "" {
		testprog.Fail("Error: please specify key value (-v)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	c, err := testprog.Connect(ctx, "update_record_persistent", o)
	if err != nil {
		testprog.Fail("%v", err)
	}
	defer c.Close()
	db, err := c.Attach(ctx, o.DBName, client.Persistent)
	if err != nil {
		testprog.Fail("Failed to attach DB %s", o.DBName)
	}
	key := []byte(o.Key)
	v, _, err := db.Fetch(ctx, key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		testprog.Fail("update record failed")
	}
	h := v.Header
	h.RSN++
	h.Flags = 0
	if err := db.UpdateRecord(ctx, key, h, []byte(o.Value)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		testprog.Fail("update record failed")
	}
}
