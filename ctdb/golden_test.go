package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goldenCase is one command line whose transcript is pinned in
// testdata/golden.
type goldenCase struct {
	args []string
	// norm replaces values that change between runs beyond clocks.
	norm func(string) string
}

func argsOf(s string) []string { return strings.Fields(s) }

// goldenName is the file of a command line: its words joined by '_'.
func goldenName(args []string) string {
	return strings.NewReplacer("/", "-", ":", "colon").Replace(strings.Join(args, "_")) + ".txt"
}

// TestGolden runs every command of this family in its text, -X, -Y and
// -j forms, and with -n fan-out, against three real nodes.
func TestGolden(t *testing.T) {
	_, env := startCluster(t, "127.0.78.1", "127.0.78.2", "127.0.78.3")
	nodes := filepath.Join(t.TempDir(), "nodes")
	require.NoError(t, os.WriteFile(nodes, []byte("127.0.78.1\n127.0.78.2\n127.0.78.3\n"), 0o644))
	env["CTDB_NODES"] = nodes

	var cases []goldenCase
	add := func(norm func(string) string, lines ...string) {
		for _, l := range lines {
			cases = append(cases, goldenCase{args: argsOf(l), norm: norm})
		}
	}
	add(nil,
		"version", "-j version",
		"status", "-X status", "-Y status", "-Y -x : status", "-j status", "-n 1 status", "-n all status", "-X -n all status",
		"nodestatus", "nodestatus all", "nodestatus 1,2", "-X nodestatus all", "-Y nodestatus 0", "-j nodestatus all",
		"listnodes", "-X listnodes", "-Y listnodes", "-j listnodes",
		"pnn", "-X pnn", "-j pnn", "-n 0 pnn",
		"ping", "-X ping", "-j ping", "-n all ping", "-n 1,2 -j ping",
		"uptime", "-X uptime", "-j uptime", "-n all uptime",
		"runstate", "runstate running", "runstate setup", "runstate setup RUNNING", "-j runstate", "-j runstate setup",
		"-n all runstate",
		"getvar MonitorInterval", "getvar monitorinterval", "-X getvar MonitorInterval", "-j getvar recoverinterval",
		"-n all getvar MonitorInterval", "-j -n 0,2 getvar MonitorInterval",
		"listvars", "-X listvars", "-j listvars",
		"getcapabilities", "-X getcapabilities", "-Y getcapabilities", "-Y -x , getcapabilities", "-j getcapabilities",
		"-X -n all getcapabilities", "-n 1,2 getcapabilities",
		"getdebug", "-X getdebug", "-j getdebug", "-n all getdebug", "-j -n all getdebug",
	)
	add(normalizePID, "getpid", "-X getpid", "-j getpid", "-n 1,2 getpid", "-n all -j getpid")
	add(normalizeStats, "statistics", "-X statistics", "-Y statistics", "-j statistics", "-X -n all statistics")

	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := normalize(ctdb(t, env, tc.args...).transcript(tc.args))
			if tc.norm != nil {
				got = tc.norm(got)
			}
			golden(t, goldenName(tc.args), got)
		})
	}
}
