package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

func TestLeaderOutput(t *testing.T) {
	since := time.Date(2026, 11, 21, 19, 49, 24, 0, time.UTC)
	known := newLeaderView(&proto.Leader{PNN: 2, Term: 7, Since: proto.TimestampOf(since), Mode: proto.LeaderModeLock}, time.UTC)
	unknown := newLeaderView(&proto.Leader{PNN: proto.PNNUnknown}, time.UTC)

	assert.Equal(t, "2\n", render(known, modeText), "ctdb leader")
	assert.Equal(t, "2\n", render(known, modeMachine), "-X leader is the text, as in CTDB")
	assert.Equal(t, "UNKNOWN\n", render(unknown, modeText), "CTDB's print_pnn")
	assert.JSONEq(t, `{"pnn":2,"term":7,"since":"2026-11-21T19:49:24Z","mode":"cluster lock"}`, render(known, modeJSON))
	assert.JSONEq(t, `{"pnn":null,"term":0,"since":null,"mode":"none"}`, render(unknown, modeJSON))

	known.verbose = true
	assert.Equal(t, "2 since Sat Nov 21 19:49:24 2026 (term 7, cluster lock)\n", render(known, modeText))

	known.verbose, known.prefix, unknown.prefix = false, "Leader:", "Leader:"
	assert.Equal(t, "Leader:2\n", render(known, modeText), "the Leader line of ctdb status")
	assert.Equal(t, "Leader:UNKNOWN\n", render(unknown, modeText))
}

func TestReclockOutput(t *testing.T) {
	lock := "/shared/.ctdb/cluster.lock"
	assert.Equal(t, lock+"\n", render(&reclockView{Lock: &lock}, modeText))
	assert.Equal(t, "", render(&reclockView{}, modeText), "CTDB prints nothing without a lock")
	assert.JSONEq(t, `{"cluster_lock":null}`, render(&reclockView{}, modeJSON))
}

func TestBansOutput(t *testing.T) {
	now := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	by := uint32(0)
	v := &bansView{now: now, Bans: []banView{
		{PNN: 2, Until: now.Add(287 * time.Second), By: &by, Reason: "administrative ban (ctdb ban on node 0)"},
		{PNN: 1, Until: now.Add(-time.Second), Reason: "3 ban credits"},
	}}
	assert.Equal(t, "Banned node 2: 287 s left, by node 0: administrative ban (ctdb ban on node 0)\n"+
		"Banned node 1: 0 s left, by a local client: 3 ban credits\n", render(v, modeText))
	assert.Equal(t, "", render(&bansView{}, modeText), "nothing while no node is banned")
	assert.JSONEq(t, `[{"pnn":2,"until":"2026-11-21T20:04:47Z","by":0,"reason":"administrative ban (ctdb ban on node 0)"},`+
		`{"pnn":1,"until":"2026-11-21T19:59:59Z","by":null,"reason":"3 ban credits"}]`, render(v, modeJSON))
}

func TestBanTimeParsedAsStrtoul(t *testing.T) {
	tests := map[string]uint32{"30": 30, "0": 0, "abc": 0, "10x": 10, "": 0, "-5": 0, "99999999999": 0}
	for in, want := range tests {
		assert.Equal(t, want, parseBanTime(in), in)
	}
	err := checkBan([]string{"0"})
	require.Error(t, err)
	assert.Equal(t, exitInvalid, exitCode(err))
	assert.Equal(t, "Ban time cannot be zero", errorMessage(err))
	assert.NoError(t, checkBan([]string{"300"}))
}

func TestRoleArguments(t *testing.T) {
	cmd := roleCommand("setleaderrole", "set LEADER role", proto.CapLeader)
	assert.NoError(t, cmd.check([]string{"on"}))
	assert.NoError(t, cmd.check([]string{"off"}))
	var ue *usageError
	assert.ErrorAs(t, cmd.check([]string{"yes"}), &ue)
	assert.Same(t, cmd, ue.cmd)
}

func TestAlreadyDoneSucceeds(t *testing.T) {
	err := alreadyDone("Node %d is already %s", 1, "stopped")
	assert.Equal(t, exitOK, exitCode(err))
	assert.Equal(t, "Node 1 is already stopped", errorMessage(err))
}
