// Package dbtest runs real gctdb nodes with the database service inside a
// test process: each node is a transport on its own loopback address with
// its unix socket and database directories in a temporary directory, and
// the node, membership and database services on the service host, as
// ctdbd wires them. Tests of the database service and of programs built
// on its client library use it.
//
//	cl := dbtest.Start(t, dbtest.Options{Addrs: []string{"127.104.1.1", "127.104.1.2"}})
//	c, err := client.Connect(ctx, cl.Socket(0))
package dbtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/database"
	"gctdb/ctdbd/internal/membership"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
	"gctdb/transportd/transport"
)

// Options describe a test cluster.
type Options struct {
	// Addrs is the nodes file: one address per PNN. Use addresses no
	// other test package uses (127.104.x.y belongs to the database
	// tests).
	Addrs []string
	// Port is every node's transport port (default 14379); LivenessPort
	// memberlist's (default 14380).
	Port, LivenessPort int
	// Logger receives the services' logs; nil discards them.
	Logger *slog.Logger
	// Tunables are every node's tunables at start; zero means CTDB's
	// defaults.
	Tunables *config.Tunables
}

// TB is what the harness needs of a test; a *testing.T has it, and
// example programs provide it with a small adapter.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var _ TB = (testing.TB)(nil)

// Cluster is a set of running nodes; Start stops them at the end of the
// test.
type Cluster struct {
	t     TB
	opts  Options
	dir   string
	nodes []config.Node
	mu    sync.Mutex
	run   map[uint32]*runningNode
}

type runningNode struct {
	stop context.CancelFunc
	done chan struct{}
}

// Start starts every node and waits until each serves its socket and
// sees every other node connected.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 14379
	}
	if opts.LivenessPort == 0 {
		opts.LivenessPort = 14380
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cl := &Cluster{t: t, opts: opts, dir: t.TempDir(), run: make(map[uint32]*runningNode)}
	for i, a := range opts.Addrs {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			t.Fatalf("dbtest: node %d: %v", i, err)
		}
		cl.nodes = append(cl.nodes, config.Node{PNN: uint32(i), Line: i + 1, Addr: addr})
	}
	t.Cleanup(cl.stopAll)
	for _, n := range cl.nodes {
		cl.Restart(n.PNN)
	}
	cl.WaitConnected()
	return cl
}

// Socket returns the unix socket of node pnn.
func (cl *Cluster) Socket(pnn uint32) string {
	return filepath.Join(cl.dir, fmt.Sprintf("node%d.socket", pnn))
}

// Dir returns node pnn's database directory.
func (cl *Cluster) Dir(pnn uint32) string {
	return filepath.Join(cl.dir, fmt.Sprintf("node%d", pnn))
}

// Client connects to node pnn; the connection is closed at the end of
// the test.
func (cl *Cluster) Client(pnn uint32) *client.Client {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.Socket(pnn))
	if err != nil {
		cl.t.Fatalf("dbtest: connect to node %d: %v", pnn, err)
	}
	cl.t.Cleanup(func() { c.Close() })
	return c
}

// WaitConnected waits until every running node sees every other running
// node connected.
func (cl *Cluster) WaitConnected() {
	cl.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, why := cl.allConnected()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			cl.t.Fatalf("dbtest: cluster not connected: %s", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (cl *Cluster) allConnected() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, n := range cl.nodes {
		if !cl.Running(n.PNN) {
			continue
		}
		c, err := client.Connect(ctx, cl.Socket(n.PNN))
		if err != nil {
			return false, err.Error()
		}
		nm, err := c.NodeMap(ctx, client.Local)
		c.Close()
		if err != nil {
			return false, err.Error()
		}
		for _, info := range nm.Nodes {
			if cl.Running(info.PNN) && info.Flags&proto.NodeFlagDisconnected != 0 {
				return false, fmt.Sprintf("node %d sees node %d disconnected", n.PNN, info.PNN)
			}
		}
	}
	return true, ""
}

// Stop stops node pnn as a killed daemon stops; its peers see it
// disconnected. It returns once the node is down.
func (cl *Cluster) Stop(pnn uint32) {
	cl.mu.Lock()
	r := cl.run[pnn]
	delete(cl.run, pnn)
	cl.mu.Unlock()
	if r != nil {
		r.stop()
		<-r.done
	}
}

// Running reports whether node pnn is up.
func (cl *Cluster) Running(pnn uint32) bool {
	cl.mu.Lock()
	r := cl.run[pnn]
	cl.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (cl *Cluster) stopAll() {
	for _, n := range cl.nodes {
		cl.Stop(n.PNN)
	}
}

// Restart starts node pnn (again).
func (cl *Cluster) Restart(pnn uint32) {
	cl.t.Helper()
	cl.Stop(pnn)
	ctx, stop := context.WithCancel(context.Background())
	r := &runningNode{stop: stop, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(r.done)
		cl.serve(ctx, pnn, ready)
	}()
	if err := <-ready; err != nil {
		stop()
		<-r.done
		cl.t.Fatalf("dbtest: start node %d: %v", pnn, err)
	}
	cl.mu.Lock()
	cl.run[pnn] = r
	cl.mu.Unlock()
}

// serve runs one node until ctx ends: the transport first, then the
// services; on the way down the services stop before the transport.
func (cl *Cluster) serve(ctx context.Context, pnn uint32, ready chan<- error) {
	log := cl.opts.Logger.With("pnn", pnn)
	var tnodes []transport.Node
	for _, n := range cl.nodes {
		tnodes = append(tnodes, transport.Node{PNN: n.PNN, Addr: net.IP(n.Addr.AsSlice())})
	}
	tr, err := transport.New(transport.Config{
		PNN: pnn, Nodes: tnodes, Port: cl.opts.Port, SocketPath: cl.Socket(pnn),
		Name: "gctdb dbtest " + client.Version, ReconnectMax: 100 * time.Millisecond, Logger: log,
	})
	if err != nil {
		ready <- err
		return
	}
	trCtx, stopTransport := context.WithCancel(context.Background())
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Run(trCtx) }()
	defer func() {
		stopTransport()
		<-trDone
	}()
	select {
	case <-tr.Ready():
	case err := <-trDone:
		trDone <- err
		ready <- err
		return
	}
	tunables := config.DefaultTunables()
	if cl.opts.Tunables != nil {
		tunables = *cl.opts.Tunables
	}
	dir := cl.Dir(pnn)
	hostCtx, stopHost := context.WithCancel(context.Background())
	defer stopHost()
	nodeSvc := node.New(node.Options{
		Shutdown: func(string) { stopHost() },
		GetDebug: func() string { return "NOTICE" },
		SetDebug: func(string) error { return nil },
		Version:  client.Version,
	})
	attach := func(svc proto.ServiceID) (rpc.Port, error) { return tr.Attach(svc) }
	host := service.NewHost(attach, service.Env{Logger: log, PNN: pnn, Nodes: cl.nodes, Tunables: &tunables},
		nodeSvc,
		membership.New(membership.Config{Port: cl.opts.LivenessPort}),
		database.New(database.Options{
			VolatileDir:   filepath.Join(dir, "volatile"),
			PersistentDir: filepath.Join(dir, "persistent"),
			StateDir:      filepath.Join(dir, "state"),
		}),
	)
	hostDone := make(chan error, 1)
	go func() { hostDone <- host.Run(hostCtx) }()
	select {
	case <-host.Ready():
		ready <- nil
	case err := <-hostDone:
		ready <- err
		return
	}
	select {
	case <-ctx.Done():
		stopHost()
		if err := <-hostDone; err != nil {
			log.Error("node stopped with an error", "err", err)
		}
	case <-hostDone:
	}
}
