package client

import (
	"context"
	"time"

	"gctdb/transportd/proto"
)

// Typed calls of the event service (proto's event family). component is
// "legacy", the only one gctdb and CTDB 4.17 have.

// EventRun runs an event on node pnn and returns its result once every
// script has run; timeout 0 means the node's EventScriptTimeout. A
// failed, timed-out or cancelled run is not an error: see
// EventResult.Result.
func (c *Client) EventRun(ctx context.Context, pnn uint32, component, event string, timeout time.Duration, args ...string) (*proto.EventResult, error) {
	var r proto.EventResult
	req := &proto.EventRun{Component: component, Event: event, Args: args, Timeout: timeout}
	if err := c.Control(ctx, pnn, proto.ServiceEvent, proto.OpEventRun, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// EventStatus returns the last completed run of an event on node pnn; an
// event that has never run is a StatusNotFound error.
func (c *Client) EventStatus(ctx context.Context, pnn uint32, component, event string) (*proto.EventResult, error) {
	var r proto.EventResult
	if err := c.Control(ctx, pnn, proto.ServiceEvent, proto.OpEventStatus, &proto.EventQuery{Component: component, Event: event}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// EventScripts lists the scripts of a component on node pnn in run order.
func (c *Client) EventScripts(ctx context.Context, pnn uint32, component string) ([]proto.ScriptInfo, error) {
	var l proto.ScriptList
	if err := c.Control(ctx, pnn, proto.ServiceEvent, proto.OpEventScripts, &proto.Name{Name: component}, &l); err != nil {
		return nil, err
	}
	return l.Scripts, nil
}

// EventScriptEnable enables or disables a script on node pnn. Enabling a
// script that does not exist is a StatusNotFound error whose message is
// the one ctdb prints.
func (c *Client) EventScriptEnable(ctx context.Context, pnn uint32, component, script string, enable bool) error {
	return c.Control(ctx, pnn, proto.ServiceEvent, proto.OpEventScriptEnable, &proto.ScriptChange{Component: component, Script: script, Enable: enable}, nil)
}
