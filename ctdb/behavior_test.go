package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// TestSettingsOnEveryNode: setvar and setdebug change the node they are
// sent to, with -n on any node or all of them.
func TestSettingsOnEveryNode(t *testing.T) {
	_, env := startCluster(t, "127.0.78.51", "127.0.78.52", "127.0.78.53")

	assert.Equal(t, result{}, ctdb(t, env, "setvar", "monitorinterval", "0x10"))
	assert.Equal(t, result{stdout: "MonitorInterval            = 16\n"}, ctdb(t, env, "getvar", "MonitorInterval"))
	assert.Equal(t, result{stdout: "MonitorInterval            = 15\n"}, ctdb(t, env, "-n", "1", "getvar", "MonitorInterval"))

	assert.Equal(t, result{}, ctdb(t, env, "-n", "all", "setvar", "RecoverInterval", "7"))
	want := ""
	for _, n := range []string{"0", "1", "2"} {
		want += "\n>> NODE: " + n + " <<\nRecoverInterval            = 7\n"
	}
	assert.Equal(t, result{stdout: want}, ctdb(t, env, "-X", "-n", "all", "getvar", "RecoverInterval"))

	assert.Equal(t, result{}, ctdb(t, env, "-n", "1,2", "setdebug", "deb"))
	assert.Equal(t, result{stdout: "INFO\n"}, ctdb(t, env, "getdebug"))
	assert.Equal(t, result{stdout: "DEBUG\n"}, ctdb(t, env, "-n", "2", "getdebug"))
	assert.Equal(t, result{}, ctdb(t, env, "-n", "2", "setdebug", "3"))
	assert.Equal(t, result{stdout: "NOTICE\n"}, ctdb(t, env, "-n", "2", "getdebug"))

	clientControls := func() uint64 {
		r := ctdb(t, env, "-j", "statistics")
		require.Equal(t, 0, r.code, r.stderr)
		var s struct{ Counters map[string]uint64 }
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &s))
		return s.Counters["client.req_control"]
	}
	for range 5 {
		require.Equal(t, 0, ctdb(t, env, "ping").code)
	}
	before := clientControls()
	require.GreaterOrEqual(t, before, uint64(5))
	assert.Equal(t, result{}, ctdb(t, env, "statisticsreset"))
	assert.Less(t, clientControls(), before)
}

// TestDisconnectedNode: a node that is down gives its own error at once
// while the others answer; nodestatus returns its flags.
func TestDisconnectedNode(t *testing.T) {
	cl, env := startCluster(t, "127.0.78.11", "127.0.78.12", "127.0.78.13")
	cl.Stop(2)
	require.Eventually(t, func() bool {
		return ctdb(t, env, "nodestatus", "2").code == int(proto.NodeFlagDisconnected)
	}, 10*time.Second, 20*time.Millisecond)

	start := time.Now()
	for _, args := range []string{
		"status", "-X status", "nodestatus all", "-j nodestatus 2",
		"-n 2 getpid", "-n all ping", "-n all -j runstate", "-X -n all getcapabilities", "-n 1,2 getvar MonitorInterval",
	} {
		a := append([]string{"-t", "30"}, argsOf(args)...)
		got := normalize(ctdb(t, env, a...).transcript(a))
		golden(t, "disconnected_"+goldenName(argsOf(args)), got)
	}
	// The transport fails requests to a disconnected node at once, so
	// nothing above waited for -t.
	assert.Less(t, time.Since(start), 15*time.Second)

	// Requests that get past the node map's view fail fast too.
	c, err := client.Connect(context.Background(), cl.Socket(0))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.GetPID(ctx, 2)
	assert.Equal(t, proto.StatusUnavailable, proto.StatusOf(err))
	assert.True(t, strings.HasPrefix(errorMessage(&nodeError{pnn: 2, err: err}), "Control GET_PID failed to node 2: node unavailable"), err)
}

// TestShutdown: shutdown stops the nodes it names, the local one last.
func TestShutdown(t *testing.T) {
	cl, env := startCluster(t, "127.0.78.21", "127.0.78.22", "127.0.78.23")
	assert.Equal(t, result{}, ctdb(t, env, "-n", "2", "shutdown"))
	require.Eventually(t, func() bool { return !cl.Running(2) }, 10*time.Second, 10*time.Millisecond)
	assert.True(t, cl.Running(0))

	r := ctdb(t, env, "-n", "0,1", "shutdown")
	assert.Equal(t, result{}, r)
	require.Eventually(t, func() bool { return !cl.Running(0) && !cl.Running(1) }, 10*time.Second, 10*time.Millisecond)
	r = ctdb(t, env, "shutdown")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "Failed to connect to CTDB daemon ("+cl.Socket(0)+")\n")
}

// leaderView stands in for a section another service will provide.
type leaderView struct {
	Leader uint32 `json:"leader"`
}

func (v *leaderView) writeText(w io.Writer) { io.WriteString(w, "Leader:0\n") }

// TestStatusHooks: sections of services that do not run are left out,
// the others follow the node list in text and JSON; a failing section
// fails status; the partially-online hook marks nodes.
func TestStatusHooks(t *testing.T) {
	_, env := startCluster(t, "127.0.78.61", "127.0.78.62")
	absent := statusSection{name: "vnnmap", fetch: func(ctx context.Context, c *client.Client, pnn uint32) (view, error) {
		return nil, c.Control(ctx, pnn, proto.ServiceDatabase, proto.FamilyDatabase|1, nil, nil)
	}}
	present := statusSection{name: "leader", fetch: func(context.Context, *client.Client, uint32) (view, error) {
		return &leaderView{Leader: 0}, nil
	}}
	x := testCLI(env)
	x.hooks = statusHooks{
		sections: []statusSection{absent, present},
		partiallyOnline: func(_ context.Context, _ *client.Client, pnn uint32) (bool, error) {
			return pnn == 1, nil
		},
	}
	r := runCLI(t, x, "status")
	assert.Equal(t, result{stdout: "Number of nodes:2\n" +
		"pnn:0 127.0.78.61      OK (THIS NODE)\n" +
		"pnn:1 127.0.78.62      PARTIALLYONLINE\n" +
		"Leader:0\n"}, r)

	x = testCLI(env)
	x.hooks.sections = []statusSection{absent, present}
	r = runCLI(t, x, "-j", "status")
	require.Equal(t, 0, r.code, r.stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, map[string]any{"leader": float64(0)}, got["leader"])
	assert.NotContains(t, got, "vnnmap")

	// -X prints the node map only, as CTDB.
	x = testCLI(env)
	x.hooks.sections = []statusSection{present}
	r = runCLI(t, x, "-X", "status")
	assert.NotContains(t, r.stdout, "Leader")

	x = testCLI(env)
	x.hooks.sections = []statusSection{{name: "broken", fetch: func(context.Context, *client.Client, uint32) (view, error) {
		return nil, &proto.StatusError{Op: proto.FamilyCluster | 1, Status: proto.StatusFailed, Msg: "no leader"}
	}}}
	r = runCLI(t, x, "status")
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "failed to node 0: failed: no leader\n")
}

// TestDeletedNode: a deleted node keeps its PNN, is counted but not
// listed, and -n all leaves it out.
func TestDeletedNode(t *testing.T) {
	_, env := startCluster(t, "127.0.78.81", "", "127.0.78.83")
	for _, args := range []string{"status", "-X status", "nodestatus all", "-j nodestatus all", "-n all ping", "-n 1 getpid"} {
		a := argsOf(args)
		golden(t, "deleted_"+goldenName(a), normalize(ctdb(t, env, a...).transcript(a)))
	}
}
