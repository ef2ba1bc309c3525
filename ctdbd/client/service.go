package client

import (
	"context"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// servicePort is a service hosted in this process and reached through the
// connection (a ctdbd that uses an external transportd).
type servicePort struct {
	c      *Client
	ep     proto.Endpoint
	caller *rpc.Caller
	inbox  *rpc.Mailbox
}

var _ rpc.Port = (*servicePort)(nil)

func newServicePort(c *Client, svc proto.ServiceID) *servicePort {
	return &servicePort{
		c:      c,
		ep:     proto.Endpoint{PNN: c.pnn, Service: svc},
		caller: rpc.NewCaller(),
		inbox:  rpc.NewMailbox(),
	}
}

// ServicePort returns the port of a service listed in Options.Services.
func (c *Client) ServicePort(svc proto.ServiceID) (rpc.Port, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.ports[svc]
	return p, ok
}

func (p *servicePort) Endpoint() proto.Endpoint { return p.ep }
func (p *servicePort) Inbox() *rpc.Mailbox      { return p.inbox }

func (p *servicePort) Send(m *proto.Message) error {
	m.Src.PNN, m.Src.Service = p.ep.PNN, p.ep.Service
	return p.c.write(m)
}

func (p *servicePort) Call(ctx context.Context, dst proto.Endpoint, op proto.Opcode, req proto.Payload, flags uint32) (*proto.Reply, error) {
	return p.c.call(ctx, p.caller, p.ep, dst, op, req, flags)
}

func (p *servicePort) Reply(req *proto.Message, status proto.Status, msg string, body proto.Payload) error {
	if !req.IsRequest() {
		return nil
	}
	return p.Send(rpc.ReplyFrame(req, status, msg, body))
}

// RegisterSrvID registers on behalf of the whole connection; the client
// routes the messages to this port.
func (p *servicePort) RegisterSrvID(ctx context.Context, srvid uint64) error {
	p.c.mu.Lock()
	if p.c.subs[srvid] == nil {
		p.c.subs[srvid] = make(map[*Subscription]struct{})
	}
	sub := &Subscription{c: p.c, srvid: srvid, mb: p.inbox}
	p.c.subs[srvid][sub] = struct{}{}
	p.c.mu.Unlock()
	_, err := p.Call(ctx, proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceTransport}, proto.OpRegisterSrvID, &proto.SrvID{SrvID: srvid}, 0)
	return err
}

func (p *servicePort) DeregisterSrvID(ctx context.Context, srvid uint64) error {
	p.c.mu.Lock()
	for s := range p.c.subs[srvid] {
		if s.mb == p.inbox {
			delete(p.c.subs[srvid], s)
		}
	}
	last := len(p.c.subs[srvid]) == 0
	if last {
		delete(p.c.subs, srvid)
	}
	p.c.mu.Unlock()
	if !last {
		return nil
	}
	_, err := p.Call(ctx, proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceTransport}, proto.OpDeregisterSrvID, &proto.SrvID{SrvID: srvid}, 0)
	return err
}

func (p *servicePort) Close() error {
	p.caller.Close(rpc.ErrClosed)
	p.inbox.Close()
	return nil
}
