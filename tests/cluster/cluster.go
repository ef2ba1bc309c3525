// Package cluster runs gctdb clusters whose nodes are network namespaces
// with real addresses: every node is a namespace with its own address on
// a shared bridge (in a hub namespace of its own), public addresses on
// the same subnet are really added and removed by 10.interface, and a
// client namespace reaches them as a client on the LAN would. A node can
// be killed (kill -9, optionally powered off), cut off the network (link
// down, or every packet dropped) and restored.
//
// Each cluster uses its own 198.18.N.0/24 (Options.Net), so tests run in
// parallel. Daemons run the binaries of tests/localdaemons.BinDir with
// configuration from tests/local_daemons.sh setup, in test mode (their
// files under a temporary CTDB_BASE), the event scripts of
// eventscripts/legacy with 10.interface enabled. Everything is removed
// in t.Cleanup; without root the tests skip.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/cluster/netns"
	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// Options describe a cluster.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Net picks the subnet 198.18.Net.0/24; every cluster of a test run
	// needs its own.
	Net byte
	// PublicAddrs is the number of public addresses, all on every node
	// (default 2 per node).
	PublicAddrs int
	// Tunables are written to every node's ctdb.tunables.
	Tunables map[string]uint32
	// SetupArgs are extra local_daemons.sh setup options.
	SetupArgs []string
	// CTDB runs Debian's CTDB 4.17 (/usr/sbin/ctdbd, /usr/bin/ctdb) with
	// the same configuration and event scripts instead of gctdb, for
	// side-by-side measurements; the test skips when it is missing.
	CTDB bool
}

// CTDB 4.17's binaries and helpers, as Debian installs them.
const (
	ctdbDaemon  = "/usr/sbin/ctdbd"
	ctdbTool    = "/usr/bin/ctdb"
	ctdbHelpers = "/usr/libexec/ctdb"
)

// Iface is every node's (and the client's) interface name.
const Iface = "eth0"

// ServerPort is where every node's test server listens.
const ServerPort = 7777

// Node is one node of the cluster.
type Node struct {
	PNN  int
	NS   *netns.NS
	Addr netip.Addr
	// Base is the node's CTDB_BASE.
	Base string

	mu   sync.Mutex
	pids []int
}

// Cluster is a running cluster in namespaces.
type Cluster struct {
	t      testing.TB
	Dir    string
	Bin    string
	Prefix netip.Prefix
	Nodes  []*Node
	// Public are the public addresses.
	Public []netip.Addr
	// Client is the client's namespace; ClientAddr its address.
	Client     *netns.NS
	ClientAddr netip.Addr
	hub        *netns.NS
	// ctdb is set when the nodes run Debian's CTDB.
	ctdb bool

	servers sync.WaitGroup
	stop    chan struct{}
}

// New builds the namespaces and the configuration; Start runs the
// daemons.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.PublicAddrs == 0 {
		opts.PublicAddrs = 2 * opts.Nodes
	}
	c := &Cluster{
		t:      t,
		Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, opts.Net, 0}), 24),
		stop:   make(chan struct{}),
	}
	c.hub = netns.New(t) // skips without root
	dir, err := os.MkdirTemp("", "gcl")
	if err != nil {
		t.Fatal(err)
	}
	c.Dir = dir
	c.Bin, c.ctdb = localdaemons.BinDir(t), opts.CTDB
	if opts.CTDB {
		c.Bin = ctdbBinDir(t, dir)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("GCTDB_KEEP_FAILED") != "" {
			t.Logf("keeping %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	c.hub.IP(t, "link", "add", "br0", "type", "bridge")
	c.hub.IP(t, "link", "set", "br0", "up")

	var nodesFile, pubFile strings.Builder
	for i := 0; i < opts.Nodes; i++ {
		n := &Node{PNN: i, NS: netns.New(t), Addr: c.host(byte(1 + i))}
		c.plug(n.NS, fmt.Sprintf("n%d", i), n.Addr)
		n.Base = filepath.Join(dir, fmt.Sprintf("node.%d", i))
		c.Nodes = append(c.Nodes, n)
		fmt.Fprintln(&nodesFile, n.Addr)
	}
	c.Client, c.ClientAddr = netns.New(t), c.host(200)
	c.plug(c.Client, "cl", c.ClientAddr)
	for i := 0; i < opts.PublicAddrs; i++ {
		a := c.host(byte(101 + i))
		c.Public = append(c.Public, a)
		fmt.Fprintf(&pubFile, "%s/24 %s\n", a, Iface)
	}
	c.setup(nodesFile.String(), pubFile.String(), opts)
	t.Cleanup(c.cleanup)
	return c
}

func (c *Cluster) host(b byte) netip.Addr {
	a := c.Prefix.Addr().As4()
	a[3] = b
	return netip.AddrFrom4(a)
}

// plug connects ns to the bridge as eth0 with addr.
func (c *Cluster) plug(ns *netns.NS, hubName string, addr netip.Addr) {
	netns.Pair(c.t, c.hub, hubName, ns, Iface)
	c.hub.IP(c.t, "link", "set", hubName, "master", "br0")
	c.hub.IP(c.t, "link", "set", hubName, "up")
	ns.IP(c.t, "addr", "add", netip.PrefixFrom(addr, 24).String(), "dev", Iface)
	ns.IP(c.t, "link", "set", Iface, "up")
	ns.WaitUp(c.t, Iface)
}

// setup writes every node's configuration with local_daemons.sh and
// enables 10.interface.
func (c *Cluster) setup(nodes, public string, opts Options) {
	nodesPath := filepath.Join(c.Dir, "nodes.in")
	pubPath := filepath.Join(c.Dir, "public_addresses.in")
	for p, data := range map[string]string{nodesPath: nodes, pubPath: public} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	args := append([]string{c.Dir, "setup", "-N", nodesPath, "-P", pubPath}, opts.SetupArgs...)
	cmd := exec.Command(filepath.Join(localdaemons.RepoDir(), "tests", "local_daemons.sh"), args...)
	cmd.Env = c.implEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("local_daemons.sh setup: %v\n%s", err, out)
	}
	var tun strings.Builder
	for name, v := range opts.Tunables {
		fmt.Fprintf(&tun, "%s=%d\n", name, v)
	}
	for _, n := range c.Nodes {
		if err := os.Chmod(filepath.Join(n.Base, "events", "legacy", "10.interface.script"), 0o755); err != nil {
			c.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.Base, "ctdb.tunables"), []byte(tun.String()), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

// Env is the environment of commands run for node i.
func (c *Cluster) Env(i int) []string {
	return append(c.implEnv(), "CTDB_TEST_MODE=yes", "CTDB_BASE="+c.Nodes[i].Base)
}

// implEnv selects the implementation for local_daemons.sh and the
// daemons: gctdb's binaries, or CTDB's with its helpers.
func (c *Cluster) implEnv() []string {
	env := append(os.Environ(), "PATH="+c.Bin+":"+os.Getenv("PATH"))
	if c.ctdb {
		return append(env, "LOCAL_DAEMONS_USE_PATH=1", "CTDB_TEST_HELPER_BINDIR="+ctdbHelpers)
	}
	return append(env, "GCTDB_BINDIR="+c.Bin)
}

// ctdbBinDir is a directory with CTDB's ctdbd and ctdb only, to put
// first on PATH.
func ctdbBinDir(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(ctdbDaemon); err != nil {
		t.Skip("CTDB 4.17 is not installed (apt-get install ctdb)")
	}
	bin := filepath.Join(dir, "ctdb-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"ctdbd": ctdbDaemon, "ctdb": ctdbTool} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// Socket is node i's daemon socket; unix sockets are reachable from any
// namespace.
func (c *Cluster) Socket(i int) string { return filepath.Join(c.Nodes[i].Base, "run", "ctdbd.socket") }

// Start starts the daemons of nodes (all when none given) inside their
// namespaces, in parallel; each returns once its daemon is ready.
func (c *Cluster) Start(nodes ...int) {
	c.t.Helper()
	if len(nodes) == 0 {
		for i := range c.Nodes {
			nodes = append(nodes, i)
		}
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for k, i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.Nodes[i]
			cmd := exec.Command("ip", "netns", "exec", n.NS.Name, filepath.Join(c.Bin, "ctdbd"))
			cmd.Env = c.Env(i)
			out, err := cmd.CombinedOutput()
			if pid := localdaemons.ReadPID(filepath.Join(n.Base, "run", "ctdbd.pid")); pid > 0 {
				n.mu.Lock()
				n.pids = append(n.pids, pid)
				n.mu.Unlock()
			}
			if err != nil {
				errs[k] = fmt.Errorf("start node %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
}

// PID is node i's running ctdbd, 0 when none.
func (c *Cluster) PID(i int) int {
	pid := localdaemons.ReadPID(filepath.Join(c.Nodes[i].Base, "run", "ctdbd.pid"))
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

// Kill kills node i's daemon with SIGKILL and waits until it is gone.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	n.mu.Lock()
	pids := slices.Clone(n.pids)
	n.mu.Unlock()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range pids {
		if !localdaemons.WaitGone(pid, 10*time.Second) {
			c.t.Fatalf("node %d (pid %d) survived SIGKILL", i, pid)
		}
	}
	// CTDB's event daemon lingers for a moment after its ctdbd; a new
	// ctdbd cannot start before it is gone.
	for _, helper := range []string{"eventd.pid", "transportd.pid"} {
		if pid := localdaemons.ReadPID(filepath.Join(n.Base, "run", helper)); pid > 0 {
			localdaemons.WaitGone(pid, 10*time.Second)
		}
	}
}

// PowerOff is a node dying as a whole: its daemon is killed and, a moment
// later, its network goes (the addresses it had stop answering).
func (c *Cluster) PowerOff(i int) {
	c.t.Helper()
	c.Kill(i)
	c.Nodes[i].NS.IP(c.t, "link", "set", Iface, "down")
}

// PowerOn brings a powered-off node's network back (without addresses:
// a rebooted machine has none) and starts its daemon.
func (c *Cluster) PowerOn(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	for _, a := range c.Public {
		n.NS.IP(c.t, "addr", "flush", "to", a.String()+"/32")
	}
	n.NS.IP(c.t, "link", "set", Iface, "up")
	n.NS.WaitUp(c.t, Iface)
	c.Start(i)
}

// Cut modes.
const (
	// CutLinkDown pulls the cable: the bridge port goes down, the node
	// sees its carrier go.
	CutLinkDown = "down"
	// CutDrop drops every packet in and out of the node, its link staying
	// up, as a broken switch port does.
	CutDrop = "drop"
)

// Cut cuts node i off the network.
func (c *Cluster) Cut(i int, mode string) {
	c.t.Helper()
	switch mode {
	case CutLinkDown:
		c.hub.IP(c.t, "link", "set", fmt.Sprintf("n%d", i), "down")
	case CutDrop:
		// IP and ARP both: a cut-off node must not answer for its
		// addresses either.
		for _, family := range []string{"inet", "arp"} {
			c.nft(i, "add table "+family+" gctdbcut",
				"add chain "+family+" gctdbcut in { type filter hook input priority -300 ; }",
				"add chain "+family+" gctdbcut out { type filter hook output priority -300 ; }",
				"add rule "+family+" gctdbcut in iifname "+Iface+" drop",
				"add rule "+family+" gctdbcut out oifname "+Iface+" drop")
		}
	default:
		c.t.Fatalf("unknown cut mode %q", mode)
	}
}

// Restore undoes Cut.
func (c *Cluster) Restore(i int, mode string) {
	c.t.Helper()
	switch mode {
	case CutLinkDown:
		c.hub.IP(c.t, "link", "set", fmt.Sprintf("n%d", i), "up")
		c.Nodes[i].NS.WaitUp(c.t, Iface)
	case CutDrop:
		c.nft(i, "delete table inet gctdbcut", "delete table arp gctdbcut")
	}
}

func (c *Cluster) nft(i int, cmds ...string) {
	c.t.Helper()
	for _, cmd := range cmds {
		args := append([]string{"netns", "exec", c.Nodes[i].NS.Name, "nft"}, strings.Fields(cmd)...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			c.t.Fatalf("nft %s: %v: %s", cmd, err, out)
		}
	}
}

// Holders returns the nodes that have addr on an interface, by asking
// the kernels, not the daemons.
func (c *Cluster) Holders(addr netip.Addr) []int {
	var out []int
	for _, n := range c.Nodes {
		o, err := exec.Command("ip", "-n", n.NS.Name, "-o", "addr", "show", "to", addr.String()+"/32").Output()
		if err == nil && len(bytes.TrimSpace(o)) > 0 {
			out = append(out, n.PNN)
		}
	}
	return out
}

// HoldersAll maps every public address to the nodes that have it.
func (c *Cluster) HoldersAll() map[netip.Addr][]int {
	out := make(map[netip.Addr][]int, len(c.Public))
	for _, a := range c.Public {
		out[a] = c.Holders(a)
	}
	return out
}

// EachOnce reports whether every public address is on exactly one of
// the nodes up (a powered-off node may still have some on its dead
// interface).
func (c *Cluster) EachOnce(up []int) bool {
	for _, h := range c.HoldersAll() {
		h = slices.DeleteFunc(h, func(i int) bool { return !slices.Contains(up, i) })
		if len(h) != 1 {
			return false
		}
	}
	return true
}

// Addrs describes every node's interface addresses, for failure messages.
func (c *Cluster) Addrs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		o, _ := exec.Command("ip", "-n", n.NS.Name, "-o", "-4", "addr", "show", "dev", Iface).Output()
		fmt.Fprintf(&b, "node %d (%s):\n%s", n.PNN, c.MAC(n.PNN), o)
	}
	return b.String()
}

// Result is a finished command.
type Result struct {
	Stdout, Stderr string
	Exit           int
}

// Ctdb runs the ctdb tool for node i.
func (c *Cluster) Ctdb(i int, args ...string) Result {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.Bin, "ctdb"), args...)
	cmd.Env = c.Env(i)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("run ctdb: %v", err)
	}
	return r
}

// Leader is the leader's PNN as node i's `ctdb leader` prints it.
func (c *Cluster) Leader(i int) int {
	c.t.Helper()
	r := c.Ctdb(i, "leader")
	pnn, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if r.Exit != 0 || err != nil {
		c.t.Fatalf("ctdb leader on node %d: exit %d: %s%s", i, r.Exit, r.Stdout, r.Stderr)
	}
	return pnn
}

// WaitHealthy waits until every node in up sees every node in up OK and
// RUNNING.
func (c *Cluster) WaitHealthy(up []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.healthy(up)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) healthy(up []int) error {
	if c.ctdb {
		return c.healthyCLI(up)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, i := range up {
		cl, err := client.Connect(ctx, c.Socket(i))
		if err != nil {
			return err
		}
		m, err := cl.NodeMap(ctx, client.Local)
		if err == nil {
			var rs proto.Runstate
			rs, err = cl.Runstate(ctx, client.Local)
			if err == nil && rs != proto.RunstateRunning {
				err = fmt.Errorf("node %d is %s", i, rs)
			}
		}
		cl.Close()
		if err != nil {
			return err
		}
		for _, j := range up {
			if f := m.Nodes[j].Flags; f != 0 {
				return fmt.Errorf("node %d sees node %d %s", i, j, proto.NodeFlagsString(f))
			}
		}
	}
	return nil
}

// healthyCLI is healthy through the ctdb tool, for CTDB's daemons.
func (c *Cluster) healthyCLI(up []int) error {
	for _, i := range up {
		if r := c.Ctdb(i, "runstate", "running"); r.Exit != 0 {
			return fmt.Errorf("node %d: %s%s", i, r.Stdout, r.Stderr)
		}
		r := c.Ctdb(i, "-X", "status")
		if r.Exit != 0 {
			return fmt.Errorf("node %d: ctdb status: %s", i, r.Stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n")[1:] {
			f := strings.Split(strings.Trim(line, "|"), "|")
			pnn, err := strconv.Atoi(f[0])
			if err != nil || len(f) < 10 {
				return fmt.Errorf("node %d: ctdb -X status: %q", i, line)
			}
			if slices.Contains(up, pnn) && slices.ContainsFunc(f[2:9], func(v string) bool { return v != "0" }) {
				return fmt.Errorf("node %d sees node %d: %s", i, pnn, line)
			}
		}
	}
	return nil
}

// All lists every node.
func (c *Cluster) All() []int {
	out := make([]int, len(c.Nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

// cleanup kills every daemon, stops the servers and prints the logs of a
// failed test; the namespaces go in their own cleanups.
func (c *Cluster) cleanup() {
	close(c.stop)
	for _, n := range c.Nodes {
		n.mu.Lock()
		for _, pid := range n.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range n.pids {
			localdaemons.WaitGone(pid, 10*time.Second)
		}
		n.mu.Unlock()
	}
	c.servers.Wait()
	if c.t.Failed() {
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(filepath.Join(n.Base, "log.ctdb"))
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			c.t.Logf("----- log of node %d -----\n%s", n.PNN, strings.Join(lines, "\n"))
		}
	}
}

// StartServers runs a TCP server on every node, listening on all of the
// node's addresses at ServerPort: it greets each client with "node N\n"
// and then echoes, so a client learns which node answers an address.
func (c *Cluster) StartServers() {
	c.t.Helper()
	for _, n := range c.Nodes {
		var ln net.Listener
		if err := n.NS.Do(func() (err error) {
			ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", ServerPort))
			return err
		}); err != nil {
			c.t.Fatal(err)
		}
		c.servers.Add(2)
		go func() {
			defer c.servers.Done()
			<-c.stop
			ln.Close()
		}()
		go func() {
			defer c.servers.Done()
			c.serve(ln, n.PNN)
		}()
	}
}

func (c *Cluster) serve(ln net.Listener, pnn int) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conns.Add(2)
		go func() {
			defer conns.Done()
			<-c.stop
			conn.Close()
		}()
		go func() {
			defer conns.Done()
			fmt.Fprintf(conn, "node %d\n", pnn)
			buf := make([]byte, 512)
			for {
				k, err := conn.Read(buf)
				if err != nil {
					return
				}
				if _, err := conn.Write(buf[:k]); err != nil {
					return
				}
			}
		}()
	}
}

// Dial connects from the client namespace to addr's test server and
// returns the connection and the node that answered.
func (c *Cluster) Dial(addr netip.Addr, timeout time.Duration) (net.Conn, int, error) {
	var conn net.Conn
	d := net.Dialer{Timeout: timeout}
	if err := c.Client.Do(func() (err error) {
		conn, err = d.Dial("tcp4", netip.AddrPortFrom(addr, ServerPort).String())
		return err
	}); err != nil {
		return nil, -1, err
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	line := make([]byte, 0, 16)
	b := make([]byte, 1)
	for len(line) < 16 {
		if _, err := conn.Read(b); err != nil {
			conn.Close()
			return nil, -1, err
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	conn.SetReadDeadline(time.Time{})
	pnn, err := strconv.Atoi(strings.TrimPrefix(string(line), "node "))
	if err != nil {
		conn.Close()
		return nil, -1, fmt.Errorf("greeting %q: %w", line, err)
	}
	return conn, pnn, nil
}

// Answers reports which node answers addr over TCP, -1 when none does
// within timeout.
func (c *Cluster) Answers(addr netip.Addr, timeout time.Duration) int {
	conn, pnn, err := c.Dial(addr, timeout)
	if err != nil {
		return -1
	}
	conn.Close()
	return pnn
}
