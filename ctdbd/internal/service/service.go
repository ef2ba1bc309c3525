// Package service is ctdbd's service host. Every piece of business logic
// is a Service with one small interface; services talk to each other only
// through messages on their ports, so the same service runs embedded in
// ctdbd or behind an external transportd, and can be tested alone with a
// fake port.
//
// The host gives each service one dispatch goroutine: Dispatch, Activate,
// Deactivate and Reconfigure are never called concurrently for one
// service. Run is the service's own background loop, started after every
// service is initialised; the host joins all of them on shutdown.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"gctdb/ctdbd/internal/config"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Service is one piece of ctdbd's logic.
type Service interface {
	// ID is the service's address on its node.
	ID() proto.ServiceID
	// Init prepares the service; it may send messages but must not wait
	// for other services, which may not be running yet.
	Init(ctx context.Context, env *Env) error
	// Reconfigure applies a reloaded configuration.
	Reconfigure(ctx context.Context, env *Env) error
	// Activate is called when this node becomes active (not banned,
	// stopped or disconnected), Deactivate when it stops being active.
	Activate(ctx context.Context) error
	Deactivate(ctx context.Context) error
	// Dispatch handles one inbound frame. It must not block for long:
	// slow work goes to goroutines owned by Run.
	Dispatch(ctx context.Context, m *proto.Message)
	// Run is the service's background loop; it returns when ctx ends.
	Run(ctx context.Context) error
}

// Base gives a service no-op lifecycle methods to embed.
type Base struct{}

// Reconfigure does nothing.
func (Base) Reconfigure(context.Context, *Env) error { return nil }

// Activate does nothing.
func (Base) Activate(context.Context) error { return nil }

// Deactivate does nothing.
func (Base) Deactivate(context.Context) error { return nil }

// Run waits for the end.
func (Base) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Env is what every service gets from the host.
type Env struct {
	Port   rpc.Port
	Logger *slog.Logger
	PNN    uint32
	Nodes  []config.Node
	Config *config.Config
	Paths  config.Paths
	// Tunables is the node's tunables at start; later changes arrive on
	// proto.SrvIDTunables.
	Tunables *config.Tunables
}

// AttachFunc gives a service its port: an in-process port of the embedded
// transport, or a port over the connection to an external transportd.
type AttachFunc func(proto.ServiceID) (rpc.Port, error)

// Host runs a set of services.
type Host struct {
	attach   AttachFunc
	base     Env
	services []Service
	log      *slog.Logger

	mu    sync.Mutex
	envs  map[proto.ServiceID]*Env
	ports map[proto.ServiceID]rpc.Port
	ready chan struct{}
}

// NewHost returns a host for services; base is copied into each
// service's Env with its own port and logger.
func NewHost(attach AttachFunc, base Env, services ...Service) *Host {
	return &Host{
		attach:   attach,
		base:     base,
		services: services,
		log:      base.Logger,
		envs:     make(map[proto.ServiceID]*Env),
		ports:    make(map[proto.ServiceID]rpc.Port),
		ready:    make(chan struct{}),
	}
}

// Ready is closed once every service is initialised and running.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// reconfigure is queued in a service's inbox to run Reconfigure on its
// dispatch goroutine; it never travels on the wire.
var reconfigure = &proto.Message{}

// Run attaches and initialises every service in order, then runs them
// until ctx ends or one fails; it returns after all have stopped.
func (h *Host) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, s := range h.services {
		port, err := h.attach(s.ID())
		if err != nil {
			h.closePorts()
			return fmt.Errorf("attach service %s: %w", s.ID(), err)
		}
		env := h.base
		env.Port = port
		env.Logger = h.base.Logger.With("service", s.ID().String())
		h.mu.Lock()
		h.envs[s.ID()], h.ports[s.ID()] = &env, port
		h.mu.Unlock()
		// Every service learns this node's flags so the host can drive
		// Activate and Deactivate.
		if err := port.RegisterSrvID(ctx, proto.SrvIDNodeFlags); err != nil {
			h.closePorts()
			return fmt.Errorf("service %s: %w", s.ID(), err)
		}
		if err := s.Init(ctx, &env); err != nil {
			h.closePorts()
			return fmt.Errorf("init service %s: %w", s.ID(), err)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 2*len(h.services))
	for _, s := range h.services {
		port := h.ports[s.ID()]
		wg.Add(2)
		go func() {
			defer wg.Done()
			h.dispatchLoop(ctx, s, port)
		}()
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("service %s: %w", s.ID(), err)
				cancel()
			}
		}()
	}
	close(h.ready)
	<-ctx.Done()
	h.closePorts()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func (h *Host) closePorts() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.ports {
		p.Close()
	}
}

// Reconfigure hands a reloaded configuration to every service, each on
// its own dispatch goroutine. A nil tunables keeps the current ones
// (tunables changed with setvar are not reset by a configuration reload).
func (h *Host) Reconfigure(cfg *config.Config, tunables *config.Tunables) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.services {
		env := h.envs[s.ID()]
		if env == nil {
			continue
		}
		next := *env
		next.Config = cfg
		if tunables != nil {
			next.Tunables = tunables
		}
		h.envs[s.ID()] = &next
		h.ports[s.ID()].Inbox().Put(reconfigure)
	}
}

func (h *Host) dispatchLoop(ctx context.Context, s Service, port rpc.Port) {
	log := h.base.Logger.With("service", s.ID().String())
	active := false
	for {
		m, ok := port.Inbox().Next(ctx)
		if !ok {
			return
		}
		if m == reconfigure {
			h.mu.Lock()
			env := h.envs[s.ID()]
			h.mu.Unlock()
			if err := s.Reconfigure(ctx, env); err != nil {
				log.Error("reconfigure failed", "err", err)
			}
			continue
		}
		if m.Dst.Service == proto.ServiceMessage && m.Dst.ID == proto.SrvIDNodeFlags && m.Opcode == proto.OpNodeFlags {
			var f proto.NodeFlags
			if err := proto.DecodePayload(m, &f); err == nil && f.PNN == h.base.PNN {
				now := f.Flags&proto.NodeFlagsInactive == 0
				if now != active {
					active = now
					var err error
					if active {
						err = s.Activate(ctx)
					} else {
						err = s.Deactivate(ctx)
					}
					if err != nil {
						log.Error("lifecycle change failed", "active", active, "err", err)
					}
				}
			}
		}
		h.safeDispatch(ctx, log, s, m)
	}
}

// safeDispatch keeps one bad message from taking the daemon down: a
// panic in a handler is logged with the opcode and answered with an error.
func (h *Host) safeDispatch(ctx context.Context, log *slog.Logger, s Service, m *proto.Message) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panic", "op", m.Opcode.String(), "from", m.Src.String(), "panic", fmt.Sprint(r))
			h.mu.Lock()
			port := h.ports[s.ID()]
			h.mu.Unlock()
			port.Reply(m, proto.StatusFailed, "internal error", nil)
		}
	}()
	s.Dispatch(ctx, m)
}
