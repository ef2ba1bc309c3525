// Package testprog is what CTDB's test programs share (ctdb/tests/src:
// test_options.c, cluster_wait.c), for their gctdb versions: the same
// command-line options with the same defaults, the connection to the
// daemon, the wait for recovery and the cluster-wide start barrier.
package testprog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Options are CTDB's test options: the basic ones and, for programs on a
// database, the database ones.
type Options struct {
	Socket      string
	Timelimit   int
	NumNodes    int
	Debug       string
	Interactive bool

	DBName string
	Key    string
	Value  string
	DBType string
}

// Parse parses args (without the program name) as CTDB's
// process_options_basic, or process_options_database when database is
// true. Errors are written to stderr as popt words them; ok is false
// when the program must exit 1.
func Parse(prog string, args []string, database bool, stderr io.Writer) (opts *Options, ok bool) {
	o := &Options{Socket: client.SocketPath(os.LookupEnv), Timelimit: 10, NumNodes: 1, Debug: "ERR", DBType: "volatile"}
	fs := pflag.NewFlagSet(prog, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVarP(&o.Socket, "socket", "s", o.Socket, "CTDB socket path")
	fs.IntVarP(&o.Timelimit, "timelimit", "t", o.Timelimit, "Time limit (in seconds)")
	fs.IntVarP(&o.NumNodes, "num-nodes", "n", o.NumNodes, "Number of cluster nodes")
	fs.StringVarP(&o.Debug, "debug", "d", o.Debug, "Debug level")
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "Interactive output")
	if database {
		fs.StringVarP(&o.DBName, "database", "D", "", "CTDB database name")
		fs.StringVarP(&o.Key, "key", "k", "", "Name of database key")
		fs.StringVarP(&o.Value, "value", "v", "", "Value of database key")
		fs.StringVarP(&o.DBType, "dbtype", "T", o.DBType, "CTDB database type")
	}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "Invalid option %v\n", err)
		return nil, false
	}
	if !validDebug(o.Debug) {
		fmt.Fprintf(stderr, "Error: Invalid debug string '%s'\n", o.Debug)
		return nil, false
	}
	if database {
		switch {
		case o.DBName == "":
			fmt.Fprintln(stderr, "Error: Please specify database")
			return nil, false
		case o.Key == "":
			fmt.Fprintln(stderr, "Error: Please specify key name")
			return nil, false
		case o.DBType != "volatile" && o.DBType != "persistent" && o.DBType != "replicated":
			return nil, false
		}
	}
	return o, true
}

// validDebug accepts CTDB's debug levels: a name or a number.
func validDebug(s string) bool {
	if _, err := strconv.Atoi(s); err == nil {
		return true
	}
	switch s {
	case "ERR", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG":
		return true
	}
	return false
}

// DBType returns the client type of -T.
func (o *Options) Type() client.DBType {
	switch o.DBType {
	case "persistent":
		return client.Persistent
	case "replicated":
		return client.Replicated
	}
	return client.Volatile
}

// Connect connects to the daemon and waits until it is not recovering
// (CTDB's ctdb_recovery_wait).
func Connect(ctx context.Context, prog string, o *Options) (*client.Client, error) {
	c, err := client.Connect(ctx, o.Socket, client.Options{Name: prog})
	if err != nil {
		return nil, fmt.Errorf("Failed to initialize client (%s), %w", o.Socket, err)
	}
	for {
		mode, err := c.RecoveryMode(ctx, client.Local)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("Failed to wait for recovery: %w", err)
		}
		if mode == proto.RecModeNormal {
			return c, nil
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Srvids of the cluster barrier, in CTDB's test range.
const (
	srvidTestRange uint64 = 0xAF00000000000000
	srvidJoin             = srvidTestRange | 0x1
	srvidSync             = srvidTestRange | 0x2
)

// ErrClusterWait is returned when the cluster did not come together in
// time.
var ErrClusterWait = errors.New("cluster not synchronised within 30 seconds")

// ClusterWait is CTDB's cluster_wait: every program announces itself to
// node 0's program once a second until node 0 has heard all numNodes
// nodes and tells them all to start. Node 0 prints "Waiting for cluster".
func ClusterWait(ctx context.Context, c *client.Client, numNodes int, stdout io.Writer) error {
	ctx, cancel := context.WithTimeoutCause(ctx, 30*time.Second, ErrClusterWait)
	defer cancel()
	sync, err := c.Subscribe(ctx, srvidSync)
	if err != nil {
		return err
	}
	defer sync.Close(context.WithoutCancel(ctx))
	joined := make(chan struct{})
	if c.PNN() == 0 {
		join, err := c.Subscribe(ctx, srvidJoin)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Waiting for cluster")
		go collectJoins(ctx, c, join, numNodes, joined)
	}
	announce := proto.AppendU32(nil, c.PNN())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	started := make(chan struct{})
	go func() {
		if _, ok := sync.Next(ctx); ok {
			close(started)
		}
	}()
	for {
		select {
		case <-tick.C:
			if err := c.SendMessage(0, srvidJoin, announce); err != nil {
				return err
			}
		case <-started:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// collectJoins runs on node 0: once every node joined, it tells all to
// start.
func collectJoins(ctx context.Context, c *client.Client, join *client.Subscription, numNodes int, done chan<- struct{}) {
	defer join.Close(context.WithoutCancel(ctx))
	seen := make(map[uint32]bool)
	for len(seen) < numNodes {
		m, ok := join.Next(ctx)
		if !ok {
			return
		}
		var pnn proto.U32
		if proto.Unmarshal(m.Payload, &pnn) == nil && int(pnn.V) < numNodes {
			seen[pnn.V] = true
		}
	}
	close(done)
	c.SendMessage(proto.PNNBroadcastAll, srvidSync, nil)
}

// Fail prints msg and exits 1, as CTDB's programs end on errors.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
