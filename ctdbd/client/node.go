package client

import (
	"context"
	"errors"

	"gctdb/transportd/proto"
)

// Typed calls of the node service (proto's node family). Each one asks
// node pnn (Local for the node the client is connected to); a request to
// a disconnected node fails at once with a *proto.StatusError of status
// proto.StatusUnavailable, and ctx bounds the wait for the reply.

func (c *Client) nodeControl(ctx context.Context, pnn uint32, op proto.Opcode, req, resp proto.Payload) error {
	return c.Control(ctx, pnn, proto.ServiceNode, op, req, resp)
}

func (c *Client) nodeU32(ctx context.Context, pnn uint32, op proto.Opcode) (uint32, error) {
	var v proto.U32
	if err := c.nodeControl(ctx, pnn, op, nil, &v); err != nil {
		return 0, err
	}
	return v.V, nil
}

// Ping checks that node pnn answers and returns how many clients are
// connected to it.
func (c *Client) Ping(ctx context.Context, pnn uint32) (numClients uint32, err error) {
	var r proto.PingReply
	if err := c.nodeControl(ctx, pnn, proto.OpPing, nil, &r); err != nil {
		return 0, err
	}
	return r.NumClients, nil
}

// GetPNN returns the number node pnn has in the nodes file (useful with
// Local).
func (c *Client) GetPNN(ctx context.Context, pnn uint32) (uint32, error) {
	return c.nodeU32(ctx, pnn, proto.OpGetPNN)
}

// GetPID returns the process id of node pnn's daemon.
func (c *Client) GetPID(ctx context.Context, pnn uint32) (uint32, error) {
	return c.nodeU32(ctx, pnn, proto.OpGetPID)
}

// Runstate returns node pnn's start-up state.
func (c *Client) Runstate(ctx context.Context, pnn uint32) (proto.Runstate, error) {
	v, err := c.nodeU32(ctx, pnn, proto.OpGetRunstate)
	return proto.Runstate(v), err
}

// Uptime returns node pnn's clock, start time and last recovery times.
func (c *Client) Uptime(ctx context.Context, pnn uint32) (*proto.Uptime, error) {
	var u proto.Uptime
	if err := c.nodeControl(ctx, pnn, proto.OpUptime, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// NodeMap returns every node of the nodes file with its flags, as node
// pnn currently sees them.
func (c *Client) NodeMap(ctx context.Context, pnn uint32) (*proto.NodeMap, error) {
	var m proto.NodeMap
	if err := c.nodeControl(ctx, pnn, proto.OpGetNodeMap, nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// GetTunable returns one tunable of node pnn; the name is matched in any
// case. An unknown or obsolete name is a StatusNotFound error.
func (c *Client) GetTunable(ctx context.Context, pnn uint32, name string) (uint32, error) {
	var v proto.U32
	if err := c.nodeControl(ctx, pnn, proto.OpGetTunable, &proto.Name{Name: name}, &v); err != nil {
		return 0, err
	}
	return v.V, nil
}

// SetTunable changes one tunable of node pnn. Setting a tunable CTDB
// keeps only for compatibility changes nothing and reports obsolete.
func (c *Client) SetTunable(ctx context.Context, pnn uint32, name string, value uint32) (obsolete bool, err error) {
	st, _, err := c.ControlStatus(ctx, pnn, proto.ServiceNode, proto.OpSetTunable, &proto.Tunable{Name: name, Value: value})
	if err != nil {
		return false, err
	}
	return st == 1, nil
}

// ListTunables returns node pnn's tunables in CTDB's listing order.
func (c *Client) ListTunables(ctx context.Context, pnn uint32) ([]proto.Tunable, error) {
	var l proto.TunableList
	if err := c.nodeControl(ctx, pnn, proto.OpListTunables, nil, &l); err != nil {
		return nil, err
	}
	return l.Tunables, nil
}

// GetDebug returns node pnn's log level by CTDB name (ERROR, WARNING,
// NOTICE, INFO, DEBUG).
func (c *Client) GetDebug(ctx context.Context, pnn uint32) (string, error) {
	var n proto.Name
	if err := c.nodeControl(ctx, pnn, proto.OpGetDebug, nil, &n); err != nil {
		return "", err
	}
	return n.Name, nil
}

// SetDebug changes node pnn's log level. The level is what CTDB accepts:
// a name or a leading part of one in any case, or a number from 0 to 10;
// anything else is a StatusInvalid error.
func (c *Client) SetDebug(ctx context.Context, pnn uint32, level string) error {
	return c.nodeControl(ctx, pnn, proto.OpSetDebug, &proto.Name{Name: level}, nil)
}

// Capabilities returns node pnn's capability bits (proto.CapLeader,
// proto.CapLMaster).
func (c *Client) Capabilities(ctx context.Context, pnn uint32) (uint32, error) {
	return c.nodeU32(ctx, pnn, proto.OpGetCapabilities)
}

// SetCapabilities sets and clears capability bits of node pnn.
func (c *Client) SetCapabilities(ctx context.Context, pnn uint32, set, clear uint32) error {
	return c.nodeControl(ctx, pnn, proto.OpSetCapabilities, &proto.Capabilities{Set: set, Clear: clear}, nil)
}

// Statistics returns node pnn's counters since the last reset.
func (c *Client) Statistics(ctx context.Context, pnn uint32) (*proto.Statistics, error) {
	var s proto.Statistics
	if err := c.nodeControl(ctx, pnn, proto.OpStatistics, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ResetStatistics zeroes node pnn's counters.
func (c *Client) ResetStatistics(ctx context.Context, pnn uint32) error {
	return c.nodeControl(ctx, pnn, proto.OpStatisticsReset, nil, nil)
}

// Shutdown asks node pnn's daemon to stop. It returns once the daemon
// has accepted the request; the connection to a local daemon closes soon
// after (see Done).
func (c *Client) Shutdown(ctx context.Context, pnn uint32) error {
	err := c.nodeControl(ctx, pnn, proto.OpShutdown, nil, nil)
	if errors.Is(err, ErrClosed) && (pnn == Local || pnn == c.pnn) {
		// The local daemon may close the socket before its answer is
		// written: that is the shutdown the caller asked for.
		return nil
	}
	return err
}

// ModifyFlags sets and clears administrative flags of node pnn (stop and
// continue, disable and enable).
func (c *Client) ModifyFlags(ctx context.Context, pnn uint32, set, clear uint32) error {
	return c.nodeControl(ctx, pnn, proto.OpModifyFlags, &proto.ModifyFlags{Set: set, Clear: clear}, nil)
}
