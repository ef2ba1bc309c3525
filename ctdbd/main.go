// Command ctdbd is the gctdb cluster daemon, a drop-in for CTDB's ctdbd.
package main

import (
	"os"

	"gctdb/ctdbd/daemon"
)

func main() { os.Exit(daemon.Command("ctdbd", os.Args[1:])) }
