package client

import (
	"context"

	"gctdb/transportd/proto"
)

// Leader returns node pnn's view of the leader (ctdb leader).
func (c *Client) Leader(ctx context.Context, pnn uint32) (*proto.Leader, error) {
	var l proto.Leader
	if err := c.Control(ctx, pnn, proto.ServiceCluster, proto.OpGetLeader, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ClusterLock returns the cluster lock node pnn uses, "" for none
// (ctdb getreclock).
func (c *Client) ClusterLock(ctx context.Context, pnn uint32) (string, error) {
	var n proto.Name
	if err := c.Control(ctx, pnn, proto.ServiceCluster, proto.OpGetClusterLock, nil, &n); err != nil {
		return "", err
	}
	return n.Name, nil
}

// ClusterStatus returns node pnn's election state and counters.
func (c *Client) ClusterStatus(ctx context.Context, pnn uint32) (*proto.ClusterStatus, error) {
	var s proto.ClusterStatus
	if err := c.Control(ctx, pnn, proto.ServiceCluster, proto.OpClusterStatus, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Ban bans node pnn for seconds with a reason (ctdb ban).
func (c *Client) Ban(ctx context.Context, pnn uint32, seconds uint32, reason string) error {
	return c.Control(ctx, pnn, proto.ServiceBanning, proto.OpBan, &proto.BanRequest{Seconds: seconds, By: proto.PNNUnknown, Reason: reason}, nil)
}

// Unban lifts node pnn's ban (ctdb unban); it reports whether the node
// was banned.
func (c *Client) Unban(ctx context.Context, pnn uint32) (bool, error) {
	status, _, err := c.ControlStatus(ctx, pnn, proto.ServiceBanning, proto.OpUnban, nil)
	if err != nil {
		return false, err
	}
	return status == proto.StatusOK, nil
}

// BanState returns node pnn's ban, with its reason and expiry.
func (c *Client) BanState(ctx context.Context, pnn uint32) (*proto.BanState, error) {
	var s proto.BanState
	if err := c.Control(ctx, pnn, proto.ServiceBanning, proto.OpGetBanState, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
