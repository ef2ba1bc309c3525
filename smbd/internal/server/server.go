// Package server is the SMB2/3 protocol engine of smbd: connections,
// sessions, tree connects and opens, and one handler per command. State
// that other nodes must see (share modes, byte-range locks, sessions)
// goes through the state.Store; everything else is per process.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// Encryption settings ("smb encrypt" / "server smb encrypt").
const (
	EncryptOff      = 0 // never encrypt (client may still ask)
	EncryptDesired  = 1 // encrypt when the client supports it
	EncryptRequired = 2 // refuse unencrypted access
)

// ShareConfig describes one disk share.
type ShareConfig struct {
	Name       string
	Path       string
	ReadOnly   bool
	GuestOK    bool
	ValidUsers []string // empty: everyone
	Browseable bool
	Encrypt    int
	Comment    string
}

// Config configures a Server.
type Config struct {
	Listen          []string // host:port addresses
	ServerGUID      [16]byte // one GUID for the whole cluster
	NetbiosName     string
	Workgroup       string
	MinDialect      uint16
	MaxDialect      uint16
	SigningRequired bool
	Encrypt         int
	Shares          []ShareConfig
	Users           auth.UserDB
	Store           *state.Store // its Bus says which node and process this is
	MaxIOSize       uint32       // MaxRead/Write/Transact size; 8 MiB if zero
	// Clustered announces SMB2_SHARE_CAP_CLUSTER on disk shares: set when
	// the state store is the clustered one.
	Clustered bool
	Logger    *slog.Logger
}

// Server serves SMB on its listeners.
type Server struct {
	cfg     Config
	log     *slog.Logger
	shares  map[string]*share
	self    state.Process
	live    liveness
	start   time.Time
	authCfg *auth.Config

	nextSession atomic.Uint64
	nextOpen    atomic.Uint64

	mu         sync.Mutex
	sessions   map[uint64]*session
	opens      map[uint64]*open // by FileId.Volatile
	resumeKeys map[[24]byte]*open
	conns      map[*conn]struct{}
	notify     *notifier // created on the first CHANGE_NOTIFY
	closing    bool
	wg         sync.WaitGroup
}

type share struct {
	cfg  ShareConfig
	fs   *vfs.FS
	pipe bool
}

// New validates cfg and opens the share roots.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxIOSize == 0 {
		cfg.MaxIOSize = 8 << 20
	}
	if cfg.MinDialect == 0 {
		cfg.MinDialect = wire.Dialect202
	}
	if cfg.MaxDialect == 0 {
		cfg.MaxDialect = wire.Dialect311
	}
	if cfg.Users == nil || cfg.Store == nil || cfg.Store.Bus == nil {
		return nil, errors.New("server: config needs Users and a Store with a Bus")
	}
	if cfg.NetbiosName == "" {
		cfg.NetbiosName = "GCTDB"
	}
	if cfg.Workgroup == "" {
		cfg.Workgroup = "WORKGROUP"
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		shares:     map[string]*share{},
		start:      time.Now(),
		sessions:   map[uint64]*session{},
		opens:      map[uint64]*open{},
		resumeKeys: map[[24]byte]*open{},
		conns:      map[*conn]struct{}{},
		live:       liveness{gone: map[state.Process]bool{}, alive: map[state.Process]time.Time{}},
	}
	s.self = cfg.Store.Bus.Self()
	// Session and persistent ids carry the node number in their top bits
	// and start at a random point below, so they are unique across the
	// cluster and across restarts.
	var r [2]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	s.nextSession.Store(uint64(s.self.Node)<<48 | uint64(r[0])<<40)
	s.nextOpen.Store(uint64(s.self.Node)<<48 | uint64(r[1])<<40)
	for _, sc := range cfg.Shares {
		f, err := vfs.Open(sc.Path)
		if err != nil {
			s.closeShares()
			return nil, fmt.Errorf("share %s: %w", sc.Name, err)
		}
		s.shares[strings.ToLower(sc.Name)] = &share{cfg: sc, fs: f}
	}
	cfg.Store.Bus.Handle(s.handleBusMessage)
	s.shares["ipc$"] = &share{cfg: ShareConfig{Name: "IPC$", Comment: "IPC Service", Encrypt: EncryptOff}, pipe: true}
	s.authCfg = &auth.Config{
		Users:       cfg.Users,
		NetbiosName: cfg.NetbiosName,
		Domain:      cfg.Workgroup,
		DNSName:     strings.ToLower(cfg.NetbiosName),
		Now:         time.Now,
		Rand:        rand.Reader,
	}
	return s, nil
}

func (s *Server) closeShares() {
	for _, sh := range s.shares {
		if sh.fs != nil {
			sh.fs.Close()
		}
	}
}

// Serve listens on every configured address and serves until ctx ends.
// It returns after all connections have been closed.
func (s *Server) Serve(ctx context.Context) error {
	lns, err := s.Listen()
	if err != nil {
		return err
	}
	return s.ServeListeners(ctx, lns...)
}

// Listen opens the configured addresses.
func (s *Server) Listen() ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range s.cfg.Listen {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		s.log.Info("listening", "addr", ln.Addr().String())
		lns = append(lns, ln)
	}
	return lns, nil
}

// ServeListeners serves on already-open listeners until ctx ends.
func (s *Server) ServeListeners(ctx context.Context, lns ...net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lwg sync.WaitGroup
	for _, ln := range lns {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			s.acceptLoop(ctx, ln)
		}()
	}
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	lwg.Wait()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	s.closing = true
	n := s.notify
	s.mu.Unlock()
	if n != nil {
		n.close()
	}
	s.closeShares()
	return nil
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("accept", "err", err)
			return
		}
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}
