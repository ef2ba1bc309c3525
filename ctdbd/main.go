// Command ctdbd is the gctdb cluster daemon, a drop-in for CTDB's ctdbd.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/daemon"
)

func main() {
	fs := pflag.NewFlagSet("ctdbd", pflag.ContinueOnError)
	interactive := fs.BoolP("interactive", "i", false, "don't fork, log to stderr")
	version := fs.Bool("version", false, "print the version and exit")
	fs.SortFlags = false
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "ctdbd: %v\n", err)
		os.Exit(1)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ctdbd: unexpected argument %q\n", fs.Arg(0))
		os.Exit(1)
	}
	if *version {
		fmt.Println(client.Version + "-gctdb")
		return
	}
	os.Exit(daemon.Main(daemon.Options{Interactive: *interactive}))
}
