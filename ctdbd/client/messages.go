package client

import (
	"context"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Subscription receives the messages sent to one srvid on the client's
// node.
type Subscription struct {
	c     *Client
	srvid uint64
	mb    *rpc.Mailbox
}

// Subscribe registers srvid with the daemon; messages sent to it on this
// node are queued on the subscription until read with Next.
func (c *Client) Subscribe(ctx context.Context, srvid uint64) (*Subscription, error) {
	s := &Subscription{c: c, srvid: srvid, mb: rpc.NewMailbox()}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	first := len(c.subs[srvid]) == 0
	if c.subs[srvid] == nil {
		c.subs[srvid] = make(map[*Subscription]struct{})
	}
	c.subs[srvid][s] = struct{}{}
	c.mu.Unlock()
	if first {
		if err := c.Control(ctx, Local, proto.ServiceTransport, proto.OpRegisterSrvID, &proto.SrvID{SrvID: srvid}, nil); err != nil {
			s.forget()
			return nil, err
		}
	}
	return s, nil
}

// Next returns the next message, waiting for one; false when ctx ends or
// the subscription or client is closed.
func (s *Subscription) Next(ctx context.Context) (*proto.Message, bool) {
	return s.mb.Next(ctx)
}

// Close deregisters the subscription.
func (s *Subscription) Close(ctx context.Context) error {
	if s.forget() {
		return s.c.Control(ctx, Local, proto.ServiceTransport, proto.OpDeregisterSrvID, &proto.SrvID{SrvID: s.srvid}, nil)
	}
	return nil
}

// forget removes s locally and reports whether it was the last one for
// its srvid.
func (s *Subscription) forget() bool {
	s.mb.Close()
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	set := s.c.subs[s.srvid]
	if set == nil {
		return false
	}
	delete(set, s)
	if len(set) == 0 {
		delete(s.c.subs, s.srvid)
		return true
	}
	return false
}

// SendMessage sends data to srvid on node pnn (or a broadcast pnn).
func (c *Client) SendMessage(pnn uint32, srvid uint64, data []byte) error {
	return c.Send(proto.Endpoint{PNN: pnn, Service: proto.ServiceMessage, ID: srvid}, proto.OpMessage, &proto.Blob{Data: data})
}
