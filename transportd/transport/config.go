package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"gctdb/transportd/proto"
)

// Node is one line of the nodes file.
type Node struct {
	PNN     uint32
	Addr    net.IP
	Deleted bool
}

// Config configures a Transport.
type Config struct {
	// PNN is this node's number; Nodes lists the whole cluster.
	PNN   uint32
	Nodes []Node
	// Port is the TCP port of every node's transport (CTDB's 4379).
	Port int
	// SocketPath is the unix socket for local clients and service
	// processes.
	SocketPath string
	// Name identifies this software in hellos ("gctdb ctdbd 0.1").
	Name string
	// MinVersion and MaxVersion bound the protocol versions offered; zero
	// means this build's range. Tests narrow them to check refusals.
	MinVersion, MaxVersion uint16
	// MaxFrame bounds inbound frames; zero means proto.MaxFrameSize.
	MaxFrame int
	// PeerQueueFrames and PeerQueueBytes bound each peer link's queue per
	// priority class (CTDB's MaxQueueDropMsg plays this role there).
	PeerQueueFrames int
	PeerQueueBytes  int
	// ClientQueueFrames and ClientQueueBytes bound each client's queue.
	ClientQueueFrames int
	ClientQueueBytes  int
	// HelloTimeout bounds the handshake of every connection.
	HelloTimeout time.Duration
	// DialTimeout bounds one TCP connect to a peer.
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts.
	ReconnectMin, ReconnectMax time.Duration
	// WriteTimeout bounds one write to a peer; a peer that takes longer is
	// treated as gone.
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.Port == 0 {
		cfg.Port = 4379
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = proto.MinProtocolVersion
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = proto.MaxProtocolVersion
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = proto.MaxFrameSize
	}
	if cfg.PeerQueueFrames == 0 {
		cfg.PeerQueueFrames = 100000
	}
	if cfg.PeerQueueBytes == 0 {
		cfg.PeerQueueBytes = 256 << 20
	}
	if cfg.ClientQueueFrames == 0 {
		cfg.ClientQueueFrames = 100000
	}
	if cfg.ClientQueueBytes == 0 {
		cfg.ClientQueueBytes = 256 << 20
	}
	if cfg.HelloTimeout == 0 {
		cfg.HelloTimeout = 2 * time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 50 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 500 * time.Millisecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = "gctdb"
	}
	if cfg.MinVersion > cfg.MaxVersion {
		return cfg, fmt.Errorf("transport: protocol versions %d..%d", cfg.MinVersion, cfg.MaxVersion)
	}
	self := cfg.node(cfg.PNN)
	if self == nil {
		return cfg, fmt.Errorf("transport: pnn %d is not in the nodes list", cfg.PNN)
	}
	if self.Deleted {
		return cfg, fmt.Errorf("transport: pnn %d is deleted in the nodes list", cfg.PNN)
	}
	if cfg.SocketPath == "" {
		return cfg, errors.New("transport: no unix socket path")
	}
	return cfg, nil
}

func (c *Config) node(pnn uint32) *Node {
	for i := range c.Nodes {
		if c.Nodes[i].PNN == pnn {
			return &c.Nodes[i]
		}
	}
	return nil
}
