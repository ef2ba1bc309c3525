package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Exit statuses. A command's result (nodestatus flags, a runstate
// mismatch) is its own; failures map to CTDB's values: 1, or the errno
// CTDB's tool returns for the cases scripts can tell apart.
const (
	exitOK      = 0
	exitFailure = 1
	exitInvalid = 22  // EINVAL: a value that cannot be parsed
	exitTimeout = 110 // ETIMEDOUT: a node did not answer within -t
)

// errMaxRuntime is the cause of the run's context ending at -T.
var errMaxRuntime = errors.New("maximum runtime exceeded")

// usageError means the command line is wrong: the usage of cmd (of
// every command when nil) goes to stderr and the exit status is 1.
type usageError struct{ cmd *command }

func (e *usageError) Error() string {
	if e.cmd == nil {
		return "usage"
	}
	return "usage: " + e.cmd.name
}

// exitError ends the command with msg on stderr (nothing when empty) and
// an exit status.
type exitError struct {
	status int
	msg    string
}

func (e *exitError) Error() string { return e.msg }

// failf is an exitError with status 1.
func failf(format string, args ...any) error {
	return &exitError{status: exitFailure, msg: fmt.Sprintf(format, args...)}
}

// nodeError is the failure of a command on one node.
type nodeError struct {
	pnn uint32
	err error
}

func (e *nodeError) Error() string { return errorMessage(e) }
func (e *nodeError) Unwrap() error { return e.err }

// errorMessage is what the user reads on stderr for err.
func errorMessage(err error) string {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.msg
	}
	pnn, node := uint32(0), false
	var ne *nodeError
	if errors.As(err, &ne) {
		pnn, node = ne.pnn, true
	}
	var se *proto.StatusError
	if errors.As(err, &se) {
		msg := "Control " + strings.ToUpper(se.Op.String()) + " failed"
		if node {
			msg += fmt.Sprintf(" to node %d", pnn)
		}
		msg += ": " + se.Status.String()
		if se.Msg != "" {
			msg += ": " + se.Msg
		}
		return msg
	}
	if errors.Is(err, client.ErrClosed) {
		return "Connection to CTDB daemon closed"
	}
	if ne != nil {
		return ne.err.Error()
	}
	return err.Error()
}

// exitCode is the exit status for err.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.status
	}
	if proto.StatusOf(err) == proto.StatusTimeout || errors.Is(err, context.DeadlineExceeded) {
		return exitTimeout
	}
	return exitFailure
}
