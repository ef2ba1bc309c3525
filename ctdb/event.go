package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Event script commands: `ctdb event ...` (CTDB's ctdb-event tool) and
// `ctdb scriptstatus`. CTDB runs them without its daemon, talking to its
// event daemon; gctdb's event service lives in ctdbd, so they need the
// local daemon, and -n is refused as in CTDB.
func eventCommands() []*command {
	return []*command{
		{name: "event", help: "event and event script commands", maxArgs: -1, run: runEvent},
		{name: "scriptstatus", args: "[init|setup|startup|monitor|takeip|releaseip|ipreallocated]",
			help: "show event script status", maxArgs: 1, run: runScriptstatus},
	}
}

// CTDB's errno values that the event commands exit with.
const (
	errnoENOENT = 2
	errnoEINVAL = 22
)

// eventUsage is the ctdb-event usage `ctdb event` prints for wrong
// arguments.
const eventUsage = `Usage: ctdb event <command> [<args>]

Commands:
  run <timeout> <component> <event> <args>  Run an event
  status <component> <event>                Get status of an event
  script list <component>                   List event scripts
  script enable <component> <script>        Enable an event script
  script disable <component> <script>       Disable an event script
`

func refuseNode(r *request, name string) error {
	if r.x.opts.node != "" {
		return failf("Cannot specify node for command %s", name)
	}
	return nil
}

func runEvent(ctx context.Context, r *request) (view, error) {
	if err := refuseNode(r, "event"); err != nil {
		return nil, err
	}
	a := r.args
	bad := func() (view, error) {
		return nil, &exitError{status: exitFailure, msg: strings.TrimRight(eventUsage, "\n")}
	}
	switch {
	case len(a) >= 4 && a[0] == "run":
		return eventRun(ctx, r, a[1], a[2], a[3], a[4:])
	case len(a) == 3 && a[0] == "status":
		return eventStatus(ctx, r, a[1], a[2])
	case len(a) == 3 && a[0] == "script" && a[1] == "list":
		return eventScriptList(ctx, r, a[2])
	case len(a) == 4 && a[0] == "script" && (a[1] == "enable" || a[1] == "disable"):
		return eventScriptEnable(ctx, r, a[2], a[3], a[1] == "enable")
	}
	return bad()
}

func runScriptstatus(ctx context.Context, r *request) (view, error) {
	if err := refuseNode(r, "scriptstatus"); err != nil {
		return nil, err
	}
	ev := "monitor"
	if len(r.args) == 1 {
		ev = r.args[0]
	}
	return eventStatus(ctx, r, "legacy", ev)
}

// eventRun is `ctdb event run TIMEOUT COMPONENT EVENT ARGS...`.
func eventRun(ctx context.Context, r *request, timeout, component, event string, args []string) (view, error) {
	secs, err := strconv.Atoi(timeout)
	if err != nil || secs < 0 {
		secs = 0
	}
	res, err := r.c.EventRun(ctx, client.Local, component, event, time.Duration(secs)*time.Second, args...)
	if proto.StatusOf(err) == proto.StatusInvalid {
		// An unknown event or wrong arguments: CTDB's EINVAL.
		return &statusMessage{Message: fmt.Sprintf("Failed to run event %s in %s, result=%d", event, component, errnoEINVAL), Status: errnoEINVAL}, nil
	}
	if err != nil {
		return nil, failf("Failed to run event %s in %s: %s", event, component, errorMessage(err))
	}
	msg := ""
	switch res.Result {
	case proto.EventResultOK:
		return nil, nil
	case proto.EventResultNoDir:
		msg = fmt.Sprintf("Event dir for %s does not exist", component)
	case proto.EventResultTimedOut:
		msg = fmt.Sprintf("Event %s in %s timed out", event, component)
	case proto.EventResultCancelled:
		msg = fmt.Sprintf("Event %s in %s got cancelled", event, component)
	case proto.EventResultFailed:
		msg = fmt.Sprintf("Event %s in %s failed", event, component)
	default:
		msg = fmt.Sprintf("Failed to run event %s in %s, result=%d", event, component, res.Result)
	}
	return &statusMessage{Message: msg, Status: int(res.Result)}, nil
}

// scriptStatusJS is one script in `ctdb event status`.
type scriptStatusJS struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// ExitCode is set for ERROR.
	ExitCode int32 `json:"exit_code,omitempty"`
	// Error says why a script could not run.
	Error    string     `json:"error,omitempty"`
	Start    *time.Time `json:"start"`
	Duration float64    `json:"duration"`
	Output   string     `json:"output,omitempty"`
}

// eventStatusView is `ctdb event status` and `ctdb scriptstatus`; the
// exit status is CTDB's summary: the failed script's status, ETIMEDOUT,
// or 0.
type eventStatusView struct {
	Event   string           `json:"event"`
	Scripts []scriptStatusJS `json:"scripts"`
	summary int
	loc     *time.Location
}

var scriptStatusNames = map[uint8]string{
	proto.ScriptOK:        "OK",
	proto.ScriptError:     "ERROR",
	proto.ScriptTimedOut:  "TIMEDOUT",
	proto.ScriptDisabled:  "DISABLED",
	proto.ScriptCannotRun: "CANNOT RUN",
}

func (v *eventStatusView) writeText(w io.Writer) {
	for _, s := range v.Scripts {
		var start int64
		if s.Start != nil {
			start = s.Start.Unix()
		}
		switch s.Status {
		case "DISABLED":
			fmt.Fprintf(w, "%-20s %-10s\n", s.Name, s.Status)
			continue
		case "TIMEDOUT":
			fmt.Fprintf(w, "%-20s %-10s %s\n", s.Name, s.Status, ctime(start, v.loc))
		case "CANNOT RUN":
			fmt.Fprintf(w, "%-20s %-10s (%s)\n", s.Name, s.Status, s.Error)
		default:
			fmt.Fprintf(w, "%-20s %-10s %.3f %s\n", s.Name, s.Status, s.Duration, ctime(start, v.loc))
		}
		if s.Status != "OK" {
			fmt.Fprintf(w, "  OUTPUT: %s\n", strings.TrimRight(s.Output, "\n"))
		}
	}
}

func (v *eventStatusView) exitStatus() int { return v.summary }

func eventStatus(ctx context.Context, r *request, component, event string) (view, error) {
	res, err := r.c.EventStatus(ctx, client.Local, component, event)
	switch proto.StatusOf(err) {
	case proto.StatusOK:
	case proto.StatusNotFound:
		if strings.HasPrefix(errorMessageOf(err), "Event dir") {
			return &statusMessage{Message: fmt.Sprintf("Event dir for %s does not exist", component), Status: errnoENOENT}, nil
		}
		return &statusMessage{Message: fmt.Sprintf("Event %s has never run in %s", event, component), Status: errnoEINVAL}, nil
	case proto.StatusInvalid:
		return &statusMessage{Message: fmt.Sprintf("Unknown error (%d) for event %s in %s", errnoEINVAL, event, component), Status: errnoEINVAL}, nil
	default:
		return nil, err
	}
	v := &eventStatusView{Event: res.Event, Scripts: []scriptStatusJS{}, summary: int(res.Summary), loc: r.x.loc}
	for _, s := range res.Scripts {
		js := scriptStatusJS{
			Name:     s.Name,
			Status:   scriptStatusNames[s.Status],
			Error:    s.Err,
			Start:    optionalTime(s.Start),
			Duration: s.Duration.Seconds(),
			Output:   s.Output,
		}
		if s.Status == proto.ScriptError {
			js.ExitCode = s.ExitCode
		}
		v.Scripts = append(v.Scripts, js)
	}
	return v, nil
}

// errorMessageOf is the daemon's message in a status error.
func errorMessageOf(err error) string {
	var se *proto.StatusError
	if errors.As(err, &se) {
		return se.Msg
	}
	return ""
}

// scriptListView is `ctdb event script list`: '*' marks enabled scripts.
type scriptListView struct {
	Scripts []scriptJS `json:"scripts"`
}

type scriptJS struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

func (v *scriptListView) writeText(w io.Writer) {
	for _, s := range v.Scripts {
		flag := ' '
		if s.Enabled {
			flag = '*'
		}
		fmt.Fprintf(w, "%c %s\n", flag, s.Name)
	}
}

func eventScriptList(ctx context.Context, r *request, component string) (view, error) {
	scripts, err := r.c.EventScripts(ctx, client.Local, component)
	if proto.StatusOf(err) == proto.StatusNotFound {
		return nil, &exitError{status: errnoENOENT, msg: fmt.Sprintf("Command script list finished with result=%d", errnoENOENT)}
	}
	if err != nil {
		return nil, err
	}
	v := &scriptListView{Scripts: []scriptJS{}}
	for _, s := range scripts {
		v.Scripts = append(v.Scripts, scriptJS{Name: s.Name, Enabled: s.Enabled})
	}
	return v, nil
}

func eventScriptEnable(ctx context.Context, r *request, component, script string, enable bool) (view, error) {
	err := r.c.EventScriptEnable(ctx, client.Local, component, script, enable)
	switch proto.StatusOf(err) {
	case proto.StatusOK:
		return nil, nil
	case proto.StatusNotFound:
		return &statusMessage{Message: fmt.Sprintf("Script %s does not exist in %s", script, component), Status: errnoENOENT}, nil
	case proto.StatusInvalid:
		return &statusMessage{Message: fmt.Sprintf("Script %s is invalid in %s", script, component), Status: errnoEINVAL}, nil
	}
	return nil, err
}
