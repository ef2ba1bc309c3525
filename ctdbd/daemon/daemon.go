// Package daemon holds the main programs of ctdbd and transportd: it
// resolves CTDB's paths and configuration files, detaches from the
// terminal as CTDB's ctdbd does, owns the pid file, starts the transport
// (embedded, or a connection to an external transportd) and hosts every
// service until it is told to stop by SIGTERM or `ctdb shutdown`.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/internal/banning"
	"gctdb/ctdbd/internal/cluster"
	"gctdb/ctdbd/internal/config"
	"gctdb/ctdbd/internal/database"
	"gctdb/ctdbd/internal/eventd"
	"gctdb/ctdbd/internal/failover"
	"gctdb/ctdbd/internal/logging"
	"gctdb/ctdbd/internal/membership"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/recoveryd"
	"gctdb/ctdbd/internal/service"
	"gctdb/ctdbd/internal/vacuumd"
	"gctdb/eventscripts"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
	"gctdb/transportd/transport"
)

// Options are ctdbd's command-line settings.
type Options struct {
	// Interactive keeps the daemon in the foreground and logs to stderr
	// (ctdbd -i).
	Interactive bool
	// Env looks up the environment; nil means the process environment.
	Env config.Env
}

// readyFD is the descriptor a detached daemon reports readiness on.
const readyFD = 3

// childMarker tells the re-executed process it is the detached daemon.
const childMarker = "GCTDB_CTDBD_DETACHED"

// Main runs ctdbd and returns its exit status.
func Main(opts Options) int { return serve(opts, "ctdbd", runCtdbd) }

// TransportdMain runs transportd and returns its exit status.
func TransportdMain(opts Options) int { return serve(opts, "transportd", runTransportd) }

// body is a daemon's main loop: it calls ready once it serves, and
// returns when ctx ends or it fails.
type body func(ctx context.Context, st *setup, logger *logging.Logger, stop context.CancelCauseFunc, ready func(), reload <-chan struct{}) error

// serve detaches unless interactive, then loads the configuration, sets
// up logging, the pid file and signals, and runs body.
func serve(opts Options, app string, b body) int {
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	var readyPipe io.WriteCloser
	if !opts.Interactive {
		if _, child := opts.Env(childMarker); !child {
			return detach()
		}
		// Not inherited by anything the daemon starts (the cluster lock
		// helper, event scripts): the parent waits for this pipe.
		unix.CloseOnExec(readyFD)
		readyPipe = os.NewFile(readyFD, "ready")
	}
	report := func(msg string) {
		if readyPipe != nil {
			io.WriteString(readyPipe, msg+"\n")
			readyPipe.Close()
			readyPipe = nil
		}
	}
	err := lifecycle(opts, app, b, func() { report("ok") })
	if err != nil {
		report(err.Error())
		fmt.Fprintf(os.Stderr, "%s: %v\n", app, err)
		return 1
	}
	return 0
}

func lifecycle(opts Options, app string, b body, ready func()) error {
	st, err := loadSetup(opts.Env)
	if err != nil {
		return err
	}
	logger, err := newLogger(st, app, opts.Interactive)
	if err != nil {
		return err
	}
	defer logger.Close()
	log := logger.Logger
	for _, w := range st.cfg.Warnings() {
		log.Warn(w)
	}
	if err := os.MkdirAll(st.paths.RunDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", st.paths.RunDir, err)
	}
	pid, err := createPIDFile(filepath.Join(st.paths.RunDir, app+".pid"))
	if err != nil {
		return err
	}
	defer pid.remove()

	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	sigs := make(chan os.Signal, 4)
	reload := make(chan struct{}, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == syscall.SIGHUP {
					// SIGHUP reopens the log (after rotation) and reloads
					// the reloadable options of ctdb.conf.
					if err := logger.Reopen(); err != nil {
						log.Error("reopen log", "err", err)
					}
					select {
					case reload <- struct{}{}:
					default:
					}
					continue
				}
				log.Log(ctx, logging.SlogNotice, "received signal, shutting down", "signal", s.String())
				stop(fmt.Errorf("signal %s", s))
				return
			}
		}
	}()
	defer wg.Wait()
	defer stop(nil)

	log.Log(ctx, logging.SlogNotice, "starting", "program", app, "version", client.Version, "pnn", st.pnn, "address", st.addr.String(), "pid", os.Getpid())
	err = b(ctx, st, logger, stop, ready, reload)
	log.Log(context.Background(), logging.SlogNotice, "shut down", "program", app, "reason", context.Cause(ctx))
	return err
}

// detach re-executes ctdbd in a new session with its output detached, and
// waits until the child reports that it is ready (or why it failed), so
// that `ctdbd` returns like CTDB's only once the daemon is up.
func detach() int {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctdbd: %v\n", err)
		return 1
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctdbd: %v\n", err)
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctdbd: %v\n", err)
		return 1
	}
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), childMarker+"=1"),
		Files: []*os.File{devnull, devnull, devnull, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	p, err := os.StartProcess(exe, os.Args, attr)
	w.Close()
	devnull.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ctdbd: start daemon: %v\n", err)
		return 1
	}
	p.Release()
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	r.Close()
	if s := strings.TrimSpace(string(msg)); s != "ok" {
		if s == "" {
			s = "daemon exited before it was ready"
		}
		fmt.Fprintf(os.Stderr, "ctdbd: %s\n", s)
		return 1
	}
	return 0
}

// setup is everything read from the configuration files.
type setup struct {
	paths    config.Paths
	cfg      *config.Config
	nodes    []config.Node
	tunables config.Tunables
	pnn      uint32
	addr     netip.Addr
	// minVersion and maxVersion are test overrides of the protocol
	// versions offered (zero: this build's range).
	minVersion, maxVersion uint16
}

func loadSetup(env config.Env) (*setup, error) {
	paths, err := config.ResolvePaths(env)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadPaths(paths)
	if err != nil {
		return nil, err
	}
	nodes, err := config.ReadNodes(paths.NodesFile())
	if err != nil {
		return nil, err
	}
	tunables, err := config.LoadTunables(paths.TunablesFile(), config.DefaultTunables())
	if err != nil {
		return nil, err
	}
	isLocal, err := config.LocalAddrs()
	if err != nil {
		return nil, err
	}
	addr, _ := cfg.NodeAddress()
	pnn, err := config.FindPNN(nodes, addr, isLocal)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.PNN == pnn {
			addr = n.Addr
		}
	}
	lo, hi, err := testProtocolVersions(env)
	if err != nil {
		return nil, err
	}
	return &setup{paths: paths, cfg: cfg, nodes: nodes, tunables: tunables, pnn: pnn, addr: addr, minVersion: lo, maxVersion: hi}, nil
}

func newLogger(st *setup, app string, interactive bool) (*logging.Logger, error) {
	loc := st.cfg.LogLocation()
	if interactive {
		loc = logging.Location{Kind: logging.KindStderr}
	}
	host := ""
	if st.paths.TestMode {
		host = filepath.Base(st.paths.ConfigDir)
	}
	return logging.New(logging.Options{Location: loc, Level: st.cfg.LogLevel(), App: app, Hostname: host})
}

func runCtdbd(ctx context.Context, st *setup, logger *logging.Logger, stop context.CancelCauseFunc, ready func(), reload <-chan struct{}) error {
	log := logger.Logger
	for _, d := range []string{st.cfg.VolatileDBDir(), st.cfg.PersistentDBDir(), st.cfg.StateDBDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	attach, tr, err := startTransport(ctx, st, log)
	if err != nil {
		return err
	}
	defer tr.stop()

	nodeSvc := node.New(node.Options{
		Shutdown: func(reason string) { stop(errors.New(reason)) },
		GetDebug: func() string { return logger.Level().String() },
		SetDebug: func(s string) error {
			lv, err := logging.ParseLevel(s)
			if err != nil {
				return err
			}
			return logger.SetLevel(lv)
		},
		Version: client.Version,
		Gates:   []string{node.GateSetup, node.GateFirstRecovery, node.GateStartup},
	})
	host := service.NewHost(attach, service.Env{
		Logger:   log,
		PNN:      st.pnn,
		Nodes:    st.nodes,
		Config:   st.cfg,
		Paths:    st.paths,
		Tunables: &st.tunables,
	},
		nodeSvc,
		membership.New(membership.Config{Port: int(st.cfg.LivenessPort())}),
		database.New(database.Options{}),
		eventd.New(eventd.Options{Dir: st.paths.LegacyEventsDir(), Env: eventEnv(st), DebugScript: st.cfg.EventDebugScript()}),
		failover.New(failover.Options{PublicAddressesFile: st.paths.PublicAddressesFile(), Disabled: st.cfg.FailoverDisabled()}),
		cluster.New(cluster.Options{}),
		banning.New(),
		recoveryd.New(),
		vacuumd.New(),
	)

	hostCtx, stopHost := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHost()
	hostDone := make(chan error, 1)
	go func() { hostDone <- host.Run(hostCtx) }()
	select {
	case <-host.Ready():
		ready()
	case err := <-hostDone:
		return err
	case <-ctx.Done():
	}
	for {
		select {
		case <-ctx.Done():
			evacuate(st, log)
			stopHost()
			return <-hostDone
		case err := <-hostDone:
			// A service failed; the daemon cannot go on without it.
			return err
		case <-reload:
			reloadConfig(st, logger, host)
		}
	}
}

// reloadConfig applies a changed ctdb.conf: the log level at once, the
// other reloadable options through the services' Reconfigure. A change
// to an option that needs a restart is refused as a whole and logged.
func reloadConfig(st *setup, logger *logging.Logger, host *service.Host) {
	cfg, err := st.cfg.Reload()
	if err != nil {
		logger.Error("configuration not reloaded", "file", st.cfg.File(), "err", err)
		return
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	if err := logger.SetLevel(cfg.LogLevel()); err != nil {
		logger.Error("log level not changed", "err", err)
	}
	st.cfg = cfg
	host.Reconfigure(cfg, nil)
	logger.Log(context.Background(), logging.SlogNotice, "configuration reloaded", "file", cfg.File())
}

// shutdownFailoverTimeout bounds how long a stopping daemon waits for
// other nodes to take its public addresses (CTDB's [failover] shutdown
// failover timeout, 10 s).
const shutdownFailoverTimeout = 10 * time.Second

// evacuate moves this node's public addresses to other nodes before the
// services stop, so that clients move before the daemon goes and not a
// failure-detection time later. It talks to its own failover service
// through the socket, as any client does, so it works the same with an
// external transportd.
func evacuate(st *setup, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownFailoverTimeout+time.Second)
	defer cancel()
	c, err := client.Connect(ctx, st.paths.Socket, client.Options{Name: "ctdbd-shutdown"})
	if err != nil {
		log.Warn("cannot move public addresses before shutdown", "err", err)
		return
	}
	defer c.Close()
	if err := c.Evacuate(ctx, shutdownFailoverTimeout); err != nil {
		log.Warn("cannot move public addresses before shutdown", "err", err)
	}
}

// eventEnv is the environment event scripts see besides PATH: where the
// configuration and the daemon are, as CTDB's event daemon passes it.
func eventEnv(st *setup) []string {
	path := eventscripts.DefaultPath
	if exe, err := os.Executable(); err == nil {
		// The ctdb tool installed next to this ctdbd comes first.
		path = filepath.Dir(exe) + ":" + path
	}
	env := []string{
		"PATH=" + path,
		"CTDB_BASE=" + st.paths.ConfigDir,
		"CTDB_SOCKET=" + st.paths.Socket,
		"CTDB_SCRIPT_VARDIR=" + filepath.Join(st.paths.VarDir, "scripts"),
	}
	if st.paths.TestMode {
		env = append(env, "CTDB_TEST_MODE=yes")
	}
	return env
}

func runTransportd(ctx context.Context, st *setup, logger *logging.Logger, _ context.CancelCauseFunc, ready func(), _ <-chan struct{}) error {
	tr, err := transport.New(transportConfig(st, logger.Logger))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	select {
	case <-tr.Ready():
		ready()
	case err := <-done:
		return err
	}
	return <-done
}

// transportHandle stops whichever transport the daemon uses.
type transportHandle struct {
	stop func()
}

// startTransport starts the embedded transport, or connects to an
// external transportd, and returns how services attach to it.
func startTransport(ctx context.Context, st *setup, log *slog.Logger) (service.AttachFunc, transportHandle, error) {
	if st.cfg.Transport() == config.TransportD {
		return connectTransportd(ctx, st, log)
	}
	tr, err := transport.New(transportConfig(st, log))
	if err != nil {
		return nil, transportHandle{}, err
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- tr.Run(tctx) }()
	select {
	case <-tr.Ready():
	case err := <-done:
		cancel()
		return nil, transportHandle{}, err
	}
	attach := func(svc proto.ServiceID) (rpc.Port, error) { return tr.Attach(svc) }
	return attach, transportHandle{stop: func() {
		cancel()
		if err := <-done; err != nil {
			log.Error("transport stopped", "err", err)
		}
	}}, nil
}

// serviceIDs are the services ctdbd hosts.
var serviceIDs = []proto.ServiceID{proto.ServiceNode, proto.ServiceMembership, proto.ServiceDatabase, proto.ServiceCluster, proto.ServiceBanning, proto.ServiceRecovery, proto.ServiceVacuum, proto.ServiceEvent, proto.ServiceFailover}

func connectTransportd(ctx context.Context, st *setup, log *slog.Logger) (service.AttachFunc, transportHandle, error) {
	// transportd may still be starting; wait for it a little.
	var c *client.Client
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err = client.Connect(ctx, st.paths.Socket, client.Options{Name: "ctdbd", Role: proto.RoleService, Services: serviceIDs})
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, transportHandle{}, fmt.Errorf("connect to transportd: %w", err)
	}
	if c.PNN() != st.pnn {
		c.Close()
		return nil, transportHandle{}, fmt.Errorf("transportd at %s is node %d, this daemon is node %d", st.paths.Socket, c.PNN(), st.pnn)
	}
	log.Info("using external transportd", "socket", st.paths.Socket)
	attach := func(svc proto.ServiceID) (rpc.Port, error) {
		p, ok := c.ServicePort(svc)
		if !ok {
			return nil, fmt.Errorf("service %s was not registered with transportd", svc)
		}
		return p, nil
	}
	return attach, transportHandle{stop: func() { c.Close() }}, nil
}

// testProtocolVersions reads GCTDB_TEST_PROTOCOL_VERSIONS=MIN-MAX, which
// narrows the protocol versions a node offers so tests can check how a
// node speaking another version is refused. Not for production use.
func testProtocolVersions(env config.Env) (uint16, uint16, error) {
	v, ok := env("GCTDB_TEST_PROTOCOL_VERSIONS")
	if !ok {
		return 0, 0, nil
	}
	lo, hi, _ := strings.Cut(v, "-")
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || a == 0 || a > b {
		return 0, 0, fmt.Errorf("GCTDB_TEST_PROTOCOL_VERSIONS=%q: want MIN-MAX", v)
	}
	return uint16(a), uint16(b), nil
}

// transportConfig builds the transport configuration of a node; ctdbd
// and transportd share it.
func transportConfig(st *setup, log *slog.Logger) transport.Config {
	var nodes []transport.Node
	for _, n := range st.nodes {
		tn := transport.Node{PNN: n.PNN, Deleted: n.Deleted}
		if n.Addr.IsValid() {
			tn.Addr = net.IP(n.Addr.AsSlice())
		}
		nodes = append(nodes, tn)
	}
	return transport.Config{
		PNN:        st.pnn,
		Nodes:      nodes,
		Port:       int(st.cfg.Port()),
		SocketPath: st.paths.Socket,
		Name:       "gctdb " + client.Version,
		MinVersion: st.minVersion,
		MaxVersion: st.maxVersion,
		Logger:     log,
	}
}

// pidFile is the daemon's locked pid file.
type pidFile struct {
	path string
	f    *os.File
}

// pidLockWait is how long a starting daemon tries for the pid file's
// lock: a predecessor killed with -9 while it was starting a helper
// leaves the lock with the forked child until that child execs.
const pidLockWait = time.Second

// lockPIDFile takes the pid file's lock, retrying for pidLockWait.
func lockPIDFile(f *os.File) error {
	deadline := time.Now().Add(pidLockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createPIDFile writes and locks the pid file; a second daemon with the
// same configuration finds it locked and refuses to start.
func createPIDFile(path string) (*pidFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := lockPIDFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file %s is locked: another ctdbd is running", path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return &pidFile{path: path, f: f}, nil
}

func (p *pidFile) remove() {
	os.Remove(p.path)
	p.f.Close()
}

// Command is the main program of ctdbd and transportd: it parses their
// command line (CTDB's `-i/--interactive`, plus `--version`) and runs the
// daemon named app. It returns the exit status.
func Command(app string, args []string) int {
	fs := pflag.NewFlagSet(app, pflag.ContinueOnError)
	interactive := fs.BoolP("interactive", "i", false, "don't fork, log to stderr")
	version := fs.Bool("version", false, "print the version and exit")
	fs.SortFlags = false
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", app, err)
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", app, fs.Arg(0))
		return 1
	}
	if *version {
		fmt.Println(client.Version + "-gctdb")
		return 0
	}
	opts := Options{Interactive: *interactive}
	if app == "transportd" {
		return TransportdMain(opts)
	}
	return Main(opts)
}
