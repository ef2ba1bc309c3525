package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cli is one run of the tool: its options, streams and environment.
// Nothing in it is global, so tests run the whole tool in process.
type cli struct {
	opts   globalOptions
	stdout *stickyWriter
	stderr io.Writer
	env    func(string) (string, bool)
	// loc is the time zone times are printed in (CTDB's ctime: local).
	loc   *time.Location
	hooks statusHooks

	// Set by execute once the options are parsed.
	out     *printer
	log     *slog.Logger
	perNode time.Duration
}

// run runs ctdb with args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	x := &cli{stdout: &stickyWriter{w: stdout}, stderr: stderr, env: env, loc: time.Local, hooks: defaultStatusHooks()}
	return x.main(ctx, args)
}

func (x *cli) main(ctx context.Context, args []string) int {
	root := x.rootCommand()
	root.SetArgs(args)
	root.SetOut(x.stdout)
	root.SetErr(x.stderr)
	return x.exitStatus(root.ExecuteContext(ctx))
}

// exitStatus reports err on stderr and maps it to the exit status; this
// is the one place where errors become exit statuses.
func (x *cli) exitStatus(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		io.WriteString(x.stderr, x.usage(ue.cmd))
		return exitFailure
	}
	if msg := errorMessage(err); msg != "" {
		fmt.Fprintln(x.stderr, msg)
	}
	return exitCode(err)
}

func (x *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ctdb",
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cc *cobra.Command, args []string) error {
			if x.opts.usage {
				io.WriteString(x.stdout, briefUsageText)
				return nil
			}
			if len(args) == 0 {
				return &usageError{}
			}
			return failf("Unknown command '%s'", args[0])
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	// CTDB has no help command: `ctdb help` is an unknown command.
	root.SetHelpCommand(&cobra.Command{Use: "no-help-command", Hidden: true})
	root.SetHelpFunc(func(*cobra.Command, []string) { io.WriteString(x.stdout, helpText) })
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return optionError(err) })
	x.opts.register(root.PersistentFlags())
	for _, cmd := range x.commands() {
		root.AddCommand(x.cobraCommand(cmd))
	}
	return root
}

// optionError words an option parsing error as CTDB's popt does.
func optionError(err error) error {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var badValue *pflag.InvalidValueError
	switch {
	case errors.Is(err, pflag.ErrHelp):
		// pflag's answer to -h, which CTDB does not know either.
		return failf("Invalid option -h: unknown option")
	case errors.As(err, &notExist):
		name := "--" + notExist.GetSpecifiedName()
		if notExist.GetSpecifiedShortnames() != "" {
			name = "-" + notExist.GetSpecifiedName()
		}
		return failf("Invalid option %s: unknown option", name)
	case errors.As(err, &noValue):
		name := "--" + noValue.GetSpecifiedName()
		if noValue.GetSpecifiedShortnames() != "" {
			name = "-" + noValue.GetSpecifiedName()
		}
		return failf("Invalid option %s: missing argument", name)
	case errors.As(err, &badValue):
		return failf("Invalid option %s: invalid numeric value", badValue.GetValue())
	}
	return failf("Invalid option: %v", err)
}

// helpText is `ctdb --help`: CTDB 4.17's popt help with gctdb's -n forms
// and -j.
const helpText = `Usage: [OPTION...]
  -d, --debug=STRING       debug level
  -t, --timelimit=INT      timelimit (in seconds)
  -n, --node=PNN|all       node specification - integer, comma list or all
  -Y                       enable machine readable output
  -x, --separator=CHAR     specify separator for machine readable output
  -X                       enable machine parsable output with separator |
  -v, --verbose            enable verbose output
  -T, --maxruntime=INT     die if runtime exceeds this limit (in seconds)
  -j, --json               enable JSON output

Help options:
  -?, --help               Show this help message
      --usage              Display brief usage message
`

// briefUsageText is `ctdb --usage`.
const briefUsageText = `Usage: [-?YXvj] [-?|--help] [--usage] [-d|--debug=STRING]
        [-t|--timelimit=INT] [-n|--node=PNN|all] [-Y] [-x|--separator=CHAR]
        [-X] [-v|--verbose] [-T|--maxruntime=INT] [-j|--json]
`

// usage is the text for a usage error: the help and every command
// (cmd nil), or the brief usage and cmd's line.
func (x *cli) usage(cmd *command) string {
	var b strings.Builder
	line := func(c *command) {
		fmt.Fprintf(&b, "  %-15s %-27s  %s\n", c.name, c.args, c.help)
	}
	if cmd != nil {
		b.WriteString(briefUsageText)
		b.WriteString("\nCommands:\n")
		line(cmd)
		return b.String()
	}
	b.WriteString(helpText)
	b.WriteString("\nCommands:\n")
	for _, c := range sortedCommands(x.commands()) {
		line(c)
	}
	return b.String()
}

// sortedCommands orders commands as CTDB 4.17's usage lists them;
// commands CTDB does not have come last.
func sortedCommands(cmds []*command) []*command {
	return orderLike(cmds, func(c *command) string { return c.name }, ctdbCommandOrder)
}

// orderLike sorts items by the position of their key in order; items
// whose key is not in order keep their relative order after the others.
func orderLike[T any](items []T, key func(T) string, order []string) []T {
	rank := func(item T) int {
		if i := slices.Index(order, key(item)); i >= 0 {
			return i
		}
		return len(order)
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int { return rank(a) - rank(b) })
	return sorted
}

// ctdbCommandOrder is the order of CTDB 4.17's command table.
var ctdbCommandOrder = []string{
	"version", "status", "uptime", "ping", "runstate", "getvar", "setvar",
	"listvars", "statistics", "statisticsreset", "stats", "ip", "ipinfo",
	"ifaces", "setifacelink", "process-exists", "getdbmap", "getdbstatus",
	"catdb", "cattdb", "getcapabilities", "pnn", "lvs", "setdebug",
	"getdebug", "attach", "detach", "dumpmemory", "rddumpmemory", "getpid",
	"disable", "enable", "stop", "continue", "ban", "unban", "shutdown",
	"recover", "sync", "ipreallocate", "gratarp", "tickle", "gettickles",
	"addtickle", "deltickle", "listnodes", "reloadnodes", "moveip", "addip",
	"delip", "backupdb", "restoredb", "dumpdbbackup", "wipedb", "leader",
	"event", "scriptstatus", "natgw", "getreclock", "setlmasterrole",
	"setleaderrole", "setdbreadonly", "setdbsticky", "pfetch", "pstore",
	"pdelete", "ptrans", "tfetch", "tstore", "readkey", "writekey",
	"deletekey", "checktcpport", "getdbseqnum", "nodestatus", "dbstatistics",
	"reloadips",
}
