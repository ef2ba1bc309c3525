package client

import (
	"context"
	"net/netip"
	"time"

	"gctdb/transportd/proto"
)

// Typed calls of the failover service (proto's failover family). Each
// asks node pnn (Local for the node the client is connected to).

func (c *Client) failoverControl(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	return c.Control(ctx, pnn, proto.ServiceFailover, op, req, resp)
}

// PublicIPs returns node pnn's public addresses in address order, each
// with the node it believes hosts it (proto.PNNUnknown for none).
func (c *Client) PublicIPs(ctx context.Context, pnn uint32) (*proto.PublicIPList, error) {
	var l proto.PublicIPList
	if err := c.failoverControl(ctx, pnn, proto.OpGetPublicIPs, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// PublicIPInfo returns what node pnn knows about one public address; an
// address the node does not have is a StatusNotFound error.
func (c *Client) PublicIPInfo(ctx context.Context, pnn uint32, addr netip.Addr) (*proto.PublicIPInfo, error) {
	var info proto.PublicIPInfo
	if err := c.failoverControl(ctx, pnn, proto.OpGetPublicIPInfo, &proto.IPAddr{Addr: addr}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Ifaces returns node pnn's public interfaces in name order.
func (c *Client) Ifaces(ctx context.Context, pnn uint32) ([]proto.Iface, error) {
	var l proto.IfaceList
	if err := c.failoverControl(ctx, pnn, proto.OpGetIfaces, nil, &l); err != nil {
		return nil, err
	}
	return l.Ifaces, nil
}

// SetIfaceLink records an interface's link state on node pnn; an
// interface no public address uses is a StatusNotFound error.
func (c *Client) SetIfaceLink(ctx context.Context, pnn uint32, iface string, up bool) error {
	return c.failoverControl(ctx, pnn, proto.OpSetIfaceLink, &proto.IfaceLink{Name: iface, Up: up}, nil)
}

// IPReallocate asks the leader for a takeover run and returns once a run
// that started after the request has finished (`ctdb ipreallocate`).
func (c *Client) IPReallocate(ctx context.Context) error {
	return c.failoverControl(ctx, Local, proto.OpTakeoverRun, &proto.TakeoverRequest{From: c.pnn}, nil)
}

// AddPublicIP adds an address to node pnn's configuration; the leader
// runs a takeover that may move addresses onto the node.
func (c *Client) AddPublicIP(ctx context.Context, pnn uint32, prefix netip.Prefix, ifaces []string) error {
	req := &proto.PublicAddress{Addr: prefix.Addr(), Bits: uint8(prefix.Bits()), Ifaces: ifaces}
	return c.failoverControl(ctx, pnn, proto.OpAddPublicIP, req, nil)
}

// DelPublicIP removes an address from node pnn's configuration; if the
// node hosts it, it goes at the next takeover run.
func (c *Client) DelPublicIP(ctx context.Context, pnn uint32, addr netip.Addr) error {
	return c.failoverControl(ctx, pnn, proto.OpDelPublicIP, &proto.IPAddr{Addr: addr}, nil)
}

// ReloadIPs makes node pnn re-read its public_addresses file.
func (c *Client) ReloadIPs(ctx context.Context, pnn uint32) error {
	return c.failoverControl(ctx, pnn, proto.OpReloadIPs, nil, nil)
}

// MoveIP moves one address to node to through the leader.
func (c *Client) MoveIP(ctx context.Context, addr netip.Addr, to uint32) error {
	return c.failoverControl(ctx, Local, proto.OpMoveIP, &proto.IPAssignment{Addr: addr, PNN: to}, nil)
}

// Tickles returns the client connections node pnn knows for a public
// address; a non-zero port keeps those to that server port.
func (c *Client) Tickles(ctx context.Context, pnn uint32, addr netip.Addr, port uint16) (*proto.TickleList, error) {
	var l proto.TickleList
	if err := c.failoverControl(ctx, pnn, proto.OpGetTickles, &proto.IPAddrPort{Addr: addr, Port: port}, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// AddTickle records a client connection to a public address on node pnn,
// so that clients are reset quickly when the address moves.
func (c *Client) AddTickle(ctx context.Context, pnn uint32, conn proto.TCPConnection) error {
	return c.failoverControl(ctx, pnn, proto.OpAddTickle, &conn, nil)
}

// DelTickle forgets a client connection on node pnn.
func (c *Client) DelTickle(ctx context.Context, pnn uint32, conn proto.TCPConnection) error {
	return c.failoverControl(ctx, pnn, proto.OpDelTickle, &conn, nil)
}

// SendGratArp makes node pnn announce addr on iface.
func (c *Client) SendGratArp(ctx context.Context, pnn uint32, addr netip.Addr, iface string) error {
	return c.failoverControl(ctx, pnn, proto.OpSendGratArp, &proto.AddrIface{Addr: addr, Iface: iface}, nil)
}

// SendTickle makes the local node send one tickle ACK to the client of
// conn, from its server side.
func (c *Client) SendTickle(ctx context.Context, conn proto.TCPConnection) error {
	return c.failoverControl(ctx, Local, proto.OpSendTickle, &conn, nil)
}

// Evacuate makes the local node stop hosting public addresses and waits,
// at most timeout, until other nodes have taken them (before shutdown).
func (c *Client) Evacuate(ctx context.Context, timeout time.Duration) error {
	return c.failoverControl(ctx, Local, proto.OpEvacuate, &proto.U32{V: uint32(timeout / time.Millisecond)}, nil)
}
