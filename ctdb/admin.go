package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// Node administration and the leader: the flags a node is given (stop,
// disable, ban), its roles, and who leads the cluster.
func adminCommands() []*command {
	return []*command{
		{name: "disable", help: "disable a node", run: flagChanger(proto.NodeFlagPermanentlyDisabled, true, "disable", "disabled")},
		{name: "enable", help: "enable a node", run: flagChanger(proto.NodeFlagPermanentlyDisabled, false, "enable", "disabled")},
		{name: "stop", help: "stop a node", run: flagChanger(proto.NodeFlagStopped, true, "stop", "stopped")},
		{name: "continue", help: "continue a stopped node", run: flagChanger(proto.NodeFlagStopped, false, "continue", "stopped")},
		{name: "ban", args: "<bantime>", help: "ban a node", minArgs: 1, maxArgs: 1, check: checkBan, run: runBan},
		{name: "unban", help: "unban a node", run: runUnban},
		{name: "leader", help: "show the pnn of the leader", run: runLeader},
		{name: "getreclock", help: "get recovery lock file", run: runGetreclock},
		roleCommand("setlmasterrole", "set LMASTER role", proto.CapLMaster),
		roleCommand("setleaderrole", "set LEADER role", proto.CapLeader),
	}
}

// nodeFlags returns node pnn's flags as that node itself sees them.
func nodeFlags(ctx context.Context, c *client.Client, pnn uint32) (uint32, error) {
	nm, err := c.NodeMap(ctx, pnn)
	if err != nil {
		return 0, err
	}
	for _, n := range nm.Nodes {
		if n.PNN == pnn {
			return n.Flags, nil
		}
	}
	return 0, failf("Node %d does not exist", pnn)
}

// waitFlag waits until node pnn's flag is set (or clear) both in its own
// view and in the view of the node the tool is connected to, so that the
// next `ctdb status` shows the change, as CTDB's tool waits for it.
func waitFlag(ctx context.Context, r *request, flag uint32, set bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, by := range []uint32{r.pnn, r.self} {
			nm, err := r.c.NodeMap(ctx, by)
			if err != nil {
				return err
			}
			for _, n := range nm.Nodes {
				if n.PNN == r.pnn && (n.Flags&flag != 0) != set {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d: flags did not change: %w", r.pnn, ctx.Err())
		case <-tick.C:
		}
	}
}

// alreadyDone ends a command that has nothing to do: CTDB says so on
// stderr and succeeds.
func alreadyDone(format string, args ...any) error {
	return &exitError{status: exitOK, msg: fmt.Sprintf(format, args...)}
}

// flagChanger runs disable/enable and stop/continue: set or clear flag
// on the node through its node service.
func flagChanger(flag uint32, set bool, verb, state string) func(context.Context, *request) (view, error) {
	return func(ctx context.Context, r *request) (view, error) {
		flags, err := nodeFlags(ctx, r.c, r.pnn)
		if err != nil {
			return nil, err
		}
		if flags&flag != 0 == set {
			if set {
				return nil, alreadyDone("Node %d is already %s", r.pnn, state)
			}
			return nil, alreadyDone("Node %d is not %s", r.pnn, state)
		}
		var s, c uint32
		if set {
			s = flag
		} else {
			c = flag
		}
		if err := r.c.ModifyFlags(ctx, r.pnn, s, c); err != nil {
			return nil, &exitError{status: exitCode(err), msg: fmt.Sprintf("Failed to %s node %d\n%s", verb, r.pnn, errorMessage(&nodeError{pnn: r.pnn, err: err}))}
		}
		return nil, waitFlag(ctx, r, flag, set)
	}
}

// parseBanTime reads a ban time as CTDB's strtoul does: the leading
// number, 0 when there is none.
func parseBanTime(s string) uint32 {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := parseCUint(s[:end], 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}

func checkBan(args []string) error {
	if parseBanTime(args[0]) == 0 {
		return &exitError{status: exitInvalid, msg: "Ban time cannot be zero"}
	}
	return nil
}

func runBan(ctx context.Context, r *request) (view, error) {
	flags, err := nodeFlags(ctx, r.c, r.pnn)
	if err != nil {
		return nil, err
	}
	if flags&proto.NodeFlagBanned != 0 {
		return nil, alreadyDone("Node %d is already banned", r.pnn)
	}
	reason := fmt.Sprintf("administrative ban (ctdb ban on node %d)", r.self)
	if err := r.c.Ban(ctx, r.pnn, parseBanTime(r.args[0]), reason); err != nil {
		return nil, &exitError{status: exitCode(err), msg: fmt.Sprintf("Failed to ban node %d\n%s", r.pnn, errorMessage(&nodeError{pnn: r.pnn, err: err}))}
	}
	return nil, waitFlag(ctx, r, proto.NodeFlagBanned, true)
}

func runUnban(ctx context.Context, r *request) (view, error) {
	flags, err := nodeFlags(ctx, r.c, r.pnn)
	if err != nil {
		return nil, err
	}
	if flags&proto.NodeFlagBanned == 0 {
		return nil, alreadyDone("Node %d is not banned", r.pnn)
	}
	if _, err := r.c.Unban(ctx, r.pnn); err != nil {
		return nil, &exitError{status: exitCode(err), msg: fmt.Sprintf("Failed to unban node %d\n%s", r.pnn, errorMessage(&nodeError{pnn: r.pnn, err: err}))}
	}
	return nil, waitFlag(ctx, r, proto.NodeFlagBanned, false)
}

// leaderInfo is a node's view of the leader: `ctdb leader` and the
// Leader line of `ctdb status`. PNN is null in JSON when no leader is
// known.
type leaderInfo struct {
	PNN   *uint32    `json:"pnn"`
	Term  uint64     `json:"term"`
	Since *time.Time `json:"since"`
	// Mode is how the leader was chosen: "cluster lock", "no cluster
	// lock", or "none".
	Mode string `json:"mode"`
	// prefix is "Leader:" in status; verbose adds since and term.
	prefix  string
	verbose bool
	loc     *time.Location
}

func newLeaderView(l *proto.Leader, loc *time.Location) *leaderInfo {
	v := &leaderInfo{Term: l.Term, Mode: proto.LeaderModeName(l.Mode), loc: loc}
	if l.Known() {
		pnn := l.PNN
		v.PNN = &pnn
		v.Since = optionalTime(l.Since)
	}
	return v
}

// writeText prints the pnn as CTDB's print_pnn does: UNKNOWN when there
// is none.
func (v *leaderInfo) writeText(w io.Writer) {
	io.WriteString(w, v.prefix)
	if v.PNN == nil {
		io.WriteString(w, "UNKNOWN\n")
		return
	}
	if !v.verbose {
		fmt.Fprintf(w, "%d\n", *v.PNN)
		return
	}
	since := "unknown"
	if v.Since != nil {
		since = ctime(v.Since.Unix(), v.loc)
	}
	fmt.Fprintf(w, "%d since %s (term %d, %s)\n", *v.PNN, since, v.Term, v.Mode)
}

func runLeader(ctx context.Context, r *request) (view, error) {
	l, err := r.c.Leader(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	v := newLeaderView(l, r.x.loc)
	v.verbose = r.x.opts.verbose
	return v, nil
}

// reclockView is the configured cluster lock; CTDB prints nothing when
// there is none (null in JSON).
type reclockView struct {
	Lock *string `json:"cluster_lock"`
}

func (v *reclockView) writeText(w io.Writer) {
	if v.Lock != nil {
		fmt.Fprintln(w, *v.Lock)
	}
}

func runGetreclock(ctx context.Context, r *request) (view, error) {
	lock, err := r.c.ClusterLock(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	v := &reclockView{}
	if lock != "" {
		v.Lock = &lock
	}
	return v, nil
}

// roleCommand is setleaderrole or setlmasterrole: "on" gives node the
// capability, "off" takes it away; anything else is a usage error.
func roleCommand(name, help string, capability uint32) *command {
	cmd := &command{name: name, args: "on|off", help: help, minArgs: 1, maxArgs: 1}
	cmd.check = func(args []string) error {
		if args[0] != "on" && args[0] != "off" {
			return &usageError{cmd: cmd}
		}
		return nil
	}
	cmd.run = func(ctx context.Context, r *request) (view, error) {
		if r.args[0] == "on" {
			return nil, r.c.SetCapabilities(ctx, r.pnn, capability, 0)
		}
		return nil, r.c.SetCapabilities(ctx, r.pnn, 0, capability)
	}
	return cmd
}

// leaderSection is the Leader line of `ctdb status`.
func leaderSection() statusSection {
	return statusSection{name: "leader", fetch: func(ctx context.Context, c *client.Client, pnn uint32) (view, error) {
		l, err := c.Leader(ctx, pnn)
		if err != nil {
			return nil, err
		}
		v := newLeaderView(l, time.Local)
		v.prefix = "Leader:"
		return v, nil
	}}
}

// banView is one banned node in `ctdb status`, with the reason and the
// end of its ban.
type banView struct {
	PNN    uint32    `json:"pnn"`
	Until  time.Time `json:"until"`
	By     *uint32   `json:"by"`
	Reason string    `json:"reason"`
}

// bansView lists the banned nodes; CTDB has no such lines, so nothing is
// printed while no node is banned.
type bansView struct {
	Bans []banView `json:"bans"`
	now  time.Time
}

func (v *bansView) writeText(w io.Writer) {
	for _, b := range v.Bans {
		by := "a local client"
		if b.By != nil {
			by = fmt.Sprintf("node %d", *b.By)
		}
		left := b.Until.Sub(v.now).Round(time.Second)
		if left < 0 {
			left = 0
		}
		fmt.Fprintf(w, "Banned node %d: %d s left, by %s: %s\n", b.PNN, int64(left.Seconds()), by, b.Reason)
	}
}

// MarshalJSON is the list itself.
func (v *bansView) MarshalJSON() ([]byte, error) { return json.Marshal(v.Bans) }

// bansSection asks every banned node why it is banned. A node that does
// not answer is left out: status must not wait for it.
func bansSection() statusSection {
	return statusSection{name: "bans", fetch: func(ctx context.Context, c *client.Client, pnn uint32) (view, error) {
		// Without a banning service (StatusUnsupported) there is no
		// section.
		if _, err := c.BanState(ctx, pnn); err != nil {
			return nil, err
		}
		nm, err := c.NodeMap(ctx, pnn)
		if err != nil {
			return nil, err
		}
		v := &bansView{Bans: []banView{}, now: time.Now()}
		for _, n := range nm.Nodes {
			if n.Flags&proto.NodeFlagBanned == 0 || n.Flags&proto.NodeFlagDisconnected != 0 {
				continue
			}
			st, err := c.BanState(ctx, n.PNN)
			if err != nil || !st.Banned {
				continue
			}
			b := banView{PNN: n.PNN, Until: st.Until.Time().UTC(), Reason: st.Reason}
			if st.By != proto.PNNUnknown {
				by := st.By
				b.By = &by
			}
			v.Bans = append(v.Bans, b)
		}
		return v, nil
	}}
}

// addClusterStatistics adds the cluster service's election counters
// (as cluster.*) and the time taken to take the cluster lock (CTDB's
// reclock_recd) to a node's statistics; a node without the service adds
// nothing.
func addClusterStatistics(ctx context.Context, r *request, s *proto.Statistics) error {
	cs, err := r.c.ClusterStatus(ctx, r.pnn)
	if proto.StatusOf(err) == proto.StatusUnsupported {
		return nil
	}
	if err != nil {
		return err
	}
	for _, c := range cs.Stats.Counters {
		s.Counters = append(s.Counters, proto.Counter{Name: "cluster." + c.Name, Value: c.Value})
	}
	s.Latencies = append(s.Latencies, cs.Stats.Latencies...)
	return nil
}
