package logging

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLevel(t *testing.T) {
	good := []struct {
		in   string
		want Level
	}{
		{"ERROR", LevelError},
		{"WARNING", LevelWarning},
		{"NOTICE", LevelNotice},
		{"INFO", LevelInfo},
		{"DEBUG", LevelDebug},
		{"info", LevelInfo},
		{"Debug", LevelDebug},
		{"ERR", LevelError}, // CTDB's old spelling, a prefix
		{"E", LevelError},
		{"W", LevelWarning},
		{"n", LevelNotice},
		{"0", 0},
		{"2", 2},
		{"7", 7},
		{"10", 10},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLevel(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, in := range []string{"", "11", "-1", "3x", "BOGUS", "ERRORS", "INFOx", " INFO", "99999999999999999999"} {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := ParseLevel(in)
			require.ErrorIs(t, err, ErrBadLevel)
		})
	}
}

func TestLevelString(t *testing.T) {
	want := []string{"ERROR", "WARNING", "WARNING", "NOTICE", "NOTICE", "INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG"}
	for i, w := range want {
		assert.Equal(t, w, Level(i).String(), "level %d", i)
	}
	assert.Equal(t, "UNKNOWN", Level(11).String())
	assert.Equal(t, "UNKNOWN", Level(-1).String())
}

func TestLevelSlogMapping(t *testing.T) {
	cases := []struct {
		ctdb Level
		slog slog.Level
	}{
		{LevelError, slog.LevelError},
		{LevelWarning, slog.LevelWarn},
		{2, slog.LevelWarn},
		{LevelNotice, SlogNotice},
		{4, SlogNotice},
		{LevelInfo, slog.LevelInfo},
		{9, slog.LevelInfo},
		{LevelDebug, slog.LevelDebug},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.slog, tc.ctdb.Slog(), "level %d", tc.ctdb)
	}
	assert.Equal(t, slog.Level(2), SlogNotice)

	back := []struct {
		slog slog.Level
		ctdb Level
	}{
		{slog.LevelError + 4, LevelError},
		{slog.LevelError, LevelError},
		{slog.LevelWarn, LevelWarning},
		{SlogNotice, LevelNotice},
		{slog.LevelInfo, LevelInfo},
		{slog.LevelDebug, LevelDebug},
		{slog.LevelDebug - 4, LevelDebug},
	}
	for _, tc := range back {
		assert.Equal(t, tc.ctdb, LevelFromSlog(tc.slog), "slog %v", tc.slog)
	}
}

func TestSyslogSeverity(t *testing.T) {
	// CTDB's priority map: INFO (5) is logged as notice.
	want := []int{3, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7}
	for i, w := range want {
		assert.Equal(t, w, Level(i).syslogSeverity(), "level %d", i)
	}
}
