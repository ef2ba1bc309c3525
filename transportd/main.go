// Command transportd runs gctdb's transport on its own: the TCP links to
// the other nodes and the unix socket that clients and ctdbd (configured
// with `[cluster] transport = transportd`) connect to. It reads the same
// configuration files as ctdbd.
package main

import (
	"os"

	"gctdb/ctdbd/daemon"
)

func main() { os.Exit(daemon.Command("transportd", os.Args[1:])) }
