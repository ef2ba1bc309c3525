package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logLines builds a node's log the way the daemon and its helper write
// it; each line is "SECONDS PROG[PID]: MESSAGE FIELDS".
func logLines(t *testing.T, host string, lines ...string) []record {
	t.Helper()
	base := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	var b strings.Builder
	for _, l := range lines {
		sec, rest, _ := strings.Cut(l, " ")
		d, err := time.ParseDuration(sec + "s")
		require.NoError(t, err)
		b.WriteString(base.Add(d).Format("2006-01-02T15:04:05.000000-07:00") + " " + host + " " + rest + "\n")
	}
	b.WriteString("2026-11-21T20:00:00.000000+00:00 node.9 ctdbd[1]: leader action term=1\n")
	recs, err := parseLog(strings.NewReader(b.String()), host)
	require.NoError(t, err)
	return recs
}

func at(sec float64) time.Time {
	return time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC).Add(time.Duration(sec * float64(time.Second)))
}

func TestParseLog(t *testing.T) {
	recs := logLines(t, "node.1",
		`1.5 ctdb_mutex_fcntl_helper[42]: cluster lock released file=/x inode=7 term=3 reason="lease of 5s expired: the parent stopped renewing it"`,
		`2 ctdbd[40]: leader action service=cluster action=broadcast term=4 valid_for=4.9s`)
	require.Len(t, recs, 2, "other hosts' lines are skipped")
	assert.Equal(t, "cluster lock released", recs[0].msg)
	assert.Equal(t, 42, recs[0].pid)
	assert.Equal(t, "lease of 5s expired: the parent stopped renewing it", recs[0].fields["reason"])
	assert.True(t, at(1.5).Equal(recs[0].time))
	assert.Equal(t, "ctdbd", recs[1].prog)
	term, ok := recs[1].uint("term")
	assert.True(t, ok)
	assert.Equal(t, uint64(4), term)
}

// goodHistory hands the lock from node 0 (term 1) to node 1 (term 2).
func goodHistory(t *testing.T) history {
	recs := logLines(t, "node.0",
		`1 ctdb_mutex_fcntl_helper[10]: cluster lock acquired inode=7 term=1`,
		`1.1 ctdbd[9]: leader action action=broadcast term=1`,
		`2.1 ctdbd[9]: leader action action=broadcast term=1`,
		`3 ctdb_mutex_fcntl_helper[10]: cluster lock released inode=7 term=1 reason=signal`)
	recs = append(recs, logLines(t, "node.1",
		`3.1 ctdb_mutex_fcntl_helper[20]: cluster lock acquired inode=7 term=2`,
		`3.2 ctdbd[19]: leader action action=broadcast term=2`)...)
	return history{records: recs, end: at(10), verified: []verification{
		{node: 0, term: 1, asked: at(2), answer: at(2.001)},
		{node: 1, term: 2, asked: at(4), answer: at(4.001)},
	}}
}

func TestCheckerPassesACleanHandover(t *testing.T) {
	h := goodHistory(t)
	assert.Empty(t, violations(h))

	// A lock given up unused (taken in a stale term while the lock file
	// was replaced) is no leadership.
	stale := goodHistory(t)
	stale.records = append(stale.records, logLines(t, "node.2",
		`3.05 ctdb_mutex_fcntl_helper[30]: cluster lock acquired inode=9 term=1`,
		`3.06 ctdb_mutex_fcntl_helper[30]: cluster lock released inode=9 term=1 reason=signal`)...)
	assert.Empty(t, violations(stale))
	assert.Contains(t, describe(h), "2 lock holds (node:term 0:1 1:2), 3 leader actions, 2 confirmed samples")
}

// TestCheckerFindsViolations: each breach of safety the soak looks for is
// reported.
func TestCheckerFindsViolations(t *testing.T) {
	tests := []struct {
		name   string
		change func(h *history)
		want   string
	}{
		{"two holders of one file", func(h *history) {
			h.records = append(h.records, logLines(t, "node.2", `2 ctdb_mutex_fcntl_helper[30]: cluster lock acquired inode=7 term=3`)...)
		}, "held the lock on inode 7 at once"},
		{"a leadership whose term does not grow", func(h *history) {
			h.records = append(h.records, logLines(t, "node.2",
				`5 ctdb_mutex_fcntl_helper[30]: cluster lock acquired inode=8 term=2`,
				`5.1 ctdbd[29]: leader action action=broadcast term=2`)...)
		}, "not above the previous leadership's term"},
		{"one term by two nodes", func(h *history) {
			h.records = append(h.records, logLines(t, "node.2",
				`3.15 ctdb_mutex_fcntl_helper[30]: cluster lock acquired inode=8 term=2`,
				`3.3 ctdbd[29]: leader action action=broadcast term=2`)...)
		}, "both acted as leader in term 2"},
		{"an action after the lock was released", func(h *history) {
			h.records = append(h.records, logLines(t, "node.0", `3.5 ctdbd[9]: leader action action=broadcast term=1`)...)
		}, "without holding the lock"},
		{"an action without a term", func(h *history) {
			h.records = append(h.records, logLines(t, "node.1", `3.5 ctdbd[19]: leader action action=broadcast`)...)
		}, "without a term"},
		{"an old term confirmed after a new one", func(h *history) {
			h.verified = append(h.verified, verification{node: 0, term: 1, asked: at(5), answer: at(5.001)})
		}, "confirmed term 1"},
		{"one term confirmed by two nodes", func(h *history) {
			h.verified = append(h.verified, verification{node: 2, term: 2, asked: at(5), answer: at(5.001)})
		}, "both confirmed term 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := goodHistory(t)
			tc.change(&h)
			v := violations(h)
			require.NotEmpty(t, v)
			assert.Contains(t, strings.Join(v, "\n"), tc.want)
		})
	}
}

// TestKilledHelperHoldsUntilTheKill: a helper that dies with its daemon
// logs nothing; its hold ends when the node was killed.
func TestKilledHelperHoldsUntilTheKill(t *testing.T) {
	recs := logLines(t, "node.0", `1 ctdb_mutex_fcntl_helper[10]: cluster lock acquired inode=7 term=1`)
	recs = append(recs, logLines(t, "node.1", `2.5 ctdb_mutex_fcntl_helper[20]: cluster lock acquired inode=7 term=2`)...)
	h := history{records: recs, end: at(10), kills: map[string][]time.Time{"node.0": {at(2)}}}
	assert.Empty(t, violations(h))
	h.kills = nil
	assert.NotEmpty(t, violations(h), "without the kill node 0 would still hold the lock")
}
