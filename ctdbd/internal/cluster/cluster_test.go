package cluster

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

// lockConf is a [cluster] cluster lock line for gctdb's helper with a
// one-second recheck, and the lock file.
func lockConf(t *testing.T) (string, string) {
	file := filepath.Join(t.TempDir(), "cluster.lock")
	return "\tcluster lock = !" + helperPath + " " + file + " 1", file
}

func others(n int, not uint32) []uint32 {
	var out []uint32
	for i := 0; i < n; i++ {
		if uint32(i) != not {
			out = append(out, uint32(i))
		}
	}
	return out
}

func TestFreshClusterElectsOneLeaderWithoutWaiting(t *testing.T) {
	conf, _ := lockConf(t)
	start := time.Now()
	f := newTestNet(t, 3, conf)
	l := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	took := time.Since(start)
	assert.Less(t, took, time.Second, "the first election must not wait out the leader timeout")
	assert.Equal(t, proto.LeaderModeLock, l.Mode)
	assert.Equal(t, []uint32{l.PNN}, f.leaders())

	v, err := f.verify(l.PNN, l.Term)
	require.NoError(t, err)
	assert.True(t, v.Fenced)
	assert.Greater(t, v.ValidFor, 500*time.Millisecond)
	for _, pnn := range others(3, l.PNN) {
		_, err := f.verify(pnn, 0)
		assert.Equal(t, proto.StatusNotLeader, proto.StatusOf(err), "node %d does not lead", pnn)
	}
	_, err = f.verify(l.PNN, l.Term+1)
	assert.Equal(t, proto.StatusNotLeader, proto.StatusOf(err), "a term that is not the current one is refused")
}

// TestLeaderYields mirrors cluster.001-003: a stopped, banned or
// de-capabled leader yields and another node leads at once.
func TestLeaderYields(t *testing.T) {
	tests := []struct {
		name  string
		op    proto.Opcode
		req   proto.Payload
		undo  proto.Payload
		flags bool
	}{
		{"stop", proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagStopped}, &proto.ModifyFlags{Clear: proto.NodeFlagStopped}, true},
		{"ban", proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagBanned}, &proto.ModifyFlags{Clear: proto.NodeFlagBanned}, true},
		{"setleaderrole off", proto.OpSetCapabilities, &proto.Capabilities{Clear: proto.CapLeader}, &proto.Capabilities{Set: proto.CapLeader}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf, _ := lockConf(t)
			f := newTestNet(t, 3, conf)
			old := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
			start := time.Now()
			require.NoError(t, f.Control(old.PNN, proto.ServiceNode, tc.op, tc.req, nil))
			l := f.agreed(2*time.Second, old.PNN, 0, 1, 2)
			assert.Less(t, time.Since(start), 500*time.Millisecond, "a yielding leader hands over at once")
			assert.NotEqual(t, old.PNN, l.PNN)
			assert.Greater(t, l.Term, old.Term)
			assert.Equal(t, []uint32{l.PNN}, f.leaders())

			// Restored, the old leader does not take over again.
			require.NoError(t, f.Control(old.PNN, proto.ServiceNode, tc.op, tc.undo, nil))
			time.Sleep(300 * time.Millisecond)
			now := f.agreed(time.Second, anyLeader, 0, 1, 2)
			assert.Equal(t, l.PNN, now.PNN)
			assert.Equal(t, l.Term, now.Term)
		})
	}
}

func TestLeaderDeathElectsAnother(t *testing.T) {
	conf, _ := lockConf(t)
	f := newTestNet(t, 3, conf)
	old := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	f.Stop(old.PNN)
	rest := others(3, old.PNN)
	l := f.agreed(2*time.Second, old.PNN, rest...)
	assert.NotEqual(t, old.PNN, l.PNN)
	assert.Equal(t, []uint32{l.PNN}, f.leaders())
}

// TestPartitionedLeaderYieldsToTheMajority: a leader cut off from the
// others sees itself in the minority and lets the lock go, so that the
// majority elects a leader of its own; there is never a second leader,
// and the cut-off node, held back for a leader timeout, does not take the
// lock back.
func TestPartitionedLeaderYieldsToTheMajority(t *testing.T) {
	conf, _ := lockConf(t)
	f := newTestNet(t, 3, conf)
	old := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	rest := others(3, old.PNN)
	for _, pnn := range rest {
		f.SetLink(old.PNN, pnn, false)
	}
	var l proto.Leader
	require.Eventually(t, func() bool {
		leaders := f.leaders()
		require.LessOrEqual(t, len(leaders), 1, "two leaders: %v", leaders)
		v := f.views()
		l = v[rest[0]]
		return l.Known() && l.PNN != old.PNN && v[rest[1]].PNN == l.PNN && v[rest[1]].Term == l.Term
	}, 4*time.Second, 20*time.Millisecond, "the majority elects no leader: %v", f.views())
	assert.Greater(t, l.Term, old.Term)
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		assert.Equal(t, []uint32{l.PNN}, f.leaders())
		time.Sleep(100 * time.Millisecond)
	}
	for _, pnn := range rest {
		f.SetLink(old.PNN, pnn, true)
	}
	now := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	assert.Equal(t, l.PNN, now.PNN)
}

// TestLoneSurvivorLeadsAgain: a leader whose peers die cannot tell that
// from being cut off, so it yields; nobody taking the lock, it leads again
// after the leader timeout.
func TestLoneSurvivorLeadsAgain(t *testing.T) {
	conf, _ := lockConf(t)
	f := newTestNet(t, 3, conf)
	old := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	for _, pnn := range others(3, old.PNN) {
		f.Stop(pnn)
	}
	require.Eventually(t, func() bool {
		l := f.views()[old.PNN]
		return l.PNN == old.PNN && l.Term > old.Term
	}, 4*time.Second, 20*time.Millisecond, "the survivor does not lead again: %v", f.views())
	assert.Equal(t, []uint32{old.PNN}, f.leaders())
}

// TestRemovedLockFile mirrors cluster.015: the leader notices within the
// recheck interval and a single leader holds a new lock.
func TestRemovedLockFile(t *testing.T) {
	conf, file := lockConf(t)
	f := newTestNet(t, 3, conf)
	old := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	require.NoError(t, os.Remove(file))
	require.Eventually(t, func() bool {
		v := f.views()[0]
		return v.Known() && v.Term > old.Term
	}, 3*time.Second, 20*time.Millisecond)
	l := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	assert.Equal(t, []uint32{l.PNN}, f.leaders())
	_, err := os.Stat(file)
	assert.NoError(t, err, "the new leader's helper made a new lock file")
}

func TestStatusCountsElections(t *testing.T) {
	conf, _ := lockConf(t)
	f := newTestNet(t, 2, conf)
	l := f.agreed(2*time.Second, anyLeader, 0, 1)
	var st proto.ClusterStatus
	require.NoError(t, f.Control(l.PNN, proto.ServiceCluster, proto.OpClusterStatus, nil, &st))
	assert.True(t, st.LockHeld)
	counters := map[string]uint64{}
	for _, c := range st.Stats.Counters {
		counters[c.Name] = c.Value
	}
	assert.Equal(t, uint64(1), counters["elections"])
	assert.Equal(t, uint64(1), counters["lock_taken"])
	assert.Equal(t, uint32(1), st.Stats.Latencies[0].Count)
	assert.Equal(t, "reclock_recd", st.Stats.Latencies[0].Name)
}

// TestNoLockLowestPNNLeads mirrors cluster.006-008 and shows the
// documented split brain of running without a lock.
func TestNoLockLowestPNNLeads(t *testing.T) {
	f := newTestNet(t, 3, "")
	l := f.agreed(2*time.Second, anyLeader, 0, 1, 2)
	assert.Equal(t, uint32(0), l.PNN)
	assert.Equal(t, proto.LeaderModeNoLock, l.Mode)

	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpModifyFlags, &proto.ModifyFlags{Set: proto.NodeFlagStopped}, nil))
	assert.Equal(t, uint32(1), f.agreed(time.Second, 0, 0, 1, 2).PNN)
	require.NoError(t, f.Control(0, proto.ServiceNode, proto.OpModifyFlags, &proto.ModifyFlags{Clear: proto.NodeFlagStopped}, nil))
	assert.Equal(t, uint32(0), f.agreed(time.Second, 1, 0, 1, 2).PNN)

	f.SetLink(0, 1, false)
	f.SetLink(0, 2, false)
	assert.Equal(t, uint32(1), f.agreed(time.Second, 0, 1, 2).PNN)
	assert.ElementsMatch(t, []uint32{0, 1}, f.leaders(), "without a lock each partition has a leader")
	f.SetLink(0, 1, true)
	f.SetLink(0, 2, true)
	assert.Equal(t, uint32(0), f.agreed(time.Second, 1, 0, 1, 2).PNN)
	assert.Equal(t, []uint32{0}, f.leaders())
}
