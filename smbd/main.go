// Command smbd is gctdb's SMB 2.0.2–3.1.1 file server. Its open, share-mode,
// byte-range-lock and session state lives in gctdb databases; until the
// gctdb client library is wired in, the --dev-memory-state flag runs it
// with a process-local store for development and conformance testing.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/server"
	"gctdb/smbd/internal/smbconf"
	"gctdb/smbd/internal/state"
)

type options struct {
	configFile     string
	foreground     bool
	logFile        string
	debugLevel     int
	devUsers       string
	devMemoryState bool
	node           uint32
}

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
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.configFile, "configfile", "s", "/etc/gctdb/smb.conf", "smb.conf-style configuration file")
	f.BoolVarP(&o.foreground, "foreground", "F", false, "run in the foreground (smbd never forks; accepted for Samba compatibility)")
	f.StringVar(&o.logFile, "log-file", "", "log to this file instead of standard error")
	f.IntVarP(&o.debugLevel, "debuglevel", "d", -1, "log level (overrides the configuration's log level)")
	f.StringVar(&o.devUsers, "dev-users", "", "DEVELOPMENT ONLY: read users from a file of user:password lines")
	f.BoolVar(&o.devMemoryState, "dev-memory-state", false, "DEVELOPMENT ONLY: keep opens and locks in process memory instead of gctdb")
	f.Uint32Var(&o.node, "node", 0, "this node's PNN (part of every cluster-wide id)")
	return cmd
}

func run(ctx context.Context, o *options) error {
	cfg, err := smbconf.Load(o.configFile)
	if err != nil {
		return err
	}
	level := cfg.LogLevel
	if o.debugLevel >= 0 {
		level = o.debugLevel
	}
	var out io.Writer = os.Stderr
	if o.logFile != "" {
		f, err := os.OpenFile(o.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		out = f
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slogLevel(level)}))
	if !o.devMemoryState {
		return errors.New("the gctdb state store is not wired in yet: run with --dev-memory-state for development")
	}
	if o.devUsers == "" {
		return errors.New("no user database: --dev-users FILE is required until users live in gctdb")
	}
	users, err := loadUsers(o.devUsers)
	if err != nil {
		return err
	}
	listen, err := cfg.Listen()
	if err != nil {
		return err
	}
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
		Users:           users,
		Store:           state.NewMemoryStore(),
		Node:            o.node,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	logger.Warn("running with the development in-memory state store; opens and locks are not shared with other nodes")
	return srv.Serve(ctx)
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

// loadUsers reads "user:password" lines.
func loadUsers(path string) (*auth.MemoryUsers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	defer f.Close()
	users := auth.NewMemoryUsers()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		name, pw, ok := strings.Cut(t, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("users: %s:%d: expected user:password", path, line)
		}
		users.Add(name, pw)
	}
	return users, sc.Err()
}
