package transport

import (
	"context"
	"fmt"
	"sync/atomic"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// Port is an in-process service's attachment to the router.
type Port struct {
	t      *Transport
	ep     proto.Endpoint
	caller *rpc.Caller
	inbox  *rpc.Mailbox
	closed atomic.Bool
}

var _ rpc.Port = (*Port)(nil)

// Attach registers an in-process service and returns its port.
func (t *Transport) Attach(svc proto.ServiceID) (*Port, error) {
	p := &Port{
		t:      t,
		ep:     proto.Endpoint{PNN: t.self, Service: svc},
		caller: rpc.NewCaller(),
		inbox:  rpc.NewMailbox(),
	}
	if err := t.registerService(svc, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Port) String() string { return fmt.Sprintf("in-process %s", p.ep.Service) }

func (p *Port) deliver(m *proto.Message) error {
	if p.closed.Load() {
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusUnavailable, Msg: fmt.Sprintf("service %s stopped", p.ep.Service)}
	}
	if m.IsReply() && m.Dst.Service == p.ep.Service {
		if !p.caller.Deliver(m) {
			p.t.log.Debug("late reply dropped", "op", m.Opcode, "reqid", m.ReqID, "service", p.ep.Service)
		}
		return nil
	}
	p.inbox.Put(m)
	return nil
}

// Endpoint implements rpc.Port.
func (p *Port) Endpoint() proto.Endpoint { return p.ep }

// Inbox implements rpc.Port.
func (p *Port) Inbox() *rpc.Mailbox { return p.inbox }

// Send implements rpc.Port.
func (p *Port) Send(m *proto.Message) error {
	if p.closed.Load() {
		return rpc.ErrClosed
	}
	m.Src.PNN, m.Src.Service = p.ep.PNN, p.ep.Service
	return p.t.route(m)
}

// Call implements rpc.Port.
func (p *Port) Call(ctx context.Context, dst proto.Endpoint, op proto.Opcode, req proto.Payload, flags uint32) (*proto.Reply, error) {
	call, err := p.caller.Start()
	if err != nil {
		return nil, err
	}
	m := &proto.Message{
		Header: proto.Header{Dst: dst, Flags: flags | proto.FlagRequest, ReqID: call.ReqID, Opcode: op},
	}
	if req != nil {
		m.Payload = req.AppendTo(nil)
	}
	if err := p.Send(m); err != nil {
		call.Done()
		return nil, err
	}
	return call.Wait(ctx, op)
}

// Reply implements rpc.Port.
func (p *Port) Reply(req *proto.Message, status proto.Status, msg string, body proto.Payload) error {
	if !req.IsRequest() {
		return nil
	}
	return p.Send(rpc.ReplyFrame(req, status, msg, body))
}

// RegisterSrvID implements rpc.Port.
func (p *Port) RegisterSrvID(_ context.Context, srvid uint64) error {
	p.t.registerSrvID(srvKey{proto.ServiceMessage, srvid}, p)
	return nil
}

// DeregisterSrvID implements rpc.Port.
func (p *Port) DeregisterSrvID(_ context.Context, srvid uint64) error {
	p.t.deregisterSrvID(srvKey{proto.ServiceMessage, srvid}, p)
	return nil
}

// Close implements rpc.Port.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.t.unregisterSink(p)
	p.caller.Close(rpc.ErrClosed)
	p.inbox.Close()
	return nil
}
