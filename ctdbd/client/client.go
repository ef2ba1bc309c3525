// Package client is the public Go client of a gctdb node: it connects to
// the daemon's unix socket, sends controls to any service on any node,
// registers for messages and sends them. The ctdb CLI, smbd, the test
// programs and service processes connected to an external transportd all
// use it. A Client is safe for concurrent use.
//
//	c, err := client.Connect(ctx, client.SocketPath(os.LookupEnv))
//	if err != nil { ... }
//	defer c.Close()
//	nodes, err := c.NodeMap(ctx, client.Local)
package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Local addresses the node the client is connected to.
const Local = proto.PNNLocal

// DefaultSocket is where a production daemon listens (CTDB's place).
const DefaultSocket = "/run/ctdb/ctdbd.socket"

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client: connection closed")

// SocketPath returns the daemon socket following CTDB's conventions:
// CTDB_SOCKET if set and not empty; in test mode (CTDB_TEST_MODE set, to
// anything) $CTDB_BASE/run/ctdbd.socket; otherwise DefaultSocket. lookup
// is usually os.LookupEnv.
func SocketPath(lookup func(string) (string, bool)) string {
	if s, ok := lookup("CTDB_SOCKET"); ok && s != "" {
		return s
	}
	if _, test := lookup("CTDB_TEST_MODE"); test {
		if base, ok := lookup("CTDB_BASE"); ok {
			return filepath.Join(base, "run", "ctdbd.socket")
		}
	}
	return DefaultSocket
}

// Options tune a connection.
type Options struct {
	// Name identifies the program to the daemon (logs, statistics).
	Name string
	// Role is proto.RoleClient (default) or proto.RoleService for a
	// process that hosts services behind an external transportd.
	Role proto.Role
	// Services lists the services a RoleService process hosts.
	Services []proto.ServiceID
	// WriteTimeout bounds one frame write; default 30 s.
	WriteTimeout time.Duration
}

// Client is a connection to one node's daemon.
type Client struct {
	conn    net.Conn
	opts    Options
	version uint16
	pnn     uint32
	connID  uint64
	caller  *rpc.Caller

	wmu sync.Mutex

	mu     sync.Mutex
	subs   map[uint64]map[*Subscription]struct{}
	ports  map[proto.ServiceID]*servicePort
	closed bool
	err    error

	done chan struct{}
	wg   sync.WaitGroup
}

// Connect dials the daemon socket and performs the hello.
func Connect(ctx context.Context, socket string, opts ...Options) (*Client, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Role == 0 {
		o.Role = proto.RoleClient
	}
	if o.Name == "" {
		o.Name = filepath.Base(os.Args[0])
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 30 * time.Second
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", socket, err)
	}
	c := &Client{
		conn:   conn,
		opts:   o,
		caller: rpc.NewCaller(),
		subs:   make(map[uint64]map[*Subscription]struct{}),
		ports:  make(map[proto.ServiceID]*servicePort),
		done:   make(chan struct{}),
	}
	if err := c.hello(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect to %s: %w", socket, err)
	}
	for _, svc := range o.Services {
		c.ports[svc] = newServicePort(c, svc)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.readLoop()
	}()
	return c, nil
}

func (c *Client) hello(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})
	h := &proto.Hello{
		MinVersion: proto.MinProtocolVersion,
		MaxVersion: proto.MaxProtocolVersion,
		Role:       c.opts.Role,
		PNN:        proto.PNNUnknown,
		Name:       c.opts.Name,
		Services:   c.opts.Services,
	}
	m := &proto.Message{
		Header:  proto.Header{ProtocolVersion: h.MaxVersion, Dst: proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceTransport}, Opcode: proto.OpHello},
		Payload: h.AppendTo(nil),
	}
	if _, err := c.conn.Write(m.Encode()); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	r, err := proto.ReadFrame(c.conn, 64<<10)
	if err != nil {
		return fmt.Errorf("read hello reply: %w", err)
	}
	switch r.Opcode {
	case proto.OpHelloAccept:
		var a proto.HelloAccept
		if err := proto.DecodePayload(r, &a); err != nil {
			return err
		}
		c.version, c.pnn, c.connID = a.Version, a.PNN, a.ConnID
		return nil
	case proto.OpHelloReject:
		var rej proto.HelloReject
		if err := proto.DecodePayload(r, &rej); err != nil {
			return err
		}
		return fmt.Errorf("daemon refused the connection: %s (it speaks %d..%d, we speak %d..%d)",
			rej.Reason, rej.MinVersion, rej.MaxVersion, proto.MinProtocolVersion, proto.MaxProtocolVersion)
	}
	return fmt.Errorf("unexpected %s in answer to hello", r.Opcode)
}

// PNN returns the number of the node the client is connected to.
func (c *Client) PNN() uint32 { return c.pnn }

// Endpoint returns the client's own address.
func (c *Client) Endpoint() proto.Endpoint {
	return proto.Endpoint{PNN: c.pnn, Service: proto.ServiceClient, ID: c.connID}
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	c.wg.Wait()
	return nil
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) shutdown(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = err
	subs := c.subs
	c.subs = nil
	ports := c.ports
	c.mu.Unlock()
	close(c.done)
	c.conn.Close()
	c.caller.Close(err)
	for _, set := range subs {
		for s := range set {
			s.mb.Close()
		}
	}
	for _, p := range ports {
		p.caller.Close(err)
		p.inbox.Close()
	}
}

func (c *Client) readLoop() {
	br := bufio.NewReaderSize(c.conn, 64<<10)
	for {
		m, err := proto.ReadFrame(br, proto.MaxFrameSize)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			} else {
				err = fmt.Errorf("client: read from daemon: %w", err)
			}
			c.shutdown(err)
			return
		}
		c.dispatch(m)
	}
}

func (c *Client) dispatch(m *proto.Message) {
	switch {
	case m.Dst.Service == proto.ServiceClient:
		if m.IsReply() {
			c.caller.Deliver(m)
		}
	case m.Dst.Service == proto.ServiceMessage || m.Dst.Service == proto.ServiceTunnel:
		c.mu.Lock()
		var targets []*Subscription
		for s := range c.subs[m.Dst.ID] {
			targets = append(targets, s)
		}
		c.mu.Unlock()
		for _, s := range targets {
			s.mb.Put(m)
		}
	default:
		c.mu.Lock()
		p := c.ports[m.Dst.Service]
		c.mu.Unlock()
		if p == nil {
			return
		}
		if m.IsReply() {
			p.caller.Deliver(m)
		} else {
			p.inbox.Put(m)
		}
	}
}

func (c *Client) write(m *proto.Message) error {
	m.ProtocolVersion = c.version
	frame := m.Encode()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	if _, err := c.conn.Write(frame); err != nil {
		c.shutdown(fmt.Errorf("client: write to daemon: %w", err))
		return c.Err()
	}
	return nil
}

// call sends a request from src and waits for the reply envelope.
func (c *Client) call(ctx context.Context, caller *rpc.Caller, src, dst proto.Endpoint, op proto.Opcode, req proto.Payload, flags uint32) (*proto.Reply, error) {
	call, err := caller.Start()
	if err != nil {
		return nil, err
	}
	m := &proto.Message{
		Header: proto.Header{Dst: dst, Src: src, Flags: flags | proto.FlagRequest, ReqID: call.ReqID, Opcode: op},
	}
	if req != nil {
		m.Payload = req.AppendTo(nil)
	}
	if err := c.write(m); err != nil {
		call.Done()
		return nil, err
	}
	return call.Wait(ctx, op)
}

// Call sends a request to any endpoint and returns the reply envelope; a
// non-OK status is in the reply, not an error.
func (c *Client) Call(ctx context.Context, dst proto.Endpoint, op proto.Opcode, req proto.Payload) (*proto.Reply, error) {
	return c.call(ctx, c.caller, c.Endpoint(), dst, op, req, 0)
}

// Control sends a request to service svc on node pnn and decodes the
// reply body into resp (nil when there is none). A negative status comes
// back as a *proto.StatusError.
func (c *Client) Control(ctx context.Context, pnn uint32, svc proto.ServiceID, op proto.Opcode, req, resp proto.Payload) error {
	rep, err := c.Call(ctx, proto.Endpoint{PNN: pnn, Service: svc}, op, req)
	if err != nil {
		return err
	}
	if err := rep.Err(op); err != nil {
		return err
	}
	if resp != nil {
		if err := proto.Unmarshal(rep.Body, resp); err != nil {
			return fmt.Errorf("%s reply from node %s: %w", op, pnnName(pnn), err)
		}
	}
	return nil
}

// ControlStatus is Control for requests whose answer is the reply status
// itself (CTDB-style controls that return 0 or a positive result).
func (c *Client) ControlStatus(ctx context.Context, pnn uint32, svc proto.ServiceID, op proto.Opcode, req proto.Payload) (proto.Status, string, error) {
	rep, err := c.Call(ctx, proto.Endpoint{PNN: pnn, Service: svc}, op, req)
	if err != nil {
		return 0, "", err
	}
	if err := rep.Err(op); err != nil {
		return rep.Status, rep.Msg, err
	}
	return rep.Status, rep.Msg, nil
}

// Send sends a one-way frame from the client.
func (c *Client) Send(dst proto.Endpoint, op proto.Opcode, p proto.Payload) error {
	m := &proto.Message{Header: proto.Header{Dst: dst, Src: c.Endpoint(), Opcode: op}}
	if p != nil {
		m.Payload = p.AppendTo(nil)
	}
	return c.write(m)
}

func pnnName(pnn uint32) string {
	if pnn == proto.PNNLocal {
		return "local"
	}
	return fmt.Sprint(pnn)
}

// Version is the gctdb release, reported by every binary.
const Version = "0.1.0"
