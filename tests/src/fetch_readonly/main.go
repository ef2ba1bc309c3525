// Command fetch_readonly is CTDB's fetch_readonly test program for gctdb:
// one read-only fetch of a record of a volatile database, which gets this
// node a read-only copy where the database allows them. Options are
// CTDB's:
//
//	fetch_readonly -D <db> -k <key>
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
	o, ok := testprog.Parse("fetch_readonly", os.Args[1:], true, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	c, err := testprog.Connect(ctx, "fetch_readonly", o)
	if err != nil {
		testprog.Fail("%v", err)
	}
	defer c.Close()
	db, err := c.Attach(ctx, o.DBName, client.Volatile)
	if err != nil {
		testprog.Fail("Failed to attach to DB %s", o.DBName)
	}
	if _, err := db.FetchReadonly(ctx, []byte(o.Key)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		testprog.Fail("fetch readonly loop test failed")
	}
}
