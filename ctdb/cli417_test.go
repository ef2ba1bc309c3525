package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

// ref reads what CTDB 4.17 printed (testdata/ctdb-4.17).
func ref(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ctdb-4.17", name))
	require.NoError(t, err)
	return string(b)
}

// render prints v as the printer does in mode.
func render(v view, mode outputMode) string {
	var b bytes.Buffer
	(&printer{w: &b, mode: mode, sep: "|"}).print(v)
	return b.String()
}

// refTime is a time of the reference capture (its clock was UTC).
func refTime(t *testing.T, s string) proto.Timestamp {
	t.Helper()
	tm, err := time.Parse(ctimeLayout, s)
	require.NoError(t, err)
	return proto.TimestampOf(tm)
}

// refNodes is the reference cluster as node 0 saw it.
func refNodes() *nodeList {
	l := &nodeList{Self: 0, NumNodes: 3, header: true}
	for i := uint32(0); i < 3; i++ {
		l.Nodes = append(l.Nodes, newNodeView(proto.NodeInfo{PNN: i, Addr: fmt.Sprintf("127.0.0.%d", i+1)}, 0, false))
	}
	return l
}

// textSection is a status section that prints fixed lines, standing in
// for the services that will own them.
type textSection string

func (s textSection) writeText(w io.Writer) { io.WriteString(w, string(s)) }

// TestCTDB417Status: status, -X, -Y and nodestatus all print CTDB's bytes
// for CTDB's data, with the other services' lines added by sections.
func TestCTDB417Status(t *testing.T) {
	s := &statusView{nodeList: refNodes(), sections: []namedView{
		{name: "vnnmap", v: textSection("Generation:1446764750\nSize:3\nhash:0 lmaster:0\nhash:1 lmaster:1\nhash:2 lmaster:2\n")},
		{name: "recovery_mode", v: textSection("Recovery mode:NORMAL (0)\n")},
		{name: "leader", v: textSection("Leader:0\n")},
	}}
	assert.Equal(t, ref(t, "status.txt"), render(s, modeText))
	assert.Equal(t, ref(t, "status-X.txt"), render(s, modeMachine))
	assert.Equal(t, ref(t, "status-Y.txt"), render(s, modeMachine))
	assert.Equal(t, ref(t, "nodestatus-all.txt"), render(nodestatusView{refNodes()}, modeText))
}

// TestCTDB417Statistics: the reference's counters and latencies print
// as CTDB printed them.
func TestCTDB417Statistics(t *testing.T) {
	values := []uint64{2, 0, 0, 1, 790, 796, 1446, 316, 10, 10,
		0, 0, 0, 2, 0, 29, 588, 755, 0,
		4, 40, 752, 0,
		0, 0, 0,
		0, 0, 0, 0,
		4, 0, 1, 0, 89660, 0, 0, 0}
	require.Len(t, values, len(ctdbCounters))
	s := &proto.Statistics{
		Now:   refTime(t, "Sat Nov 21 19:49:49 2026"),
		Start: refTime(t, "Sat Nov 21 19:49:24 2026"),
		Latencies: []proto.Latency{
			{Name: "childwrite_latency", Count: 1, Min: 0.004725, Max: 0.004725, Total: 0.004725},
			{Name: "call_latency", Count: 4, Min: 0.000009, Max: 0.000413, Total: 0.000732},
			{Name: "locks_latency"},
			{Name: "reclock_ctdbd", Count: 1, Min: 0.015006, Max: 0.015006, Total: 0.015006},
			{Name: "reclock_recd", Count: 1, Min: 0.009651, Max: 0.009651, Total: 0.009651},
		},
	}
	for i, name := range ctdbCounters {
		s.Counters = append(s.Counters, proto.Counter{Name: name, Value: values[i]})
	}
	got := render(newStatisticsView(0, s, time.UTC), modeText)
	// CTDB also prints the hop count and lock wait histograms, which
	// gctdb does not keep.
	want := ref(t, "statistics.txt")
	for _, hist := range []string{" hop_count_buckets: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", " lock_buckets: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"} {
		require.Contains(t, want, hist)
		want = strings.Replace(want, hist, "", 1)
	}
	assert.Equal(t, want, got)
}

func TestCTDB417Uptime(t *testing.T) {
	started := refTime(t, "Sat Nov 21 19:49:29 2026")
	u := &uptimeView{
		PNN:                  0,
		CurrentTime:          refTime(t, "Sat Nov 21 19:49:49 2026").Time().UTC(),
		StartTime:            refTime(t, "Sat Nov 21 19:49:24 2026").Time().UTC(),
		LastRecoveryStarted:  optionalTime(started - proto.Timestamp(25796*time.Microsecond)),
		LastRecoveryFinished: optionalTime(started),
		LastRecoveryDuration: 0.025796,
		loc:                  time.UTC,
	}
	assert.Equal(t, ref(t, "uptime.txt"), render(u, modeText))
	assert.Equal(t, ref(t, "uptime-X.txt"), render(u, modeMachine))
	assert.Equal(t, ref(t, "ping.txt"), render(&pingView{PNN: 0, Time: 0.000036, Clients: 2}, modeText))
}

// TestCTDB417Live: commands whose output has no clock or pid print the
// reference's bytes from real nodes.
func TestCTDB417Live(t *testing.T) {
	_, env := startCluster(t, "127.0.78.31", "127.0.78.32", "127.0.78.33")
	nodes := filepath.Join(t.TempDir(), "nodes")
	require.NoError(t, os.WriteFile(nodes, []byte("127.0.0.1\n127.0.0.2\n127.0.0.3\n"), 0o644))
	env["CTDB_NODES"] = nodes
	for file, args := range map[string]string{
		"listvars.txt":          "listvars",
		"getvar.txt":            "getvar MonitorInterval",
		"getcapabilities.txt":   "getcapabilities",
		"getcapabilities-X.txt": "-X getcapabilities",
		"getdebug.txt":          "getdebug",
		"runstate.txt":          "runstate",
		"pnn.txt":               "pnn",
		"listnodes.txt":         "listnodes",
		"listnodes-X.txt":       "-X listnodes",
	} {
		t.Run(args, func(t *testing.T) {
			r := ctdb(t, env, argsOf(args)...)
			assert.Equal(t, result{stdout: ref(t, file)}, r)
		})
	}
}

// TestCTDB417Usage: unknown commands, unknown options and the help are
// CTDB's, with gctdb's -n forms and -j added to the option list.
func TestCTDB417Usage(t *testing.T) {
	for file, args := range map[string]string{
		"recmaster.txt":    "recmaster",
		"help-command.txt": "help",
		"h-option.txt":     "-h",
	} {
		r := ctdb(t, nil, argsOf(args)...)
		assert.Equal(t, result{stderr: ref(t, file), code: 1}, r, args)
	}

	help := strings.Replace(ref(t, "help-option.txt"),
		"  -n, --node=INT           node specification - integer\n",
		"  -n, --node=PNN|all       node specification - integer, comma list or all\n", 1)
	help = strings.Replace(help,
		"(in seconds)\n\nHelp options:",
		"(in seconds)\n  -j, --json               enable JSON output\n\nHelp options:", 1)
	assert.Equal(t, result{stdout: help}, ctdb(t, nil, "--help"))
	assert.Equal(t, result{stdout: help}, ctdb(t, nil, "-?"))

	// `ctdb` alone: the help, then CTDB's line for every command gctdb
	// has, in CTDB's order.
	r := ctdb(t, nil)
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	require.True(t, strings.HasPrefix(r.stderr, help+"\nCommands:\n"), r.stderr)
	refLines := strings.Split(strings.SplitN(ref(t, "noargs.txt"), "\nCommands:\n", 2)[1], "\n")
	ours := strings.Split(strings.TrimSuffix(strings.SplitN(r.stderr, "\nCommands:\n", 2)[1], "\n"), "\n")
	require.Len(t, ours, len(testCLI(nil).commands()))
	i := 0
	for _, line := range ours {
		for i < len(refLines) && refLines[i] != line {
			i++
		}
		assert.Less(t, i, len(refLines), "usage line %q is not CTDB's, or out of CTDB's order", line)
	}
}
