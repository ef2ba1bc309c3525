package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// usageOf is the usage error text of one command.
func usageOf(t *testing.T, name string) string {
	t.Helper()
	for _, c := range testCLI(nil).commands() {
		if c.name == name {
			return testCLI(nil).usage(c)
		}
	}
	t.Fatalf("no command %s", name)
	return ""
}

// TestBadCommandLines: wrong commands, options, arguments and values
// fail with a message on stderr, nothing on stdout and a non-zero exit
// status, before or after reaching the daemon.
func TestBadCommandLines(t *testing.T) {
	_, env := startCluster(t, "127.0.78.41", "127.0.78.42")
	env["CTDB_NODES"] = filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args   string
		stderr string
		code   int
	}{
		{"foo", "Unknown command 'foo'\n", 1},
		{"-t 5 foo extra", "Unknown command 'foo'\n", 1},
		{"--bogus status", "Invalid option --bogus: unknown option\n", 1},
		{"status -q", "Invalid option -q: unknown option\n", 1},
		{"-x", "Invalid option -x: missing argument\n", 1},
		{"status -n", "Invalid option -n: missing argument\n", 1},
		{"-t abc pnn", "Invalid option abc: invalid numeric value\n", 1},
		{"-T 1x pnn", "Invalid option 1x: invalid numeric value\n", 1},
		{"-t -1 pnn", "Invalid option -1: invalid numeric value\n", 1},
		{"setvar MonitorInterval -1", "Invalid option -1: unknown option\n", 1},
		{"-j -X status", "Invalid option -j: cannot be combined with -X or -Y\n", 1},
		{"getvar", usageOf(t, "getvar"), 1},
		{"getvar a b", usageOf(t, "getvar"), 1},
		{"status extra", usageOf(t, "status"), 1},
		{"nodestatus 1 2", usageOf(t, "nodestatus"), 1},
		{"setvar MonitorInterval", usageOf(t, "setvar"), 1},
		{"nodestatus x", "Invalid node x\n", 1},
		{"nodestatus 0,,1", "Invalid node \n", 1},
		{"nodestatus 7", "Node 7 does not exist\n", 1},
		{"-n abc getpid", "Invalid node abc\n", 1},
		{"-n 1,x getpid", "Invalid node x\n", 1},
		{"-n 7 getpid", "Node 7 does not exist\n", 1},
		{"-n 0,7 getpid", "Node 7 does not exist\n", 1},
		{"-n 1 pnn", "Node cannot be specified for command pnn\n", 1},
		{"-n all pnn", "Node cannot be specified for command pnn\n", 1},
		{"-n 1 version", "Cannot specify node for command version\n", 1},
		{"-n 0 listnodes", "Cannot specify node for command listnodes\n", 1},
		{"runstate bogus", "Invalid run state (bogus)\n", 1},
		{"runstate running unknown", "Invalid run state (unknown)\n", 1},
		{"getvar NoSuchTunable", "No such tunable NoSuchTunable\n", 1},
		{"getvar MaxRedirectCount", "No such tunable MaxRedirectCount\n", 1},
		{"setvar NoSuchTunable 1", "No such tunable NoSuchTunable\n", 1},
		{"setvar MonitorInterval abc", "Invalid tunable value abc: not a number from 0 to 4294967295\n", 22},
		{"setvar MonitorInterval 4294967296", "Invalid tunable value 4294967296: not a number from 0 to 4294967295\n", 22},
		{"setvar MonitorInterval 1_0", "Invalid tunable value 1_0: not a number from 0 to 4294967295\n", 22},
		{"setdebug foo", "Invalid debug level 'foo'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG\n", 1},
		{"setdebug 11", "Invalid debug level '11'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG\n", 1},
		{"listnodes", `Failed to read nodes file "` + env["CTDB_NODES"] + `"` + "\n", 1},
	} {
		t.Run(tc.args, func(t *testing.T) {
			r := ctdb(t, env, argsOf(tc.args)...)
			assert.Equal(t, result{stderr: tc.stderr, code: tc.code}, r)
		})
	}
}

func TestBadEnvironment(t *testing.T) {
	dir := t.TempDir()
	r := ctdb(t, map[string]string{"CTDB_SOCKET": filepath.Join(dir, "none.socket")}, "status")
	assert.Equal(t, result{stderr: "connect() failed, errno=2\nFailed to connect to CTDB daemon (" + filepath.Join(dir, "none.socket") + ")\n", code: 1}, r)

	r = ctdb(t, map[string]string{"CTDB_TIMEOUT": "soon"}, "version")
	assert.Equal(t, result{stderr: "Invalid value CTDB_TIMEOUT\n", code: 1}, r)

	nodes := filepath.Join(dir, "nodes")
	require.NoError(t, os.WriteFile(nodes, []byte("127.0.0.1\nnot-an-address\n"), 0o644))
	r = ctdb(t, map[string]string{"CTDB_NODES": nodes}, "listnodes")
	assert.Equal(t, result{stderr: "Invalid IP address not-an-address\nFailed to read nodes file \"" + nodes + "\"\n", code: 1}, r)
}

// TestListnodesDeleted: deleted nodes keep their PNN and are not listed;
// CTDB_BASE finds the nodes file when CTDB_NODES is unset.
func TestListnodesDeleted(t *testing.T) {
	base := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(base, "nodes"), []byte(" 10.0.0.1\t\n#10.0.0.2\n\nfd00::1\n"), 0o644))
	env := map[string]string{"CTDB_BASE": base}
	assert.Equal(t, result{stdout: "10.0.0.1\nfd00::1\n"}, ctdb(t, env, "listnodes"))
	assert.Equal(t, result{stdout: "|0|10.0.0.1|\n|2|fd00::1|\n"}, ctdb(t, env, "-X", "listnodes"))
	assert.Equal(t, result{stdout: ";0;10.0.0.1;\n;2;fd00::1;\n"}, ctdb(t, env, "listnodes", "-Y", "-x", ";"))
}

// silentDaemon accepts connections and the hello, then never answers:
// the tool must give up after -t and -T instead of hanging.
func silentDaemon(t *testing.T) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "silent.socket")
	l, err := net.Listen("unix", socket)
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if _, err := proto.ReadFrame(c, 1<<16); err == nil {
				a := &proto.HelloAccept{Version: proto.MaxProtocolVersion, ConnID: 1}
				m := &proto.Message{Header: proto.Header{ProtocolVersion: proto.MaxProtocolVersion,
					Dst: proto.Endpoint{Service: proto.ServiceClient, ID: 1}, Opcode: proto.OpHelloAccept}, Payload: a.AppendTo(nil)}
				c.Write(m.Encode())
				// Swallow requests until the client hangs up.
				for {
					if _, err := proto.ReadFrame(c, proto.MaxFrameSize); err != nil {
						break
					}
				}
			}
			c.Close()
		}
	}()
	return socket
}

func TestTimeLimits(t *testing.T) {
	env := map[string]string{"CTDB_SOCKET": silentDaemon(t)}
	r := ctdb(t, env, "-t", "1", "getpid")
	assert.Equal(t, result{stderr: "Control GET_PID failed to node 0: timed out: no reply before the deadline\n", code: 110}, r)

	r = ctdb(t, env, "-T", "1", "-t", "30", "getpid")
	assert.Equal(t, result{stderr: "Maximum runtime exceeded - exiting\n", code: 1}, r)

	env["CTDB_TIMEOUT"] = "1"
	r = ctdb(t, env, "-t", "30", "uptime")
	assert.Equal(t, result{stderr: "Maximum runtime exceeded - exiting\n", code: 1}, r)
}

func TestErrorMessages(t *testing.T) {
	unavailable := &proto.StatusError{Op: proto.OpGetPID, Status: proto.StatusUnavailable, Msg: "node 2 is not connected"}
	for _, tc := range []struct {
		err  error
		msg  string
		code int
	}{
		{&nodeError{pnn: 2, err: unavailable}, "Control GET_PID failed to node 2: node unavailable: node 2 is not connected", 1},
		{&nodeError{pnn: 1, err: &proto.StatusError{Op: proto.OpListTunables, Status: proto.StatusTimeout}}, "Control LIST_TUNABLES failed to node 1: timed out", 110},
		{&nodeError{pnn: 1, err: failf("Node 1 has status BANNED|INACTIVE")}, "Node 1 has status BANNED|INACTIVE", 1},
		{&nodeError{pnn: 0, err: client.ErrClosed}, "Connection to CTDB daemon closed", 1},
		{&exitError{status: 22, msg: "bad"}, "bad", 22},
		{&nodeError{pnn: 0, err: errors.New("boom")}, "boom", 1},
		{context.DeadlineExceeded, "context deadline exceeded", 110},
	} {
		assert.Equal(t, tc.msg, errorMessage(tc.err))
		assert.Equal(t, tc.code, exitCode(tc.err))
	}
}

// TestFlagStrings: flags render in CTDB 4.17's order, INACTIVE for any
// inactive flag.
func TestFlagStrings(t *testing.T) {
	for flags, want := range map[uint32]string{
		0: "OK",
		proto.NodeFlagDisconnected | proto.NodeFlagUnhealthy:          "DISCONNECTED|UNHEALTHY|INACTIVE",
		proto.NodeFlagPermanentlyDisabled:                             "DISABLED",
		proto.NodeFlagBanned:                                          "BANNED|INACTIVE",
		proto.NodeFlagStopped:                                         "STOPPED|INACTIVE",
		proto.NodeFlagBanned | proto.NodeFlagUnhealthy:                "BANNED|UNHEALTHY|INACTIVE",
		proto.NodeFlagDeleted | proto.NodeFlagDisconnected:            "DISCONNECTED|DELETED|INACTIVE",
		proto.NodeFlagPermanentlyDisabled | proto.NodeFlagUnhealthy:   "DISABLED|UNHEALTHY",
		proto.NodeFlagStopped | proto.NodeFlagPermanentlyDisabled | 1: "DISCONNECTED|DISABLED|STOPPED|INACTIVE",
	} {
		assert.Equal(t, want, proto.NodeFlagsString(flags), "flags 0x%x", flags)
	}
}

// TestNodeListVariants: deleted nodes, flags and partially online nodes
// in text and -X, as CTDB's print_nodemap.
func TestNodeListVariants(t *testing.T) {
	infos := []proto.NodeInfo{
		{PNN: 0, Addr: "10.0.0.1"},
		{PNN: 1, Flags: proto.NodeFlagDeleted | proto.NodeFlagDisconnected},
		{PNN: 2, Addr: "10.0.0.3", Flags: proto.NodeFlagBanned},
		{PNN: 3, Addr: "fd00::1234:5678:9abc", Flags: proto.NodeFlagStopped | proto.NodeFlagPermanentlyDisabled},
		{PNN: 4, Addr: "10.0.0.5"},
	}
	l := &nodeList{Self: 2, NumNodes: 5, NumDeletedNodes: 1, header: true}
	for _, n := range infos {
		l.Nodes = append(l.Nodes, newNodeView(n, 2, n.PNN == 4))
	}
	assert.Equal(t, "Number of nodes:5 (including 1 deleted nodes)\n"+
		"pnn:0 10.0.0.1         OK\n"+
		"pnn:2 10.0.0.3         BANNED|INACTIVE (THIS NODE)\n"+
		"pnn:3 fd00::1234:5678:9abc DISABLED|STOPPED|INACTIVE\n"+
		"pnn:4 10.0.0.5         PARTIALLYONLINE\n", render(l, modeText))
	assert.Equal(t, "|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|\n"+
		"|0|10.0.0.1|0|0|0|0|0|0|0|0|N|\n"+
		"|2|10.0.0.3|0|0|1|0|0|0|1|0|Y|\n"+
		"|3|fd00::1234:5678:9abc|0|0|0|1|0|1|1|0|N|\n"+
		"|4|10.0.0.5|0|0|0|0|0|0|0|1|N|\n", render(l, modeMachine))
	assert.Equal(t, int(proto.NodeFlagBanned|proto.NodeFlagStopped|proto.NodeFlagPermanentlyDisabled), nodestatusView{l}.exitStatus())
}

func TestParseHelpers(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "15": 15, "0x10": 16, "0X1f": 31, "010": 8, "4294967295": 4294967295} {
		got, err := parseCUint(s, 32)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "0x", "-1", "+1", "1_000", "08", "4294967296", "12abc", " 1"} {
		_, err := parseCUint(s, 32)
		assert.Error(t, err, s)
	}
	for s, want := range map[string]int{"ERROR": 0, "err": 0, "w": 1, "notice": 3, "Info": 5, "DEB": 10, "7": 7, "10": 10} {
		got, err := parseDebugLevel(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "11", "NOTICEX", "x", "3x", "-1"} {
		_, err := parseDebugLevel(s)
		assert.ErrorIs(t, err, errBadDebugLevel, s)
	}
	spec, err := parseNodeSpec("2,0,2")
	require.NoError(t, err)
	assert.Equal(t, nodeSpec{pnns: []uint32{2, 0}, multi: true}, spec)
	spec, err = parseNodeSpec("all")
	require.NoError(t, err)
	assert.Equal(t, nodeSpec{all: true, multi: true}, spec)
	spec, err = parseNodeSpec("1")
	require.NoError(t, err)
	assert.Equal(t, nodeSpec{pnns: []uint32{1}}, spec)
	assert.True(t, strings.HasPrefix(usageOf(t, "ping"), briefUsageText))
	assert.Equal(t, slog.LevelError, toolLogLevel("bogus"))
	assert.Equal(t, slog.LevelDebug, toolLogLevel("debug"))
	assert.Equal(t, slog.LevelInfo, toolLogLevel("NOTICE"))
}

// TestTimeoutsDefaults: -t defaults to CTDB's 10 s, -T to 120 s or
// CTDB_TIMEOUT.
func TestTimeoutsDefaults(t *testing.T) {
	o := globalOptions{timelimit: defaultTimelimit}
	per, total, err := o.timeouts(func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{10 * time.Second, 120 * time.Second}, []time.Duration{per, total})
	_, total, err = o.timeouts(func(string) (string, bool) { return "0x10", true })
	require.NoError(t, err)
	assert.Equal(t, 16*time.Second, total)
	o.maxruntime = 5
	_, total, err = o.timeouts(func(string) (string, bool) { return "30", true })
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, total)
}
