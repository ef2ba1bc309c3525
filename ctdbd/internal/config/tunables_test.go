package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListvarsGolden checks the default listing against "ctdb listvars"
// of CTDB 4.17.12 (from shared/reference/ctdb-cli.txt), byte for byte.
func TestListvarsGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "listvars-4.17.txt"))
	require.NoError(t, err)
	d := DefaultTunables()
	var buf bytes.Buffer
	require.NoError(t, d.WriteList(&buf))
	assert.Equal(t, string(want), buf.String())
}

func TestGetvarGolden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "getvar-4.17.txt"))
	require.NoError(t, err)
	d := DefaultTunables()
	v, err := d.Get("MonitorInterval")
	require.NoError(t, err)
	assert.Equal(t, string(want), FormatTunable("MonitorInterval", v)+"\n")
	// getvar echoes the name as typed.
	assert.Equal(t, "monitorinterval            = 15", FormatTunable("monitorinterval", v))
}

func TestTunableNames(t *testing.T) {
	names := TunableNames()
	require.Len(t, names, 49)
	assert.Equal(t, "SeqnumInterval", names[0])
	assert.Equal(t, "AllowMixedVersions", names[48])
	d := DefaultTunables()
	i := 0
	for name, v := range d.All() {
		assert.Equal(t, names[i], name)
		got, err := d.Get(name)
		require.NoError(t, err)
		assert.Equal(t, got, v)
		i++
	}
	assert.Equal(t, 49, i)
}

func TestTunablesGetSet(t *testing.T) {
	tun := DefaultTunables()
	assert.Equal(t, uint32(15), tun.MonitorInterval)
	assert.Equal(t, uint32(2), tun.IPAllocAlgorithm)

	require.NoError(t, tun.Set("monitorinterval", 20))
	assert.Equal(t, uint32(20), tun.MonitorInterval)
	v, err := tun.Get("MONITORINTERVAL")
	require.NoError(t, err)
	assert.Equal(t, uint32(20), v)

	snapshot := tun
	require.NoError(t, tun.Set("EnableBans", 0))
	assert.Equal(t, uint32(1), snapshot.EnableBans, "a copy is a snapshot")

	for _, name := range []string{"MaxRedirectCount", "DisableIPFailover", "VacuumLimit", "TDBMutexEnabled", "samba3avoiddeadlocks"} {
		before := tun
		err := tun.Set(name, 1)
		require.ErrorIs(t, err, ErrObsoleteTunable, name)
		assert.Equal(t, before, tun, "setting an obsolete tunable changes nothing")
		_, err = tun.Get(name)
		require.ErrorIs(t, err, ErrObsoleteTunable, name)
	}
	require.ErrorIs(t, tun.Set("Bogus", 1), ErrUnknownTunable)
	_, err = tun.Get("")
	require.ErrorIs(t, err, ErrUnknownTunable)

	name, err := CanonicalTunableName("recbuffersizelimit")
	require.NoError(t, err)
	assert.Equal(t, "RecBufferSizeLimit", name)
	_, err = CanonicalTunableName("VacuumLimit")
	require.ErrorIs(t, err, ErrObsoleteTunable)
}

func TestParseTunableValue(t *testing.T) {
	for in, want := range map[string]uint32{"0": 0, "15": 15, "0x10": 16, "0XfF": 255, "072": 58, "4294967295": 4294967295} {
		got, err := ParseTunableValue(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "+1", "4294967296", "12abc", "0xgg", "08", "1_000", " 1", "0x"} {
		_, err := ParseTunableValue(in)
		require.ErrorIs(t, err, ErrInvalidValue, "%q", in)
	}
}

func TestParseTunablesFile(t *testing.T) {
	// The good cases of CTDB's own unit test of ctdb.tunables loading.
	good := []struct {
		name string
		in   string
		want map[string]uint32
	}{
		{"empty", "", nil},
		{"comments and blanks", "# This is a comment\n\n; another\n\n\n", nil},
		{"one", "EnableBans=0\n", map[string]uint32{"EnableBans": 0}},
		{"hex", "EnableBans=0xf\n", map[string]uint32{"EnableBans": 15}},
		{"octal", "EnableBans=072\n", map[string]uint32{"EnableBans": 58}},
		{"tab before =", "EnableBans\t=0\n", map[string]uint32{"EnableBans": 0}},
		{"space after =", "EnableBans= 0\n", map[string]uint32{"EnableBans": 0}},
		{"spaces around =", "EnableBans      =  0\nRecoverInterval = 10\n", map[string]uint32{"EnableBans": 0, "RecoverInterval": 10}},
		{"white space everywhere", "\tEnableBans      = 0  \n\tRecoverInterval = 10 \n", map[string]uint32{"EnableBans": 0, "RecoverInterval": 10}},
		{"any case", "enablebans=0\nReCoVerInTeRvAl=10\nELECTIONTIMEOUT=5\n",
			map[string]uint32{"EnableBans": 0, "RecoverInterval": 10, "ElectionTimeout": 5}},
		{"miscellaneous", "# Leading comment\nenablebans=0\nReCoVerInTeRvAl\t =    10\n\n# Intermediate\n  ELECTIONTIMEOUT=25   \n\n\n",
			map[string]uint32{"EnableBans": 0, "RecoverInterval": 10, "ElectionTimeout": 25}},
		{"last wins", "MonitorInterval=1\nMonitorInterval=2\n", map[string]uint32{"MonitorInterval": 2}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTunables([]byte(tc.in), "ctdb.tunables", DefaultTunables())
			require.NoError(t, err)
			want := DefaultTunables()
			for k, v := range tc.want {
				require.NoError(t, want.Set(k, v))
			}
			assert.Equal(t, want, got)
		})
	}

	// The bad cases of the same test; all problems are reported.
	bad := []struct {
		name string
		in   string
		want string
		is   error
	}{
		{"one word", "Hello\n", `ctdb.tunables:1: "Hello": syntax error: want NAME=VALUE`, ErrSyntax},
		{"words", "Hello world!\n", `ctdb.tunables:1: "Hello world!": syntax error: want NAME=VALUE`, ErrSyntax},
		{"missing value", "EnableBans=\n", `ctdb.tunables:1: "EnableBans": syntax error: want NAME=VALUE`, ErrSyntax},
		{"not a number", "EnableBans=value\n", `ctdb.tunables:1: "EnableBans": invalid value "value": not a non-negative integer`, ErrInvalidValue},
		{"missing key", "=123\n", `ctdb.tunables:1: syntax error: missing tunable name before '='`, ErrSyntax},
		{"missing key after space", " =0\n", `ctdb.tunables:1: syntax error: missing tunable name before '='`, ErrSyntax},
		{"unknown", "HelloWorld=123\n", `ctdb.tunables:1: "HelloWorld": unknown tunable "HelloWorld"`, ErrUnknownTunable},
		{"obsolete", "MaxRedirectCount=123\n", `ctdb.tunables:1: "MaxRedirectCount": obsolete tunable "MaxRedirectCount"`, ErrObsoleteTunable},
		{"trailing garbage", "EnableBans=0xgg\n", `ctdb.tunables:1: "EnableBans": invalid value "0xgg": not a non-negative integer`, ErrInvalidValue},
		{"trailing comment", "EnableBans=0 # no\n", `ctdb.tunables:1: "EnableBans": invalid value "0 # no": not a non-negative integer`, ErrInvalidValue},
		{"too large", "EnableBans=4294967296\n", `ctdb.tunables:1: "EnableBans": invalid value "4294967296": larger than 4294967295`, ErrInvalidValue},
		{"section", "[tunables]\n", `ctdb.tunables:1: syntax error: sections are not supported in a tunables file`, ErrSyntax},
		{"multiple", "EnableBans=\nEnableBans=value\n=123\nHelloWorld=123\nMaxRedirectCount =123\n", strings.Join([]string{
			`ctdb.tunables:1: "EnableBans": syntax error: want NAME=VALUE`,
			`ctdb.tunables:2: "EnableBans": invalid value "value": not a non-negative integer`,
			`ctdb.tunables:3: syntax error: missing tunable name before '='`,
			`ctdb.tunables:4: "HelloWorld": unknown tunable "HelloWorld"`,
			`ctdb.tunables:5: "MaxRedirectCount": obsolete tunable "MaxRedirectCount"`,
		}, "\n"), ErrSyntax},
		{"errors then valid", "HelloWorld=123\nEnableBans=value\nEnableBans=0\n", strings.Join([]string{
			`ctdb.tunables:1: "HelloWorld": unknown tunable "HelloWorld"`,
			`ctdb.tunables:2: "EnableBans": invalid value "value": not a non-negative integer`,
		}, "\n"), ErrUnknownTunable},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			base := DefaultTunables()
			base.MonitorInterval = 99
			got, err := parseTunables([]byte(tc.in), "ctdb.tunables", base)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.ErrorIs(t, err, tc.is)
			assert.Equal(t, base, got, "a bad file changes nothing")
		})
	}
}

func TestLoadTunables(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctdb.tunables")
	got, err := LoadTunables(path, DefaultTunables())
	require.NoError(t, err, "a missing file is fine")
	assert.Equal(t, DefaultTunables(), got)

	require.NoError(t, os.WriteFile(path, []byte("MonitorInterval=20\n"), 0o644))
	got, err = LoadTunables(path, DefaultTunables())
	require.NoError(t, err)
	assert.Equal(t, uint32(20), got.MonitorInterval)

	require.NoError(t, os.WriteFile(path, []byte("\nMonitorInterval=x\n"), 0o644))
	_, err = LoadTunables(path, DefaultTunables())
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+`:2: "MonitorInterval": invalid value "x"`)

	_, err = LoadTunables(dir, DefaultTunables())
	require.Error(t, err)
}
