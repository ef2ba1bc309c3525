//go:build integration

package simple

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// TestSIGHUPReloadsConfig: SIGHUP reloads the reloadable options of
// ctdb.conf (here the log level) and refuses, keeping the running
// configuration, a change that needs a restart.
func TestSIGHUPReloadsConfig(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.11", Nodes: 1})
	c.StartAll()
	conf := filepath.Join(c.Base(0), "ctdb.conf")
	orig, err := os.ReadFile(conf)
	require.NoError(t, err)
	assert.Equal(t, "INFO\n", c.Ctdb(0, "getdebug").Stdout)

	require.NoError(t, os.WriteFile(conf, []byte(strings.Replace(string(orig), "log level = INFO", "log level = DEBUG", 1)), 0o644))
	c.Signal(0, syscall.SIGHUP)
	require.Eventually(t, func() bool { return c.Ctdb(0, "getdebug").Stdout == "DEBUG\n" }, 5*time.Second, 20*time.Millisecond)

	changed := strings.Replace(string(orig), "[cluster]", "[cluster]\n\tport = 4390", 1)
	require.NoError(t, os.WriteFile(conf, []byte(changed), 0o644))
	c.Signal(0, syscall.SIGHUP)
	require.Eventually(t, func() bool { return logHas(c, 0, "configuration not reloaded") }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, "DEBUG\n", c.Ctdb(0, "getdebug").Stdout, "a refused reload changes nothing")
	assert.Equal(t, 0, c.Ctdb(0, "ping").Exit, "the daemon keeps running")
}
