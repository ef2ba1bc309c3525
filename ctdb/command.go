package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// command is one ctdb command: its line in CTDB's command table and the
// code that runs it for one node. A command family (a file such as
// status.go or tunables.go) returns its commands from a function that
// commands() lists; run fetches the data and returns a view, and the
// framework does the rest: argument counts, -n fan-out and per-node
// errors, the -t and -T limits, and the text, -Y/-X and -j output.
type command struct {
	name string
	// args is the argument synopsis and help the one-line description,
	// as the usage prints them.
	args, help string
	// minArgs and maxArgs bound the arguments; maxArgs -1 is unlimited.
	minArgs, maxArgs int
	// check validates the arguments before anything is sent, so a bad
	// value fails once and at once, not once per node.
	check func(args []string) error
	// daemonless commands run without a daemon (CTDB's without_daemon:
	// version, listnodes); -n is refused.
	daemonless bool
	// localOnly commands only run on the node the tool is connected to
	// (CTDB's remote=false: pnn); -n naming another node is refused.
	localOnly bool
	// labelled commands name the node in their text output (ping,
	// uptime), so a -n fan-out prints no ">> NODE" headers for them.
	labelled bool
	// localLast makes a fan-out ask the node the tool is connected to
	// after all others (shutdown, which ends the connection).
	localLast bool
	// run runs the command for node r.pnn; a nil view prints nothing.
	run func(ctx context.Context, r *request) (view, error)
}

// request is one run of a command for one node.
type request struct {
	x *cli
	// c is the connection to the local daemon; nil for daemonless
	// commands.
	c *client.Client
	// pnn is the node the command is for, self the node c is connected
	// to.
	pnn, self uint32
	args      []string
}

// commands lists every command; each family adds its own here.
func (x *cli) commands() []*command {
	var all []*command
	for _, family := range [][]*command{
		nodeCommands(),
		statusCommands(),
		tunableCommands(),
		debugCommands(),
		statisticsCommands(),
		ipCommands(),
		eventCommands(),
		dbCommands(),
		persistentCommands(),
		backupCommands(),
		adminCommands(),
		recoveryCommands(),
	} {
		all = append(all, family...)
	}
	return all
}

// cobraCommand wraps cmd for cobra: arguments are checked by execute so
// that option errors, --usage and argument errors come in CTDB's order.
func (x *cli) cobraCommand(cmd *command) *cobra.Command {
	return &cobra.Command{
		Use:                   cmd.name,
		Args:                  cobra.ArbitraryArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cc *cobra.Command, args []string) error {
			return x.execute(cc.Context(), cmd, args)
		},
	}
}

// execute runs cmd with its arguments on the nodes -n names.
func (x *cli) execute(ctx context.Context, cmd *command, args []string) (err error) {
	if x.opts.usage {
		io.WriteString(x.stdout, briefUsageText)
		return nil
	}
	if len(args) < cmd.minArgs || (cmd.maxArgs >= 0 && len(args) > cmd.maxArgs) {
		return &usageError{cmd: cmd}
	}
	mode, err := x.opts.mode()
	if err != nil {
		return err
	}
	perNode, total, err := x.opts.timeouts(x.env)
	if err != nil {
		return err
	}
	x.perNode = perNode
	x.out = &printer{w: x.stdout, mode: mode, sep: x.opts.sep}
	x.log = slog.New(slog.NewTextHandler(x.stderr, &slog.HandlerOptions{Level: toolLogLevel(x.opts.debug)}))
	ctx, cancel := context.WithTimeoutCause(ctx, total, errMaxRuntime)
	defer cancel()
	defer func() {
		// Whatever failed last, the reason is the -T limit.
		if err != nil && errors.Is(context.Cause(ctx), errMaxRuntime) {
			err = failf("Maximum runtime exceeded - exiting")
		}
	}()
	if cmd.check != nil {
		if err := cmd.check(args); err != nil {
			return err
		}
	}
	if cmd.daemonless {
		if x.opts.node != "" {
			return failf("Cannot specify node for command %s", cmd.name)
		}
		v, err := cmd.run(ctx, &request{x: x, args: args})
		if err != nil {
			return err
		}
		return x.show(v)
	}
	var spec nodeSpec
	if x.opts.node != "" {
		if spec, err = parseNodeSpec(x.opts.node); err != nil {
			return err
		}
	}
	c, err := x.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	self := c.PNN()
	targets, nodes, err := x.targets(ctx, c, spec)
	if err != nil {
		return err
	}
	if cmd.localOnly && (len(targets) != 1 || targets[0] != self) {
		return failf("Node cannot be specified for command %s", cmd.name)
	}
	runOn := func(pnn uint32) (view, error) {
		if info, ok := nodes[pnn]; ok && pnn != self && info.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) != 0 {
			return nil, failf("Node %d has status %s", pnn, proto.NodeFlagsString(info.Flags))
		}
		nctx, cancel := context.WithTimeout(ctx, x.perNode)
		defer cancel()
		start := time.Now()
		v, err := cmd.run(nctx, &request{x: x, c: c, pnn: pnn, self: self, args: args})
		x.log.Debug("command run", "command", cmd.name, "pnn", pnn, "duration", time.Since(start), "err", err)
		if err != nil {
			return nil, &nodeError{pnn: pnn, err: err}
		}
		return v, nil
	}
	if !spec.multi {
		v, err := runOn(targets[0])
		if err != nil {
			return err
		}
		return x.show(v)
	}
	results := x.fanOut(targets, self, cmd.localLast, runOn)
	x.out.printNodes(results, cmd.labelled, func(r nodeResult) {
		fmt.Fprintln(x.stderr, errorMessage(r.err))
	})
	if x.stdout.err != nil {
		return x.stdout.err
	}
	for _, r := range results {
		if st := resultStatus(r); st != exitOK {
			return &exitError{status: st}
		}
	}
	return nil
}

// fanOut runs on every target at once (with localLast, the node the tool
// is connected to after the others) and returns the results in target
// order.
func (x *cli) fanOut(targets []uint32, self uint32, localLast bool, runOn func(uint32) (view, error)) []nodeResult {
	results := make([]nodeResult, len(targets))
	var wg sync.WaitGroup
	for i, pnn := range targets {
		if localLast && pnn == self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := runOn(pnn)
			results[i] = nodeResult{pnn: pnn, view: v, err: err}
		}()
	}
	wg.Wait()
	if i := slices.Index(targets, self); localLast && i >= 0 {
		v, err := runOn(self)
		results[i] = nodeResult{pnn: self, view: v, err: err}
	}
	return results
}

// resultStatus is the exit status one node's result asks for.
func resultStatus(r nodeResult) int {
	if r.err != nil {
		return exitCode(r.err)
	}
	if s, ok := r.view.(exitStatuser); ok {
		return s.exitStatus()
	}
	return exitOK
}

// show prints the view of a single-node run and returns its status.
func (x *cli) show(v view) error {
	x.out.print(v)
	if x.stdout.err != nil {
		return x.stdout.err
	}
	if st := resultStatus(nodeResult{view: v}); st != exitOK {
		return &exitError{status: st}
	}
	return nil
}

// connect opens the connection to the local daemon.
func (x *cli) connect(ctx context.Context) (*client.Client, error) {
	socket := client.SocketPath(x.env)
	cctx, cancel := context.WithTimeout(ctx, x.perNode)
	defer cancel()
	c, err := client.Connect(cctx, socket, client.Options{Name: "ctdb"})
	if err != nil {
		x.log.Debug("connect failed", "socket", socket, "err", err)
		msg := ""
		var errno syscall.Errno
		if errors.As(err, &errno) {
			msg = fmt.Sprintf("connect() failed, errno=%d\n", int(errno))
		}
		return nil, failf("%sFailed to connect to CTDB daemon (%s)", msg, socket)
	}
	return c, nil
}

// targets resolves -n against the local node's node map: the nodes to
// run on, and the map to check their status (nil without -n).
func (x *cli) targets(ctx context.Context, c *client.Client, spec nodeSpec) ([]uint32, map[uint32]proto.NodeInfo, error) {
	self := c.PNN()
	if !spec.all && spec.pnns == nil {
		return []uint32{self}, nil, nil
	}
	nctx, cancel := context.WithTimeout(ctx, x.perNode)
	defer cancel()
	nm, err := c.NodeMap(nctx, client.Local)
	if err != nil {
		return nil, nil, &nodeError{pnn: self, err: err}
	}
	nodes := make(map[uint32]proto.NodeInfo, len(nm.Nodes))
	var all []uint32
	for _, n := range nm.Nodes {
		nodes[n.PNN] = n
		if n.Flags&proto.NodeFlagDeleted == 0 {
			all = append(all, n.PNN)
		}
	}
	if spec.all {
		return all, nodes, nil
	}
	for _, pnn := range spec.pnns {
		if _, ok := nodes[pnn]; !ok {
			return nil, nil, failf("Node %d does not exist", pnn)
		}
	}
	return spec.pnns, nodes, nil
}
