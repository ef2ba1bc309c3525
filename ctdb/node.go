package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Commands about one node's daemon: identity, liveness, uptime, start-up
// state, capabilities and shutdown.
func nodeCommands() []*command {
	return []*command{
		{name: "version", help: "show version of ctdb", daemonless: true, run: runVersion},
		{name: "uptime", help: "show node uptime", labelled: true, run: runUptime},
		{name: "ping", help: "ping a node", labelled: true, run: runPing},
		{name: "runstate", args: "[setup|first_recovery|startup|running]", help: "get/check runstate of a node",
			maxArgs: -1, check: checkRunstates, run: runRunstate},
		{name: "getcapabilities", help: "show node capabilities", run: runGetcapabilities},
		{name: "pnn", help: "show the pnn of the currnet node", localOnly: true, run: runPNN},
		{name: "getpid", help: "get ctdbd process ID", run: runGetpid},
		{name: "shutdown", help: "shutdown ctdb daemon", localLast: true, run: runShutdown},
	}
}

// versionView is `ctdb version`: gctdb's release with a vendor suffix,
// in the form of CTDB's "4.17.12-Debian".
type versionView struct {
	Version string `json:"version"`
}

func (v *versionView) writeText(w io.Writer) { fmt.Fprintf(w, "%s-gctdb\n", v.Version) }

func runVersion(context.Context, *request) (view, error) {
	return &versionView{Version: client.Version}, nil
}

// pnnView is a node number (ctdb pnn).
type pnnView struct {
	PNN uint32 `json:"pnn"`
}

func (v *pnnView) writeText(w io.Writer) { fmt.Fprintf(w, "%d\n", v.PNN) }

func runPNN(_ context.Context, r *request) (view, error) {
	return &pnnView{PNN: r.self}, nil
}

// pingView is one ping's answer; Time is the round trip in seconds.
type pingView struct {
	PNN     uint32  `json:"pnn"`
	Time    float64 `json:"time"`
	Clients uint32  `json:"clients"`
}

func (v *pingView) writeText(w io.Writer) {
	fmt.Fprintf(w, "response from %d time=%.6f sec  (%d clients)\n", v.PNN, v.Time, v.Clients)
}

func runPing(ctx context.Context, r *request) (view, error) {
	start := time.Now()
	n, err := r.c.Ping(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	return &pingView{PNN: r.pnn, Time: time.Since(start).Seconds(), Clients: n}, nil
}

// ctimeLayout is C's ctime() without its newline.
const ctimeLayout = "Mon Jan _2 15:04:05 2006"

// uptimeView is `ctdb uptime`. Times are in JSON as RFC 3339 UTC, null
// for a recovery that never happened.
type uptimeView struct {
	PNN                  uint32     `json:"pnn"`
	CurrentTime          time.Time  `json:"current_time"`
	StartTime            time.Time  `json:"start_time"`
	LastRecoveryStarted  *time.Time `json:"last_recovery_started"`
	LastRecoveryFinished *time.Time `json:"last_recovery_finished"`
	// LastRecoveryDuration is in seconds.
	LastRecoveryDuration float64 `json:"last_recovery_duration"`
	loc                  *time.Location
}

// writeText does CTDB's arithmetic on whole seconds; a recovery that
// never happened counts from the epoch, as there.
func (v *uptimeView) writeText(w io.Writer) {
	now, start, finished := v.CurrentTime.Unix(), v.StartTime.Unix(), int64(0)
	if v.LastRecoveryFinished != nil {
		finished = v.LastRecoveryFinished.Unix()
	}
	fmt.Fprintf(w, "Current time of node %-4d     :                %s\n", v.PNN, ctime(now, v.loc))
	fmt.Fprintf(w, "Ctdbd start time              : %s %s\n", elapsed(now-start), ctime(start, v.loc))
	fmt.Fprintf(w, "Time of last recovery/failover: %s %s\n", elapsed(now-finished), ctime(finished, v.loc))
	fmt.Fprintf(w, "Duration of last recovery/failover: %.6f seconds\n", v.LastRecoveryDuration)
}

func ctime(sec int64, loc *time.Location) string {
	return time.Unix(sec, 0).In(loc).Format(ctimeLayout)
}

// elapsed renders seconds as CTDB's "(DDD HH:MM:SS)".
func elapsed(s int64) string {
	return fmt.Sprintf("(%03d %02d:%02d:%02d)", s/86400, s/3600%24, s/60%60, s%60)
}

func optionalTime(ts proto.Timestamp) *time.Time {
	if ts == 0 {
		return nil
	}
	t := ts.Time().UTC()
	return &t
}

func runUptime(ctx context.Context, r *request) (view, error) {
	u, err := r.c.Uptime(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	return &uptimeView{
		PNN:                  r.pnn,
		CurrentTime:          u.Now.Time().UTC(),
		StartTime:            u.Start.Time().UTC(),
		LastRecoveryStarted:  optionalTime(u.LastRecoveryStarted),
		LastRecoveryFinished: optionalTime(u.LastRecoveryFinished),
		LastRecoveryDuration: time.Duration(u.LastRecoveryFinished - u.LastRecoveryStarted).Seconds(),
		loc:                  r.x.loc,
	}, nil
}

// runstateView is the runstate and whether it is one of those required.
type runstateView struct {
	Runstate        string   `json:"runstate"`
	Required        []string `json:"required,omitempty"`
	InRequiredState bool     `json:"in_required_state"`
}

func (v *runstateView) writeText(w io.Writer) {
	if !v.InRequiredState {
		fmt.Fprintf(w, "CTDB not in required run state (got %s)\n", v.Runstate)
		return
	}
	fmt.Fprintln(w, v.Runstate)
}

func (v *runstateView) exitStatus() int {
	if v.InRequiredState {
		return exitOK
	}
	return exitFailure
}

// parseRunstate accepts CTDB's runstate names in any case; UNKNOWN is
// not a state one can require.
func parseRunstate(s string) (proto.Runstate, error) {
	rs, ok := proto.ParseRunstate(s)
	if !ok || rs == proto.RunstateUnknown {
		return 0, failf("Invalid run state (%s)", s)
	}
	return rs, nil
}

func checkRunstates(args []string) error {
	for _, a := range args {
		if _, err := parseRunstate(a); err != nil {
			return err
		}
	}
	return nil
}

func runRunstate(ctx context.Context, r *request) (view, error) {
	rs, err := r.c.Runstate(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	v := &runstateView{Runstate: rs.String(), InRequiredState: len(r.args) == 0}
	for _, a := range r.args {
		want, _ := parseRunstate(a)
		v.Required = append(v.Required, want.String())
		v.InRequiredState = v.InRequiredState || want == rs
	}
	return v, nil
}

// capabilitiesView is a node's roles.
type capabilitiesView struct {
	Leader  bool `json:"leader"`
	LMaster bool `json:"lmaster"`
}

func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

func (v *capabilitiesView) writeText(w io.Writer) {
	fmt.Fprintf(w, "LEADER: %s\nLMASTER: %s\n", yesNo(v.Leader), yesNo(v.LMaster))
}

func (v *capabilitiesView) table() table {
	return table{header: []string{"LEADER", "LMASTER"}, rows: [][]string{{boolField(v.Leader), boolField(v.LMaster)}}}
}

func runGetcapabilities(ctx context.Context, r *request) (view, error) {
	caps, err := r.c.Capabilities(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	return &capabilitiesView{Leader: caps&proto.CapLeader != 0, LMaster: caps&proto.CapLMaster != 0}, nil
}

// pidView is the daemon's process id.
type pidView struct {
	PID uint32 `json:"pid"`
}

func (v *pidView) writeText(w io.Writer) { fmt.Fprintf(w, "%d\n", v.PID) }

func runGetpid(ctx context.Context, r *request) (view, error) {
	pid, err := r.c.GetPID(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	return &pidView{PID: pid}, nil
}

// runShutdown stops node pnn's daemon; for the local node it returns
// once the daemon has closed the connection, as CTDB's tool does.
func runShutdown(ctx context.Context, r *request) (view, error) {
	if err := r.c.Shutdown(ctx, r.pnn); err != nil {
		return nil, &exitError{status: exitCode(err), msg: fmt.Sprintf("Unable to shutdown node %d\n%s", r.pnn, errorMessage(&nodeError{pnn: r.pnn, err: err}))}
	}
	if r.pnn != r.self {
		return nil, nil
	}
	select {
	case <-r.c.Done():
		return nil, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("node %d accepted the shutdown but is still running: %w", r.pnn, ctx.Err())
	}
}
