package proto

import (
	"errors"
	"fmt"
)

// Status is the result code carried by every reply. Zero is success;
// negative values are errors defined here; a service may return positive
// values as a result in itself (as CTDB controls do).
type Status int32

// Reply statuses.
const (
	StatusOK          Status = 0
	StatusFailed      Status = -1  // unspecified failure; see the message
	StatusInvalid     Status = -2  // malformed or invalid request
	StatusNotFound    Status = -3  // no such object
	StatusUnsupported Status = -4  // unknown opcode or service not present
	StatusUnavailable Status = -5  // destination node not connected
	StatusQueueFull   Status = -6  // the link's queue overflowed; nothing was sent
	StatusTimeout     Status = -7  // no reply in time
	StatusBusy        Status = -8  // try again (frozen, recovering)
	StatusNotLeader   Status = -9  // only the leader can do this
	StatusExists      Status = -10 // already exists
	StatusPermission  Status = -11 // not allowed
	StatusShutdown    Status = -12 // the node is shutting down
	StatusConflict    Status = -13 // conflicting state (e.g. wrong database type)
)

var statusNames = map[Status]string{
	StatusOK:          "ok",
	StatusFailed:      "failed",
	StatusInvalid:     "invalid request",
	StatusNotFound:    "not found",
	StatusUnsupported: "not supported",
	StatusUnavailable: "node unavailable",
	StatusQueueFull:   "queue full",
	StatusTimeout:     "timed out",
	StatusBusy:        "busy",
	StatusNotLeader:   "not leader",
	StatusExists:      "already exists",
	StatusPermission:  "permission denied",
	StatusShutdown:    "shutting down",
	StatusConflict:    "conflict",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", int32(s))
}

// StatusError is the error form of a non-OK reply.
type StatusError struct {
	Op     Opcode
	Status Status
	Msg    string
}

func (e *StatusError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: %s: %s", e.Op, e.Status, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Op, e.Status)
}

// Is lets errors.Is match on a status: errors.Is(err, &StatusError{Status: StatusNotFound}).
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status && (t.Op == 0 || t.Op == e.Op)
}

// StatusOf returns the status carried by err: StatusOK for nil, the reply
// status for a *StatusError, StatusFailed otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return StatusFailed
}

// MaxErrorMessage bounds the text in a reply envelope.
const MaxErrorMessage = 4096

// Reply is the envelope at the start of every reply payload.
type Reply struct {
	Status Status
	Msg    string
	Body   []byte
}

// AppendTo appends the envelope followed by the body.
func (r *Reply) AppendTo(b []byte) []byte {
	b = AppendI32(b, int32(r.Status))
	msg := r.Msg
	if len(msg) > MaxErrorMessage {
		msg = msg[:MaxErrorMessage]
	}
	b = AppendString(b, msg)
	return append(b, r.Body...)
}

// DecodeFrom reads the envelope; the rest of the buffer is the body.
func (r *Reply) DecodeFrom(d *Decoder) {
	r.Status = Status(d.I32())
	r.Msg = d.String(MaxErrorMessage)
	r.Body = d.Rest()
}

// Err returns nil for a non-negative status (success, or a result code a
// service returns as its answer) and a *StatusError otherwise.
func (r *Reply) Err(op Opcode) error {
	if r.Status >= StatusOK {
		return nil
	}
	return &StatusError{Op: op, Status: r.Status, Msg: r.Msg}
}
