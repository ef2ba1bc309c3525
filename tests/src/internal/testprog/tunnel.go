package testprog

import (
	"context"

	"gctdb/ctdbd/client"
)

// TunnelTest is CTDB's CTDB_TUNNEL_TEST tunnel id range.
const TunnelTest uint64 = 0xffffffff00000000

// Tunnel is a CTDB tunnel as the test programs use it: an id set up on a
// node, to which programs on other nodes send data. gctdb's transport
// carries tunnel data as messages whose srvid is the tunnel id.
type Tunnel struct {
	c   *client.Client
	id  uint64
	sub *client.Subscription
}

// SetupTunnel sets tunnel id up on the connected node.
func SetupTunnel(ctx context.Context, c *client.Client, id uint64) (*Tunnel, error) {
	sub, err := c.Subscribe(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Tunnel{c: c, id: id, sub: sub}, nil
}

// Request sends data through the tunnel to node pnn, without waiting for
// a reply.
func (t *Tunnel) Request(pnn uint32, data []byte) error {
	return t.c.SendMessage(pnn, t.id, data)
}

// Next returns the next data that arrived, false when ctx ends or the
// tunnel is destroyed.
func (t *Tunnel) Next(ctx context.Context) ([]byte, bool) {
	m, ok := t.sub.Next(ctx)
	if !ok {
		return nil, false
	}
	return m.Payload, true
}

// Destroy takes the tunnel down.
func (t *Tunnel) Destroy(ctx context.Context) error { return t.sub.Close(ctx) }
