package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mapEnv(m map[string]string) Env {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// TestResolvePaths mirrors what CTDB 4.17's ctdb-path printed on this
// machine for the same environments.
func TestResolvePaths(t *testing.T) {
	prod := Paths{ConfigDir: "/etc/ctdb", RunDir: "/run/ctdb", VarDir: "/var/lib/ctdb", Socket: "/run/ctdb/ctdbd.socket"}
	test := Paths{TestMode: true, ConfigDir: "/tmp/n0", RunDir: "/tmp/n0/run", VarDir: "/tmp/n0/var", Socket: "/tmp/n0/run/ctdbd.socket"}
	withSocket := func(p Paths, s string) Paths { p.Socket = s; return p }
	cases := []struct {
		name string
		env  map[string]string
		want Paths
	}{
		{"production", nil, prod},
		{"CTDB_BASE alone is ignored", map[string]string{"CTDB_BASE": "/tmp/n0"}, prod},
		{"CTDB_VARDIR and CTDB_RUNDIR are ignored", map[string]string{"CTDB_VARDIR": "/v", "CTDB_RUNDIR": "/r"}, prod},
		{"socket override", map[string]string{"CTDB_SOCKET": "/x/sock"}, withSocket(prod, "/x/sock")},
		{"empty socket override is ignored", map[string]string{"CTDB_SOCKET": ""}, prod},
		{"test mode", map[string]string{"CTDB_TEST_MODE": "yes", "CTDB_BASE": "/tmp/n0"}, test},
		{"test mode set empty", map[string]string{"CTDB_TEST_MODE": "", "CTDB_BASE": "/tmp/n0"}, test},
		{"test mode socket", map[string]string{"CTDB_TEST_MODE": "yes", "CTDB_BASE": "/tmp/n0", "CTDB_SOCKET": "/x/sock"}, withSocket(test, "/x/sock")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolvePaths(mapEnv(tc.env))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := ResolvePaths(mapEnv(map[string]string{"CTDB_TEST_MODE": "yes"}))
	require.ErrorIs(t, err, ErrNoBase)

	p, err := ResolvePaths(nil)
	require.NoError(t, err)
	assert.NotEmpty(t, p.Socket)
}

func TestPathsFiles(t *testing.T) {
	p, err := ResolvePaths(mapEnv(map[string]string{"CTDB_TEST_MODE": "yes", "CTDB_BASE": "/tmp/x/node.0"}))
	require.NoError(t, err)
	assert.Equal(t, "/tmp/x/node.0/ctdb.conf", p.ConfigFile())
	assert.Equal(t, "/tmp/x/node.0/nodes", p.NodesFile())
	assert.Equal(t, "/tmp/x/node.0/public_addresses", p.PublicAddressesFile())
	assert.Equal(t, "/tmp/x/node.0/ctdb.tunables", p.TunablesFile())
	assert.Equal(t, "/tmp/x/node.0/script.options", p.ScriptOptionsFile())
	assert.Equal(t, "/tmp/x/node.0/events", p.EventsDir())
	assert.Equal(t, "/tmp/x/node.0/events/legacy", p.LegacyEventsDir())
	assert.Equal(t, "/tmp/x/node.0/run/ctdbd.pid", p.PIDFile())
	assert.Equal(t, "/tmp/x/node.0/var/volatile", p.VolatileDBDir())
	assert.Equal(t, "/tmp/x/node.0/var/persistent", p.PersistentDBDir())
	assert.Equal(t, "/tmp/x/node.0/var/state", p.StateDBDir())
	assert.Equal(t, "node.0", p.LogHostname())

	prod, err := ResolvePaths(mapEnv(nil))
	require.NoError(t, err)
	assert.Equal(t, "/etc/ctdb/ctdb.conf", prod.ConfigFile())
	assert.Equal(t, "/run/ctdb/ctdbd.pid", prod.PIDFile())
	assert.Equal(t, "/var/lib/ctdb/volatile", prod.VolatileDBDir())
	assert.Empty(t, prod.LogHostname())
}
