// Package clienttest runs real gctdb nodes inside a test process, so that
// programs built on package client (the ctdb CLI, smbd, tools) are tested
// against the real services instead of a fake daemon. Each node is a
// transport on its own loopback address with its unix socket in a
// temporary directory, and the node and membership services attached
// through the service host, as ctdbd wires them.
//
//	cl := clienttest.Start(t, clienttest.Options{Addrs: []string{"127.0.78.1", "127.0.78.2"}})
//	c, err := client.Connect(ctx, cl.Socket(0))
package clienttest

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
	"gctdb/ctdbd/internal/logging"
	"gctdb/ctdbd/internal/membership"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
	"gctdb/transportd/transport"
)

// Options describe a test cluster.
type Options struct {
	// Addrs is the nodes file: one address per PNN, "" for a deleted
	// node. Use addresses no other test package uses.
	Addrs []string
	// Port is every node's transport port (default 14379); LivenessPort
	// memberlist's (default 14380).
	Port, LivenessPort int
	// Logger receives the services' logs; nil discards them.
	Logger *slog.Logger
	// Services returns more services for node pnn (failover, event...),
	// hosted after the node and membership services; called at every
	// (re)start of the node.
	Services func(pnn uint32) []service.Service
	// Gates are the start-up gates those services open (node.Options).
	Gates []string
	// Tunables are every node's tunables at start (nil: the defaults).
	Tunables *config.Tunables
}

// Cluster is a set of running nodes; Start stops them at the end of the
// test.
type Cluster struct {
	t     testing.TB
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

// Start starts every node that is not deleted and waits until each one
// serves its socket.
func Start(t testing.TB, opts Options) *Cluster {
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
		n := config.Node{PNN: uint32(i), Line: i + 1, Deleted: a == ""}
		if !n.Deleted {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				t.Fatalf("clienttest: node %d: %v", i, err)
			}
			n.Addr = addr
		}
		cl.nodes = append(cl.nodes, n)
	}
	t.Cleanup(cl.stopAll)
	for _, n := range cl.nodes {
		if !n.Deleted {
			cl.Restart(n.PNN)
		}
	}
	return cl
}

// Socket returns the unix socket of node pnn's daemon.
func (cl *Cluster) Socket(pnn uint32) string {
	return filepath.Join(cl.dir, fmt.Sprintf("node%d.socket", pnn))
}

// Stop stops node pnn as a killed daemon would stop: its peers see it
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

// Running reports whether node pnn is up (it stops itself on a shutdown
// request).
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

// Restart starts node pnn again after Stop (or a shutdown request).
func (cl *Cluster) Restart(pnn uint32) {
	cl.t.Helper()
	cl.Stop(pnn)
	ctx, stop := context.WithCancel(context.Background())
	r := &runningNode{stop: stop, done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(r.done)
		cl.serve(ctx, stop, pnn, ready)
	}()
	if err := <-ready; err != nil {
		stop()
		<-r.done
		cl.t.Fatalf("clienttest: start node %d: %v", pnn, err)
	}
	cl.mu.Lock()
	cl.run[pnn] = r
	cl.mu.Unlock()
}

// serve runs one node until ctx ends: the transport first, then the
// services on it; on the way down the services stop before the
// transport, as in ctdbd.
func (cl *Cluster) serve(ctx context.Context, stop context.CancelFunc, pnn uint32, ready chan<- error) {
	log := cl.opts.Logger.With("pnn", pnn)
	var tnodes []transport.Node
	for _, n := range cl.nodes {
		tn := transport.Node{PNN: n.PNN, Deleted: n.Deleted}
		if n.Addr.IsValid() {
			tn.Addr = net.IP(n.Addr.AsSlice())
		}
		tnodes = append(tnodes, tn)
	}
	tr, err := transport.New(transport.Config{
		PNN: pnn, Nodes: tnodes, Port: cl.opts.Port, SocketPath: cl.Socket(pnn),
		Name: "gctdb clienttest " + client.Version, ReconnectMax: 100 * time.Millisecond, Logger: log,
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

	var mu sync.Mutex
	// INFO, as local_daemons.sh configures its daemons.
	level := logging.LevelInfo
	nodeSvc := node.New(node.Options{
		Shutdown: func(string) { stop() },
		GetDebug: func() string {
			mu.Lock()
			defer mu.Unlock()
			return level.String()
		},
		SetDebug: func(s string) error {
			lv, err := logging.ParseLevel(s)
			if err != nil {
				return err
			}
			mu.Lock()
			level = lv
			mu.Unlock()
			return nil
		},
		Version: client.Version,
		Gates:   cl.opts.Gates,
	})
	attach := func(svc proto.ServiceID) (rpc.Port, error) { return tr.Attach(svc) }
	services := []service.Service{nodeSvc, membership.New(membership.Config{Port: cl.opts.LivenessPort})}
	if cl.opts.Services != nil {
		services = append(services, cl.opts.Services(pnn)...)
	}
	host := service.NewHost(attach, service.Env{Logger: log, PNN: pnn, Nodes: cl.nodes, Tunables: cl.opts.Tunables}, services...)
	hostCtx, stopHost := context.WithCancel(context.Background())
	hostDone := make(chan error, 1)
	go func() { hostDone <- host.Run(hostCtx) }()
	select {
	case <-host.Ready():
		ready <- nil
	case err := <-hostDone:
		stopHost()
		ready <- err
		return
	}
	select {
	case <-ctx.Done():
		stopHost()
		<-hostDone
	case <-hostDone:
		stopHost()
	}
}
