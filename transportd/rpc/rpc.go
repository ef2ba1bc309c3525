// Package rpc holds the request/response machinery shared by every
// endpoint that speaks the gctdb protocol: in-process service ports of the
// embedded transport, service processes connected to an external
// transportd, and clients of the daemon socket. It matches replies to
// requests by reqid, with deadlines and cancellation from the caller's
// context, and queues inbound messages without bound so a busy service
// never makes the router block.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gctdb/transportd/proto"
)

// ErrClosed is returned for calls on a closed port or connection.
var ErrClosed = errors.New("rpc: closed")

// Port is what a service holds to talk to the rest of the cluster. Every
// service, in-process or in another process, gets one per service id.
type Port interface {
	// Endpoint is the port's own address {pnn, service, 0}.
	Endpoint() proto.Endpoint
	// Send sends a one-way frame; Src is filled in. It never blocks: a
	// full or dead link is an error (and, for requests, an error reply).
	Send(m *proto.Message) error
	// Call sends a request and waits for its reply envelope. A non-OK
	// status is returned as the reply, not as an error; transport failures
	// (no route, timeout, cancellation) are errors.
	Call(ctx context.Context, dst proto.Endpoint, op proto.Opcode, req proto.Payload, flags uint32) (*proto.Reply, error)
	// Reply answers a request frame.
	Reply(req *proto.Message, status proto.Status, msg string, body proto.Payload) error
	// RegisterSrvID subscribes the port to messages for srvid on its node.
	RegisterSrvID(ctx context.Context, srvid uint64) error
	// DeregisterSrvID undoes RegisterSrvID.
	DeregisterSrvID(ctx context.Context, srvid uint64) error
	// Inbox holds every inbound frame that is not a reply to a Call.
	Inbox() *Mailbox
	// Close detaches the port; pending calls fail with ErrClosed.
	Close() error
}

// CallTyped performs a call and decodes the reply body into resp (which
// may be nil when no body is expected). A negative status is returned as a
// *proto.StatusError.
func CallTyped(ctx context.Context, p Port, dst proto.Endpoint, op proto.Opcode, req, resp proto.Payload) error {
	rep, err := p.Call(ctx, dst, op, req, 0)
	if err != nil {
		return err
	}
	if err := rep.Err(op); err != nil {
		return err
	}
	if resp != nil {
		if err := proto.Unmarshal(rep.Body, resp); err != nil {
			return fmt.Errorf("%s reply from %s: %w", op, dst, err)
		}
	}
	return nil
}

// Caller tracks the outstanding requests of one endpoint.
type Caller struct {
	mu      sync.Mutex
	next    uint32
	pending map[uint32]chan *proto.Message
	closed  error
}

// NewCaller returns an empty tracker.
func NewCaller() *Caller {
	return &Caller{pending: make(map[uint32]chan *proto.Message)}
}

// Call is one outstanding request.
type Call struct {
	ReqID uint32
	c     *Caller
	ch    chan *proto.Message
}

// Start allocates a reqid (never 0, never one still in use).
func (c *Caller) Start() (*Call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != nil {
		return nil, c.closed
	}
	for {
		c.next++
		if c.next == 0 {
			continue
		}
		if _, busy := c.pending[c.next]; !busy {
			break
		}
	}
	ch := make(chan *proto.Message, 1)
	c.pending[c.next] = ch
	return &Call{ReqID: c.next, c: c, ch: ch}, nil
}

// Wait blocks until the reply arrives, the context ends or the caller is
// closed, and decodes the reply envelope.
func (call *Call) Wait(ctx context.Context, op proto.Opcode) (*proto.Reply, error) {
	defer call.Done()
	select {
	case m, ok := <-call.ch:
		if !ok {
			return nil, call.c.err()
		}
		var r proto.Reply
		if err := proto.DecodePayload(m, &r); err != nil {
			return nil, fmt.Errorf("%s reply: %w", op, err)
		}
		return &r, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &proto.StatusError{Op: op, Status: proto.StatusTimeout, Msg: "no reply before the deadline"}
		}
		return nil, ctx.Err()
	}
}

// Done forgets the call; a late reply is then dropped.
func (call *Call) Done() {
	call.c.mu.Lock()
	if call.c.pending[call.ReqID] == call.ch {
		delete(call.c.pending, call.ReqID)
	}
	call.c.mu.Unlock()
}

// Deliver hands a reply to its waiting call and reports whether one was
// waiting.
func (c *Caller) Deliver(m *proto.Message) bool {
	c.mu.Lock()
	ch, ok := c.pending[m.ReqID]
	if ok {
		delete(c.pending, m.ReqID)
	}
	c.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}

// Pending returns the number of outstanding calls.
func (c *Caller) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Close fails every outstanding and future call with err.
func (c *Caller) Close(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != nil {
		return
	}
	c.closed = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

func (c *Caller) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != nil {
		return c.closed
	}
	return ErrClosed
}

// ReplyFrame builds the reply to req with the given envelope.
func ReplyFrame(req *proto.Message, status proto.Status, msg string, body proto.Payload) *proto.Message {
	r := proto.Reply{Status: status, Msg: msg}
	if body != nil {
		r.Body = body.AppendTo(nil)
	}
	return &proto.Message{
		Header: proto.Header{
			Dst:    req.Src,
			Src:    req.Dst,
			Flags:  proto.FlagReply | req.Flags&proto.FlagPriority,
			ReqID:  req.ReqID,
			Opcode: req.Opcode,
		},
		Payload: r.AppendTo(nil),
	}
}
