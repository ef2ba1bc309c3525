// Command dummy_client is CTDB's dummy_client test program for gctdb: a
// client that stays connected, optionally registered for a srvid, until
// a message arrives on it (exit 0) or the time limit passes (exit 1).
// Options are CTDB's:
//
//	dummy_client [-s <socket>] [-d <level>] [-t <seconds>] [-S <srvid>]
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"gctdb/ctdbd/client"
)

func main() {
	fs := pflag.NewFlagSet("dummy_client", pflag.ContinueOnError)
	socket := fs.StringP("socket", "s", client.SocketPath(os.LookupEnv), "Unix domain socket path")
	fs.StringP("debug", "d", "ERR", "debug level")
	timelimit := fs.IntP("timelimit", "t", 60, "time limit")
	srvidStr := fs.StringP("srvid", "S", "", "srvid to register")
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "Invalid option %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timelimit)*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, *socket, client.Options{Name: "dummy_client"})
	if err != nil {
		fmt.Fprintf(os.Stderr, "Failed to initialize client, %v\n", err)
		os.Exit(1)
	}
	defer c.Close()
	done := make(chan struct{})
	if *srvidStr != "" {
		srvid, err := strconv.ParseUint(*srvidStr, 0, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Invalid srvid %s\n", *srvidStr)
			os.Exit(1)
		}
		sub, err := c.Subscribe(ctx, srvid)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Failed to register srvid, %v\n", err)
			os.Exit(1)
		}
		go func() {
			if _, ok := sub.Next(ctx); ok {
				close(done)
			}
		}()
	}
	select {
	case <-done:
	case <-c.Done():
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "client_wait_timeout() failed, ret=62")
		os.Exit(1)
	}
}
