package eventscripts

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors returned by the runner.
var (
	ErrUnknownEvent   = errors.New("unknown event")
	ErrBadArgs        = errors.New("wrong arguments")
	ErrFailed         = errors.New("event failed")
	ErrTimedOut       = errors.New("event timed out")
	ErrCancelled      = errors.New("event cancelled")
	ErrNeverRun       = errors.New("event has never run")
	ErrScriptNotFound = errors.New("script does not exist")
	ErrInvalidScript  = errors.New("invalid script")
	ErrClosed         = errors.New("event runner closed")
)

// Status is the outcome of one script, as ctdb event status shows it.
type Status int

// Script outcomes.
const (
	StatusOK Status = iota
	// StatusError: the script exited with a non-zero status.
	StatusError
	// StatusTimedOut: the event's time ran out while the script ran.
	StatusTimedOut
	// StatusDisabled: the script is not executable (or could not be
	// executed for a reason that means the same, such as a missing
	// interpreter line). It is not a failure.
	StatusDisabled
	// StatusCannotRun: the script could not be started, or was killed by
	// a signal.
	StatusCannotRun
)

// String returns the word ctdb prints for the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusError:
		return "ERROR"
	case StatusTimedOut:
		return "TIMEDOUT"
	case StatusDisabled:
		return "DISABLED"
	case StatusCannotRun:
		return "CANNOT RUN"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

func (s Status) failed() bool { return s != StatusOK && s != StatusDisabled }

// ScriptResult is the outcome of one script in one run.
type ScriptResult struct {
	Name   string
	Status Status
	// ExitCode is the script's exit status (StatusOK, StatusError).
	ExitCode int
	// Err says why a script could not run (StatusCannotRun).
	Err      error
	Start    time.Time
	Duration time.Duration
	// Output is stdout and stderr interleaved; only the last
	// Config.MaxOutput bytes are kept, then OutputTruncated is set.
	Output          string
	OutputTruncated bool
}

// Result is the outcome of one run of an event. Scripts lists the scripts
// in the order they ran; after a failure the remaining ones do not run and
// are not listed, as in CTDB.
type Result struct {
	Event    Event
	Args     []string
	Start    time.Time
	Duration time.Duration
	Scripts  []ScriptResult
}

// Status summarises the run: OK, or the status of the script that failed.
func (r *Result) Status() Status {
	for _, s := range r.Scripts {
		if s.Status.failed() {
			return s.Status
		}
	}
	return StatusOK
}

// Err returns nil for a successful run, otherwise an error naming the
// failed script that wraps ErrFailed or ErrTimedOut.
func (r *Result) Err() error {
	for _, s := range r.Scripts {
		switch s.Status {
		case StatusError:
			return fmt.Errorf("%w: %s %s: script %s exited with status %d", ErrFailed, r.Event, joinArgs(r.Args), s.Name, s.ExitCode)
		case StatusCannotRun:
			return fmt.Errorf("%w: %s %s: script %s: %v", ErrFailed, r.Event, joinArgs(r.Args), s.Name, s.Err)
		case StatusTimedOut:
			return fmt.Errorf("%w: %s %s: script %s", ErrTimedOut, r.Event, joinArgs(r.Args), s.Name)
		}
	}
	return nil
}

func joinArgs(args []string) string {
	if len(args) == 0 {
		return "(no arguments)"
	}
	return fmt.Sprint(args)
}

func (r *Result) clone() *Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Args = slices.Clone(r.Args)
	c.Scripts = slices.Clone(r.Scripts)
	return &c
}
