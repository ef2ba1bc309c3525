// Command smbd is gctdb's SMB 2.0.2–3.1.1 file server. It runs on every
// node beside ctdbd and keeps its open, share-mode, byte-range-lock and
// session state, and its users, in gctdb databases through the local
// ctdbd (CTDB_SOCKET, or $CTDB_BASE/run/ctdbd.socket in test mode), so the
// smbd processes of all nodes serve one consistent set of files.
//
// Like Samba's smbd it detaches from the terminal and returns once it
// serves, unless run with -F (--foreground).
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gctdb/ctdbd/client"
	"gctdb/smbd/internal/clusterstate"
	"gctdb/smbd/internal/server"
	"gctdb/smbd/internal/smbconf"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/userdb"
)

type options struct {
	configFile string
	foreground bool
	logFile    string
	debugLevel int
}

// connectTimeout bounds the wait for the local ctdbd and its cluster at
// start.
const connectTimeout = 60 * time.Second

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "smbd:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	o := &options{debugLevel: -1}
	cmd := &cobra.Command{
		Use:           "smbd",
		Short:         "gctdb SMB2/3 file server",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !o.foreground && !isDetachedChild() {
				return detach()
			}
			return run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.configFile, "configfile", "s", "/etc/gctdb/smb.conf", "smb.conf-style configuration file")
	f.BoolVarP(&o.foreground, "foreground", "F", false, "stay in the foreground instead of detaching once serving")
	f.StringVar(&o.logFile, "log-file", "", "log to this file (overrides the configuration's log file)")
	f.IntVarP(&o.debugLevel, "debuglevel", "d", -1, "log level (overrides the configuration's log level)")
	return cmd
}

func run(ctx context.Context, o *options) error {
	ready := readyReporter()
	err := serve(ctx, o, func() { ready("ok") })
	if err != nil {
		ready(err.Error())
	}
	return err
}

func serve(ctx context.Context, o *options, ready func()) error {
	cfg, err := smbconf.Load(o.configFile)
	if err != nil {
		return err
	}
	level := cfg.LogLevel
	if o.debugLevel >= 0 {
		level = o.debugLevel
	}
	logPath := cfg.LogFile
	if o.logFile != "" {
		logPath = o.logFile
	}
	var out io.Writer = os.Stderr
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		out = f
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slogLevel(level)}))
	listen, err := cfg.Listen()
	if err != nil {
		return err
	}
	pid, err := createPIDFile(filepath.Join(cfg.PIDDirectory, "smbd.pid"))
	if err != nil {
		return err
	}
	defer pid.remove()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	m, err := join(ctx, logger)
	if err != nil {
		return err
	}
	defer m.close()
	store := m.store

	guid := cfg.ServerGUID
	if !cfg.HaveGUID {
		// Every node with the same configuration derives the same GUID,
		// so the cluster presents one server.
		sum := sha256.Sum256([]byte("gctdb smbd " + cfg.Workgroup + "\\" + cfg.NetbiosName))
		copy(guid[:], sum[:16])
	}
	srv, err := server.New(server.Config{
		Listen:          listen,
		ServerGUID:      guid,
		NetbiosName:     cfg.NetbiosName,
		Workgroup:       cfg.Workgroup,
		MinDialect:      cfg.MinProtocol,
		MaxDialect:      cfg.MaxProtocol,
		SigningRequired: cfg.SigningRequired,
		Encrypt:         cfg.Encrypt,
		Shares:          cfg.Shares,
		Users:           m.users,
		Store:           store,
		Clustered:       true,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	lns, err := srv.Listen()
	if err != nil {
		return err
	}
	// Without its ctdbd smbd can neither check share modes nor lock: it
	// stops, as Samba's smbd does when ctdbd goes away; so it does when
	// ctdbd restarted, since that wiped the state of its opens.
	sctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	defer func() {
		cancel(nil)
		<-watched
	}()
	go func() {
		defer close(watched)
		select {
		case <-m.cl.Lost():
			cancel(m.cl.Err())
		case <-sctx.Done():
		}
	}()
	logger.Info("serving", "node", store.Bus.Self().Node, "pid", os.Getpid())
	ready()
	err = srv.ServeListeners(sctx, lns...)
	if cause := context.Cause(sctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	logger.Info("shut down", "reason", context.Cause(sctx))
	return err
}

// membership is smbd's place in the cluster.
type membership struct {
	c     *client.Client
	cl    *clusterstate.Cluster
	store *state.Store
	users *userdb.DB
}

func (m *membership) close() {
	m.cl.Close()
	m.c.Close()
}

// join connects to the local ctdbd and attaches smbd's databases,
// retrying while ctdbd starts or its cluster forms.
func join(ctx context.Context, log *slog.Logger) (*membership, error) {
	socket := client.SocketPath(os.LookupEnv)
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		m, err := tryJoin(ctx, socket, log)
		if err == nil {
			return m, nil
		}
		log.Debug("waiting for ctdbd", "socket", socket, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("joining the cluster through %s: %w", socket, err)
		case <-time.After(delay):
		}
	}
}

func tryJoin(ctx context.Context, socket string, log *slog.Logger) (*membership, error) {
	c, err := client.Connect(ctx, socket, client.Options{Name: "smbd"})
	if err != nil {
		return nil, err
	}
	cl, store, err := clusterstate.Open(ctx, c, log)
	if err != nil {
		c.Close()
		return nil, err
	}
	users, err := userdb.Open(ctx, c)
	if err != nil {
		cl.Close()
		c.Close()
		return nil, err
	}
	return &membership{c: c, cl: cl, store: store, users: users}, nil
}

func slogLevel(samba int) slog.Level {
	switch {
	case samba <= 0:
		return slog.LevelWarn
	case samba <= 2:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}
