// Command transportd runs gctdb's transport on its own: the TCP links to
// the other nodes and the unix socket that clients and ctdbd (configured
// with `[cluster] transport = transportd`) connect to. It reads the same
// configuration files as ctdbd.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/daemon"
)

func main() {
	fs := pflag.NewFlagSet("transportd", pflag.ContinueOnError)
	interactive := fs.BoolP("interactive", "i", false, "don't fork, log to stderr")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == pflag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "transportd: %v\n", err)
		os.Exit(1)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "transportd: unexpected argument %q\n", fs.Arg(0))
		os.Exit(1)
	}
	if *version {
		fmt.Println(client.Version + "-gctdb")
		return
	}
	os.Exit(daemon.TransportdMain(daemon.Options{Interactive: *interactive}))
}
