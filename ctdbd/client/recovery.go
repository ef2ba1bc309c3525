package client

import (
	"context"

	"gctdb/transportd/proto"
)

// Recover asks node pnn for a recovery (`ctdb recover`), which it passes
// on to the leader, and waits until a recovery that started after the
// request has finished; it returns that recovery.
func (c *Client) Recover(ctx context.Context, pnn uint32, reason string) (*proto.RecoveryEvent, error) {
	var ev proto.RecoveryEvent
	if err := c.Control(ctx, pnn, proto.ServiceRecovery, proto.OpRecover, &proto.RecoverRequest{Reason: reason}, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// RecoveryStatus returns node pnn's recovery state and statistics.
func (c *Client) RecoveryStatus(ctx context.Context, pnn uint32) (*proto.RecoveryStatus, error) {
	var st proto.RecoveryStatus
	if err := c.Control(ctx, pnn, proto.ServiceRecovery, proto.OpRecoveryStatus, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
