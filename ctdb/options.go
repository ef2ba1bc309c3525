package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// globalOptions are ctdb's options. As with CTDB's popt parsing they may
// come before or after the command name (`ctdb -X ip -v`).
type globalOptions struct {
	debug       string
	timelimit   int
	node        string
	machineY    bool
	sep         string
	machineX    bool
	verbose     bool
	maxruntime  int
	json        bool
	help, usage bool
}

// defaultTimelimit is CTDB's -t default: seconds to wait for a node's
// answer.
const defaultTimelimit = 10

// defaultMaxRuntime is CTDB's -T default when CTDB_TIMEOUT is unset.
const defaultMaxRuntime = 120

func (o *globalOptions) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.debug, "debug", "d", "", "debug level")
	fs.IntVarP(&o.timelimit, "timelimit", "t", defaultTimelimit, "timelimit (in seconds)")
	fs.StringVarP(&o.node, "node", "n", "", "node specification - integer, comma list or all")
	fs.BoolVarP(&o.machineY, "machinereadable", "Y", false, "enable machine readable output")
	fs.StringVarP(&o.sep, "separator", "x", "|", "specify separator for machine readable output")
	fs.BoolVarP(&o.machineX, "machineparsable", "X", false, "enable machine parsable output with separator |")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "enable verbose output")
	fs.IntVarP(&o.maxruntime, "maxruntime", "T", 0, "die if runtime exceeds this limit (in seconds)")
	fs.BoolVarP(&o.json, "json", "j", false, "enable JSON output")
	fs.BoolVarP(&o.help, "help", "?", false, "Show this help message")
	fs.BoolVar(&o.usage, "usage", false, "Display brief usage message")
	// -Y and -X have no long names in CTDB.
	for _, n := range []string{"machinereadable", "machineparsable"} {
		fs.Lookup(n).Hidden = true
	}
}

// mode is the output form the options select.
func (o *globalOptions) mode() (outputMode, error) {
	switch {
	case o.json && (o.machineX || o.machineY):
		return 0, failf("Invalid option -j: cannot be combined with -X or -Y")
	case o.json:
		return modeJSON, nil
	case o.machineX || o.machineY:
		return modeMachine, nil
	}
	return modeText, nil
}

// timeouts returns the wait for each node's answer (-t) and the limit of
// the whole run (-T, else CTDB_TIMEOUT, else 120 s).
func (o *globalOptions) timeouts(env func(string) (string, bool)) (perNode, total time.Duration, err error) {
	if o.timelimit < 0 {
		return 0, 0, failf("Invalid option %d: invalid numeric value", o.timelimit)
	}
	if o.maxruntime < 0 {
		return 0, 0, failf("Invalid option %d: invalid numeric value", o.maxruntime)
	}
	maxrt := o.maxruntime
	if maxrt == 0 {
		maxrt = defaultMaxRuntime
		if v, ok := env("CTDB_TIMEOUT"); ok {
			n, err := parseCUint(v, 32)
			if err != nil {
				return 0, 0, failf("Invalid value CTDB_TIMEOUT")
			}
			maxrt = int(n)
		}
	}
	return time.Duration(o.timelimit) * time.Second, time.Duration(maxrt) * time.Second, nil
}

// nodeSpec is a parsed -n: the node the tool is connected to (none
// given), all nodes, or a list of PNNs.
type nodeSpec struct {
	all  bool
	pnns []uint32
	// multi is true for "all" and for comma lists: the output is that of
	// a fan-out even if it ends up with one node.
	multi bool
}

// parseNodeSpec parses -n: a PNN, "all" or a comma-separated list.
func parseNodeSpec(s string) (nodeSpec, error) {
	if s == "all" {
		return nodeSpec{all: true, multi: true}, nil
	}
	pnns, err := parsePNNList(s)
	if err != nil {
		return nodeSpec{}, err
	}
	return nodeSpec{pnns: pnns, multi: strings.Contains(s, ",")}, nil
}

// parsePNNList parses a comma-separated list of PNNs, dropping
// duplicates, as nodestatus and -n take it.
func parsePNNList(s string) ([]uint32, error) {
	var pnns []uint32
	seen := map[uint32]bool{}
	for _, tok := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(tok, 10, 32)
		if err != nil {
			return nil, failf("Invalid node %s", tok)
		}
		if !seen[uint32(n)] {
			seen[uint32(n)] = true
			pnns = append(pnns, uint32(n))
		}
	}
	return pnns, nil
}

// parseCUint parses an unsigned number as C's strtoul with base 0 does
// for whole strings: decimal, 0x hexadecimal or 0-prefixed octal. Unlike
// strtoul, trailing garbage and out-of-range values are errors.
func parseCUint(s string, bits int) (uint64, error) {
	base, digits := 10, s
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	if digits == "" || strings.ContainsAny(digits, "+-_") {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return strconv.ParseUint(digits, base, bits)
}

// debugLevels are CTDB's debug level names and numbers.
var debugLevels = []struct {
	name  string
	level int
}{{"ERROR", 0}, {"WARNING", 1}, {"NOTICE", 3}, {"INFO", 5}, {"DEBUG", 10}}

// errBadDebugLevel says a debug level is none of CTDB's.
var errBadDebugLevel = errors.New("invalid debug level")

// parseDebugLevel accepts what CTDB accepts for -d and setdebug: a
// number from 0 to 10, or a level name or a leading part of one in any
// case. It returns the number.
func parseDebugLevel(s string) (int, error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil || n > 10 {
			return 0, errBadDebugLevel
		}
		return int(n), nil
	}
	for _, l := range debugLevels {
		if s != "" && len(s) <= len(l.name) && strings.EqualFold(l.name[:len(s)], s) {
			return l.level, nil
		}
	}
	return 0, errBadDebugLevel
}

// toolLogLevel maps -d to the level of the tool's own diagnostics on
// stderr; an invalid level means ERROR, as in CTDB.
func toolLogLevel(s string) slog.Level {
	n, err := parseDebugLevel(s)
	switch {
	case err != nil || n == 0:
		return slog.LevelError
	case n < 3:
		return slog.LevelWarn
	case n < 10:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
