package logging

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLocation(t *testing.T) {
	good := []struct {
		in   string
		want Location
		str  string
	}{
		{"file:/var/log/ctdb/log.ctdb", Location{Kind: KindFile, Path: "/var/log/ctdb/log.ctdb"}, "file:/var/log/ctdb/log.ctdb"},
		{"file:relative.log", Location{Kind: KindFile, Path: "relative.log"}, "file:relative.log"},
		{"file:", Location{Kind: KindStderr}, "file:-"},
		{"file:-", Location{Kind: KindStderr}, "file:-"},
		{"file", Location{Kind: KindStderr}, "file:-"},
		{"syslog", Location{Kind: KindSyslog}, "syslog"},
		{"syslog:", Location{Kind: KindSyslog}, "syslog"},
		{"syslog:nonblocking", Location{Kind: KindSyslog, Method: SyslogNonblocking}, "syslog:nonblocking"},
		{"syslog:udp", Location{Kind: KindSyslog, Method: SyslogUDP}, "syslog:udp"},
		{"syslog:udp-rfc5424", Location{Kind: KindSyslog, Method: SyslogUDPRFC5424}, "syslog:udp-rfc5424"},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLocation(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.str, got.String())
		})
	}
	for _, in := range []string{"", "stderr", "-", "bogus", "FILE:/x", "Syslog", "syslog:bogus", "syslog:UDP"} {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := ParseLocation(in)
			require.ErrorIs(t, err, ErrBadLocation)
		})
	}
}

func TestValidateLocation(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(notDir, nil, 0o644))

	loc, err := Validate("file:" + filepath.Join(dir, "log.ctdb"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "log.ctdb"), loc.Path)

	_, err = Validate("file:" + filepath.Join(dir, "missing", "log.ctdb"))
	require.ErrorIs(t, err, ErrBadLocation)
	_, err = Validate("file:" + filepath.Join(notDir, "log.ctdb"))
	require.ErrorIs(t, err, ErrBadLocation)
	assert.Contains(t, err.Error(), "is not a directory")

	_, err = Validate("syslog:bogus")
	require.ErrorIs(t, err, ErrBadLocation)
	_, err = Validate("file:-")
	require.NoError(t, err)
}
