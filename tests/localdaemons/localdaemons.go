// Package localdaemons runs real gctdb clusters for integration tests: it
// drives tests/local_daemons.sh (the operator-facing harness, with CTDB's
// commands and options) against binaries built once per test process,
// remembers every daemon's PID, and kills what is left when the test
// ends.
//
// Tests that run in parallel must not share addresses: each cluster gets
// its own 127.x.y.0/24 prefix (Options.Prefix).
//
// Setting GCTDB_TEST_TRANSPORT=transportd runs every cluster with a
// separate transportd process per node (local_daemons.sh setup -T), so
// the same suite covers both transport modes.
package localdaemons

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Binaries built for the test process.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// RepoDir returns the repository root.
func RepoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// commands maps binary names to packages.
var commands = map[string]string{
	"ctdbd":                   "./ctdbd",
	"ctdb_mutex_fcntl_helper": "./ctdbd/mutexhelper",
	"ctdb":                    "./ctdb",
	"onnode":                  "./ctdb/onnode",
	"transportd":              "./transportd",
	"smbd":                    "./smbd",
	"smbpasswd":               "./smbd/smbpasswd",

	"fetch_ring":               "./tests/src/fetch_ring",
	"fetch_readonly":           "./tests/src/fetch_readonly",
	"message_ring":             "./tests/src/message_ring",
	"tunnel_test":              "./tests/src/tunnel_test",
	"transaction_loop":         "./tests/src/transaction_loop",
	"update_record":            "./tests/src/update_record",
	"update_record_persistent": "./tests/src/update_record_persistent",
	"dummy_client":             "./tests/src/dummy_client",
	"ctdb-db-test":             "./tests/src/ctdb-db-test",
}

// BinDir returns a directory with every gctdb binary: GCTDB_BINDIR if
// set (make test builds bin/ first), otherwise a fresh build for this
// test process.
func BinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("GCTDB_BINDIR"); d != "" {
		return d
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "gctdb-bin-")
		if buildErr != nil {
			return
		}
		for name, pkg := range commands {
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, name), pkg)
			cmd.Dir = RepoDir()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building binaries: %v", buildErr)
	}
	return buildDir
}

// Options describe a cluster.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Prefix is the cluster's own 127.x.y (node i gets 127.x.y.(i+1)).
	Prefix string
	// SetupArgs are extra local_daemons.sh setup options (-F, -R, -r N,
	// -C "cluster lock", -P file...).
	SetupArgs []string
	// Env is added to every daemon's environment.
	Env []string
	// NodeEnv is added to one node's environment.
	NodeEnv map[int][]string
	// SMB runs an smbd beside every ctdbd, as local_daemons.sh does by
	// default; tests of the cluster alone leave it off (setup -s).
	SMB bool
}

// Cluster is a set of local daemons.
type Cluster struct {
	t      testing.TB
	Dir    string
	Bin    string
	Nodes  int
	Prefix string
	opts   Options

	mu   sync.Mutex
	pids map[int]map[int]bool // node -> PIDs ever started
}

// New sets up a cluster (local_daemons.sh setup) without starting it.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Prefix == "" {
		t.Fatal("localdaemons: every cluster needs its own address prefix")
	}
	c := &Cluster{
		t:      t,
		Dir:    shortTempDir(t),
		Bin:    BinDir(t),
		Nodes:  opts.Nodes,
		Prefix: opts.Prefix,
		opts:   opts,
		pids:   make(map[int]map[int]bool),
	}
	var nodes strings.Builder
	for i := 0; i < opts.Nodes; i++ {
		fmt.Fprintf(&nodes, "%s\n", c.Addr(i))
	}
	nodesFile := filepath.Join(c.Dir, "nodes.in")
	if err := os.WriteFile(nodesFile, []byte(nodes.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"setup", "-N", nodesFile}
	if os.Getenv("GCTDB_TEST_TRANSPORT") == "transportd" {
		args = append(args, "-T")
	}
	if !opts.SMB {
		args = append(args, "-s")
	}
	args = append(args, opts.SetupArgs...)
	if out, err := c.script(args...); err != nil {
		t.Fatalf("local_daemons.sh setup: %v\n%s", err, out)
	}
	t.Cleanup(c.cleanup)
	return c
}

// shortTempDir keeps unix socket paths well under the 108-byte limit.
func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "ld")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("GCTDB_KEEP_FAILED") != "" {
			t.Logf("keeping %s", d)
			return
		}
		os.RemoveAll(d)
	})
	return d
}

// Addr is node i's address.
func (c *Cluster) Addr(i int) string { return fmt.Sprintf("%s.%d", c.Prefix, i+1) }

// Base is node i's CTDB_BASE.
func (c *Cluster) Base(i int) string { return filepath.Join(c.Dir, fmt.Sprintf("node.%d", i)) }

// Socket is node i's daemon socket.
func (c *Cluster) Socket(i int) string { return filepath.Join(c.Base(i), "run", "ctdbd.socket") }

func (c *Cluster) env(extra ...string) []string {
	env := append(os.Environ(), "GCTDB_BINDIR="+c.Bin, "CTDB_TEST_MODE=yes")
	env = append(env, c.opts.Env...)
	return append(env, extra...)
}

// NodeEnv is the environment of a command run "on" node i.
func (c *Cluster) NodeEnv(i int) []string {
	env := c.env("CTDB_BASE="+c.Base(i), "PATH="+c.Bin+":"+os.Getenv("PATH"))
	return append(env, c.opts.NodeEnv[i]...)
}

func (c *Cluster) script(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(RepoDir(), "tests", "local_daemons.sh"), append([]string{c.Dir}, args...)...)
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Script runs local_daemons.sh with the given command and arguments.
func (c *Cluster) Script(args ...string) (string, error) { return c.script(args...) }

// Start starts nodes (all when none given) and records their PIDs. Each
// node starts with its own NodeEnv, so they start one by one; use
// StartAll for the harness's parallel start.
func (c *Cluster) Start(nodes ...int) {
	c.t.Helper()
	if len(nodes) == 0 {
		c.StartAll()
		return
	}
	for _, n := range nodes {
		cmd := exec.Command("sh", "-c", `if grep -q "^[[:space:]]*transport = transportd" "$CTDB_BASE/ctdb.conf" ; then transportd || exit 1 ; fi ; ctdbd || exit 1 ; if [ -f "$CTDB_BASE/smb.conf" ] ; then smbd -s "$CTDB_BASE/smb.conf" ; fi`)
		cmd.Env = c.NodeEnv(n)
		out, err := cmd.CombinedOutput()
		// Record what did start even on failure, so cleanup kills it.
		c.recordPIDs(n)
		if err != nil {
			c.t.Fatalf("start node %d: %v\n%s", n, err, out)
		}
	}
}

// StartAll runs `local_daemons.sh start all`.
func (c *Cluster) StartAll() {
	c.t.Helper()
	if len(c.opts.NodeEnv) > 0 {
		for i := 0; i < c.Nodes; i++ {
			c.Start(i)
		}
		return
	}
	out, err := c.script("start", "all")
	for i := 0; i < c.Nodes; i++ {
		c.recordPIDs(i)
	}
	if err != nil {
		c.t.Fatalf("local_daemons.sh start all: %v\n%s", err, out)
	}
}

func (c *Cluster) recordPIDs(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pids[n] == nil {
		c.pids[n] = make(map[int]bool)
	}
	for _, app := range []string{"ctdbd", "transportd", "smbd"} {
		if pid := ReadPID(filepath.Join(c.Base(n), "run", app+".pid")); pid > 0 {
			c.pids[n][pid] = true
		}
	}
}

// ReadPID reads a pid file; 0 when there is none.
func ReadPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// PID returns node i's ctdbd PID (0 when not running).
func (c *Cluster) PID(i int) int {
	pid := ReadPID(filepath.Join(c.Base(i), "run", "ctdbd.pid"))
	if pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

// Signal sends sig to node i's ctdbd.
func (c *Cluster) Signal(i int, sig syscall.Signal) {
	c.t.Helper()
	pid := c.PID(i)
	if pid == 0 {
		c.t.Fatalf("node %d is not running", i)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		c.t.Fatalf("signal node %d: %v", i, err)
	}
}

// Kill kills node i's daemons with SIGKILL and waits until they are gone.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	var pids []int
	for pid := range c.pids[i] {
		pids = append(pids, pid)
	}
	c.mu.Unlock()
	for _, pid := range pids {
		c.kill(pid)
	}
	for _, pid := range pids {
		WaitGone(pid, 10*time.Second)
	}
	c.mu.Lock()
	for _, pid := range pids {
		delete(c.pids[i], pid)
	}
	c.mu.Unlock()
}

// kill sends SIGKILL to pid if it still runs one of the cluster's
// binaries: a daemon that died long ago may have left its PID to an
// unrelated process.
func (c *Cluster) kill(pid int) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return
	}
	bin, err := filepath.EvalSymlinks(c.Bin)
	if err != nil {
		return
	}
	if abs, err := filepath.Abs(bin); err != nil || filepath.Dir(exe) != abs {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// Stop runs `local_daemons.sh stop` for node i (ctdb shutdown).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	pid := c.PID(i)
	if out, err := c.script("stop", strconv.Itoa(i)); err != nil {
		c.t.Fatalf("stop node %d: %v\n%s", i, err, out)
	}
	if pid > 0 && !WaitGone(pid, 20*time.Second) {
		c.t.Fatalf("node %d (pid %d) did not exit after ctdb shutdown", i, pid)
	}
}

// WaitGone waits until pid no longer exists (or is a zombie).
func WaitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func (c *Cluster) cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, set := range c.pids {
		for pid := range set {
			c.kill(pid)
		}
	}
	for _, set := range c.pids {
		for pid := range set {
			WaitGone(pid, 10*time.Second)
		}
	}
	if c.t.Failed() {
		for i := 0; i < c.Nodes; i++ {
			log, _ := os.ReadFile(filepath.Join(c.Base(i), "log.ctdb"))
			c.t.Logf("----- log of node %d -----\n%s", i, tail(string(log), 60))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Result is a finished command.
type Result struct {
	Stdout, Stderr string
	Exit           int
}

// CtdbOK runs the ctdb tool for node i and fails t unless it succeeds;
// it returns the output. t is the caller's test (a subtest's own, not
// the cluster's).
func (c *Cluster) CtdbOK(t testing.TB, i int, args ...string) string {
	t.Helper()
	r := c.Ctdb(i, args...)
	if r.Exit != 0 {
		t.Fatalf("ctdb %v on node %d: exit %d: %s%s", args, i, r.Exit, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// All lists every node's number.
func (c *Cluster) All() []int {
	out := make([]int, c.Nodes)
	for i := range out {
		out[i] = i
	}
	return out
}

// Run runs a command in node i's environment.
func (c *Cluster) Run(i int, name string, args ...string) Result {
	c.t.Helper()
	path := name
	if !strings.Contains(name, "/") {
		if p, err := exec.LookPath(filepath.Join(c.Bin, name)); err == nil {
			path = p
		}
	}
	// exec.Command remembers a failed PATH lookup of a bare name, so the
	// path is chosen first.
	cmd := exec.Command(path, args...)
	cmd.Env = c.NodeEnv(i)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("run %s: %v", name, err)
	}
	return r
}

// Ctdb runs the ctdb CLI on node i.
func (c *Cluster) Ctdb(i int, args ...string) Result {
	c.t.Helper()
	return c.Run(i, "ctdb", args...)
}

// Client connects to node i's daemon; the connection is closed at the end
// of the test.
func (c *Cluster) Client(i int) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Socket(i))
	if err != nil {
		c.t.Fatalf("connect to node %d: %v", i, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// NodeMap asks node i for its node map over a fresh connection.
func (c *Cluster) NodeMap(i int) (*proto.NodeMap, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Socket(i))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var m proto.NodeMap
	if err := cl.Control(ctx, client.Local, proto.ServiceNode, proto.OpGetNodeMap, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// FlagsSeenBy returns node `of`'s flags as node `by` sees them.
func (c *Cluster) FlagsSeenBy(by, of int) (uint32, error) {
	m, err := c.NodeMap(by)
	if err != nil {
		return 0, err
	}
	for _, n := range m.Nodes {
		if int(n.PNN) == of {
			return n.Flags, nil
		}
	}
	return 0, fmt.Errorf("node %d not in node %d's map", of, by)
}

// WaitFlags waits until every running node in `by` sees node `of` with
// flags satisfying ok, and returns how long it took.
func (c *Cluster) WaitFlags(by []int, of int, timeout time.Duration, ok func(uint32) bool) (time.Duration, error) {
	start := time.Now()
	for {
		all := true
		var last error
		for _, b := range by {
			f, err := c.FlagsSeenBy(b, of)
			if err != nil || !ok(f) {
				all, last = false, err
				if err == nil {
					last = fmt.Errorf("node %d sees node %d with flags 0x%x", b, of, f)
				}
				break
			}
		}
		if all {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), last
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitAllOK waits until every node sees every node with no flags, and
// the recovery that follows has taken every node in: all are RUNNING,
// in recovery mode NORMAL and in the same generation, as CTDB's tests
// wait for a healthy cluster.
func (c *Cluster) WaitAllOK(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	all := make([]int, c.Nodes)
	for i := range all {
		all[i] = i
	}
	for of := 0; of < c.Nodes; of++ {
		left := timeout - time.Since(start)
		if _, err := c.WaitFlags(all, of, left, func(f uint32) bool { return f == 0 }); err != nil {
			return time.Since(start), err
		}
	}
	var last error
	for {
		if last = c.recovered(all); last == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("nodes not recovered together within %v: %w", timeout, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recovered reports why the nodes are not all RUNNING, in recovery mode
// NORMAL and in one generation (nil when they are).
func (c *Cluster) recovered(nodes []int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var gen uint32
	for k, i := range nodes {
		cl, err := client.Connect(ctx, c.Socket(i))
		if err != nil {
			return err
		}
		rs, err := cl.Runstate(ctx, client.Local)
		if err == nil && rs != proto.RunstateRunning {
			err = fmt.Errorf("node %d is in runstate %v", i, rs)
		}
		var mode uint32
		if err == nil {
			mode, err = cl.RecoveryMode(ctx, client.Local)
		}
		if err == nil && mode != proto.RecModeNormal {
			err = fmt.Errorf("node %d is recovering", i)
		}
		var v *proto.VNNMap
		if err == nil {
			v, err = cl.VNNMap(ctx, client.Local)
		}
		cl.Close()
		if err != nil {
			return err
		}
		if k > 0 && v.Generation != gen {
			return fmt.Errorf("node %d is in generation %d, not %d", i, v.Generation, gen)
		}
		gen = v.Generation
	}
	return nil
}
