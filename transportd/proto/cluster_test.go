package proto

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// clusterPayloadCases are the cluster and banning families' payloads;
// payloadCases runs them through the round-trip, golden and truncation
// tests, and fuzz_test.go fuzzes each.
func clusterPayloadCases() []payloadCase {
	return []payloadCase{
		{"leader", &Leader{PNN: 2, Term: 41, Since: 1700000000000000000, Heard: 1700000001000000000, Mode: LeaderModeLock}, func() Payload { return &Leader{} }},
		{"leader_check", &LeaderCheck{Term: 41}, func() Payload { return &LeaderCheck{} }},
		{"leader_verdict", &LeaderVerdict{Term: 41, ValidFor: 4200 * time.Millisecond, Fenced: true}, func() Payload { return &LeaderVerdict{} }},
		{"cluster_status", &ClusterStatus{
			Leader:   Leader{PNN: 0, Term: 3, Since: 5, Heard: 6, Mode: LeaderModeNoLock},
			Lock:     "!/usr/libexec/ctdb/ctdb_mutex_fcntl_helper /shared/.ctdb/cluster.lock 5",
			LockHeld: true,
			Stats:    Statistics{Start: 1, Now: 2, Counters: []Counter{{"elections", 3}, {"lock_contended", 1}}, Latencies: []Latency{{Name: "cluster_lock", Count: 2, Min: 0.004, Max: 0.009, Total: 0.013}}},
		}, func() Payload { return &ClusterStatus{} }},
		{"ban_request", &BanRequest{Seconds: 300, By: 1, Reason: "administrative ban"}, func() Payload { return &BanRequest{} }},
		{"ban_state", &BanState{PNN: 2, Banned: true, Since: 10, Until: 20, By: 0, Reason: "failed recovery 6 times"}, func() Payload { return &BanState{} }},
		{"ban_credits", &BanCredits{PNN: 1, Credits: 3, Reason: "freeze timed out"}, func() Payload { return &BanCredits{} }},
	}
}

func TestClusterPayloadValidation(t *testing.T) {
	bad := []struct {
		name string
		enc  []byte
		into Payload
	}{
		{"unknown leader mode", Marshal(&Leader{Mode: 9}), &Leader{}},
		{"negative validity", Marshal(&LeaderVerdict{ValidFor: -1}), &LeaderVerdict{}},
		{"ban ends before it starts", Marshal(&BanState{Banned: true, Since: 20, Until: 10}), &BanState{}},
	}
	for _, tc := range bad {
		assert.ErrorIs(t, Unmarshal(tc.enc, tc.into), ErrMalformed, tc.name)
	}
}

func TestClusterNames(t *testing.T) {
	assert.Equal(t, "leader_broadcast", OpLeaderBroadcast.String())
	assert.Equal(t, "ban_credits", OpBanCredits.String())
	assert.NotEqual(t, SrvIDLeader, SrvIDBanState)
	assert.True(t, (&Leader{PNN: 0}).Known())
	assert.False(t, (&Leader{PNN: PNNUnknown}).Known())
	assert.Equal(t, "cluster lock", LeaderModeName(LeaderModeLock))
	assert.Equal(t, "no cluster lock", LeaderModeName(LeaderModeNoLock))
	assert.Equal(t, "none", LeaderModeName(LeaderModeNone))
}

func FuzzLeader(f *testing.F)        { fuzzPayload(f, "leader") }
func FuzzLeaderCheck(f *testing.F)   { fuzzPayload(f, "leader_check") }
func FuzzLeaderVerdict(f *testing.F) { fuzzPayload(f, "leader_verdict") }
func FuzzClusterStatus(f *testing.F) { fuzzPayload(f, "cluster_status") }
func FuzzBanRequest(f *testing.F)    { fuzzPayload(f, "ban_request") }
func FuzzBanState(f *testing.F)      { fuzzPayload(f, "ban_state") }
func FuzzBanCredits(f *testing.F)    { fuzzPayload(f, "ban_credits") }
