package proto

import (
	"fmt"
	"time"
)

// Event family: event scripts, answered by the event service
// (ServiceEvent) of each node.
const (
	// OpEventRun (EventRun) runs an event and answers with its
	// EventResult once it has finished (`ctdb event run`, and the
	// failover and recovery services for takeip, releaseip, updateip,
	// ipreallocated, startrecovery and recovered).
	OpEventRun = FamilyEvent | 0x0001
	// OpEventStatus (EventQuery) answers with the last completed run of
	// an event (`ctdb event status`, `ctdb scriptstatus`);
	// StatusNotFound when it has never run.
	OpEventStatus = FamilyEvent | 0x0002
	// OpEventScripts (Name: the component) answers with ScriptList
	// (`ctdb event script list`).
	OpEventScripts = FamilyEvent | 0x0003
	// OpEventScriptEnable (ScriptChange) enables or disables a script
	// (`ctdb event script enable|disable`).
	OpEventScriptEnable = FamilyEvent | 0x0004
)

var eventOpcodeNames = map[Opcode]string{
	OpEventRun:          "event_run",
	OpEventStatus:       "event_status",
	OpEventScripts:      "event_script_list",
	OpEventScriptEnable: "event_script_enable",
}

// MaxEventArgs bounds the arguments of an event.
const MaxEventArgs = 64

// MaxScriptOutput bounds the output kept of one script run.
const MaxScriptOutput = 1 << 20

// EventRun asks for an event to be run.
type EventRun struct {
	// Component is the script directory under events/, "legacy".
	Component string
	Event     string
	Args      []string
	// Timeout bounds the whole run; zero means the node's
	// EventScriptTimeout.
	Timeout time.Duration
}

// AppendTo encodes r.
func (r *EventRun) AppendTo(b []byte) []byte {
	b = AppendString(b, r.Component)
	b = AppendString(b, r.Event)
	b = appendStrings(b, r.Args)
	return AppendI64(b, int64(r.Timeout))
}

// DecodeFrom decodes r.
func (r *EventRun) DecodeFrom(d *Decoder) {
	r.Component = d.String(MaxName)
	r.Event = d.String(MaxName)
	r.Args = decodeStrings(d, MaxEventArgs, MaxName)
	r.Timeout = time.Duration(d.I64())
	if d.Err() == nil && r.Timeout < 0 {
		d.Fail(fmt.Errorf("%w: negative event timeout", ErrMalformed))
	}
}

func appendStrings(b []byte, ss []string) []byte {
	b = AppendU32(b, uint32(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

func decodeStrings(d *Decoder, maxCount, maxLen int) []string {
	n := d.Count(4)
	if n > maxCount {
		d.Fail(fmt.Errorf("%w: %d strings, limit %d", ErrTooLarge, n, maxCount))
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, d.String(maxLen))
	}
	return out
}

// EventQuery names an event of a component.
type EventQuery struct {
	Component string
	Event     string
}

// AppendTo encodes q.
func (q *EventQuery) AppendTo(b []byte) []byte {
	return AppendString(AppendString(b, q.Component), q.Event)
}

// DecodeFrom decodes q.
func (q *EventQuery) DecodeFrom(d *Decoder) {
	q.Component = d.String(MaxName)
	q.Event = d.String(MaxName)
}

// Script outcomes in ScriptResult.Status, as `ctdb event status` names
// them.
const (
	ScriptOK        uint8 = 0
	ScriptError     uint8 = 1
	ScriptTimedOut  uint8 = 2
	ScriptDisabled  uint8 = 3
	ScriptCannotRun uint8 = 4
)

// ScriptResult is one script's part of an event run.
type ScriptResult struct {
	Name   string
	Status uint8
	// ExitCode is the exit status of a script that failed (ScriptError).
	ExitCode int32
	// Err says why a script could not run (ScriptCannotRun).
	Err      string
	Start    Timestamp
	Duration time.Duration
	Output   string
}

// AppendTo encodes s.
func (s *ScriptResult) AppendTo(b []byte) []byte {
	b = AppendString(b, s.Name)
	b = AppendU8(b, s.Status)
	b = AppendI32(b, s.ExitCode)
	b = AppendString(b, s.Err)
	b = AppendI64(b, int64(s.Start))
	b = AppendI64(b, int64(s.Duration))
	return AppendString(b, s.Output)
}

// DecodeFrom decodes s.
func (s *ScriptResult) DecodeFrom(d *Decoder) {
	s.Name = d.String(MaxName)
	s.Status = d.U8()
	s.ExitCode = d.I32()
	s.Err = d.String(MaxErrorMessage)
	s.Start = Timestamp(d.I64())
	s.Duration = time.Duration(d.I64())
	s.Output = d.String(MaxScriptOutput)
	if d.Err() == nil && s.Status > ScriptCannotRun {
		d.Fail(fmt.Errorf("%w: script status %d", ErrMalformed, s.Status))
	}
}

// Event run outcomes in EventResult.Result, with the errno values CTDB's
// event daemon uses so that `ctdb event run` exits as CTDB's does.
const (
	EventResultOK        int32 = 0
	EventResultNoDir     int32 = 2   // ENOENT: no such component
	EventResultFailed    int32 = 8   // ENOEXEC: a script failed
	EventResultTimedOut  int32 = 110 // ETIMEDOUT
	EventResultCancelled int32 = 125 // ECANCELED
)

// EventResult is the outcome of one event run.
type EventResult struct {
	Event    string
	Args     []string
	Start    Timestamp
	Duration time.Duration
	// Result is EventResultOK or the reason the run failed.
	Result int32
	// Summary is what `ctdb event status` exits with: 0, the exit status
	// of the failed script, or ETIMEDOUT.
	Summary int32
	Scripts []ScriptResult
}

// AppendTo encodes r.
func (r *EventResult) AppendTo(b []byte) []byte {
	b = AppendString(b, r.Event)
	b = appendStrings(b, r.Args)
	b = AppendI64(b, int64(r.Start))
	b = AppendI64(b, int64(r.Duration))
	b = AppendI32(b, r.Result)
	b = AppendI32(b, r.Summary)
	b = AppendU32(b, uint32(len(r.Scripts)))
	for i := range r.Scripts {
		b = r.Scripts[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes r.
func (r *EventResult) DecodeFrom(d *Decoder) {
	r.Event = d.String(MaxName)
	r.Args = decodeStrings(d, MaxEventArgs, MaxName)
	r.Start = Timestamp(d.I64())
	r.Duration = time.Duration(d.I64())
	r.Result = d.I32()
	r.Summary = d.I32()
	n := d.Count(37)
	r.Scripts = make([]ScriptResult, n)
	for i := range r.Scripts {
		r.Scripts[i].DecodeFrom(d)
	}
}

// ScriptInfo is one script of a component.
type ScriptInfo struct {
	Name    string
	Enabled bool
}

// ScriptList answers OpEventScripts, in run order.
type ScriptList struct {
	Scripts []ScriptInfo
}

// AppendTo encodes l.
func (l *ScriptList) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(l.Scripts)))
	for _, s := range l.Scripts {
		b = AppendString(b, s.Name)
		b = AppendBool(b, s.Enabled)
	}
	return b
}

// DecodeFrom decodes l.
func (l *ScriptList) DecodeFrom(d *Decoder) {
	n := d.Count(5)
	l.Scripts = make([]ScriptInfo, n)
	for i := range l.Scripts {
		l.Scripts[i].Name = d.String(MaxName)
		l.Scripts[i].Enabled = d.Bool()
	}
}

// ScriptChange enables or disables a script.
type ScriptChange struct {
	Component string
	Script    string
	Enable    bool
}

// AppendTo encodes c.
func (c *ScriptChange) AppendTo(b []byte) []byte {
	b = AppendString(b, c.Component)
	b = AppendString(b, c.Script)
	return AppendBool(b, c.Enable)
}

// DecodeFrom decodes c.
func (c *ScriptChange) DecodeFrom(d *Decoder) {
	c.Component = d.String(MaxName)
	c.Script = d.String(MaxName)
	c.Enable = d.Bool()
}
