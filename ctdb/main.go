// Command ctdb is gctdb's administration tool. Its commands, options,
// output and exit statuses are those of ctdb(1) from CTDB 4.17, so that
// operators' habits and scripts keep working; gctdb adds -n all and
// comma lists for every command that can run on another node, and -j for
// JSON output with documented field names (json.md).
//
// Each command family lives in its own file and returns views: data that
// one printer renders as CTDB's text, as -Y/-X tables or as JSON (see
// printer.go and command.go).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}
