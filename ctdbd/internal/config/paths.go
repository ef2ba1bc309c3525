package config

import (
	"os"
	"path/filepath"
)

// CTDB's compiled-in directories (Debian's CTDB 4.17 layout).
const (
	DefaultConfigDir = "/etc/ctdb"
	DefaultRunDir    = "/run/ctdb"
)

// Env looks up an environment variable, like os.LookupEnv.
type Env func(key string) (string, bool)

// Paths are the files and directories of a node, resolved from the
// environment by the rules of CTDB 4.17's path.c:
//
//   - Outside test mode everything is at the compiled-in places
//     (/etc/ctdb, /run/ctdb, /var/lib/ctdb); CTDB_BASE is not consulted
//     by the daemon (only the shell scripts read it).
//   - Test mode is on when CTDB_TEST_MODE is set, to any value, even
//     empty. Then CTDB_BASE must be set and everything lives below it:
//     the configuration in it, the run directory in $CTDB_BASE/run, the
//     variable data in $CTDB_BASE/var.
//   - CTDB_SOCKET, when set and not empty, names the daemon's socket in
//     either mode (as the 4.17 binaries do; later CTDB honours it in test
//     mode only).
//
// CTDB_VARDIR and CTDB_RUNDIR are not honoured: 4.17 ignores them.
type Paths struct {
	TestMode  bool
	ConfigDir string // CTDB's ETCDIR: ctdb.conf, nodes, public_addresses, ...
	RunDir    string // pid file and sockets
	VarDir    string // default parent of the database directories
	Socket    string // the daemon's unix socket
}

// ResolvePaths computes Paths from an environment; nil means the
// process environment.
func ResolvePaths(env Env) (Paths, error) {
	if env == nil {
		env = os.LookupEnv
	}
	p := Paths{ConfigDir: DefaultConfigDir, RunDir: DefaultRunDir, VarDir: DefaultVarDir}
	if _, test := env("CTDB_TEST_MODE"); test {
		base, ok := env("CTDB_BASE")
		if !ok {
			return Paths{}, ErrNoBase
		}
		p = Paths{
			TestMode:  true,
			ConfigDir: base,
			RunDir:    filepath.Join(base, "run"),
			VarDir:    filepath.Join(base, "var"),
		}
	}
	p.Socket = filepath.Join(p.RunDir, "ctdbd.socket")
	if s, ok := env("CTDB_SOCKET"); ok && s != "" {
		p.Socket = s
	}
	return p, nil
}

// ConfigFile is ctdb.conf.
func (p Paths) ConfigFile() string { return filepath.Join(p.ConfigDir, "ctdb.conf") }

// NodesFile is the nodes file.
func (p Paths) NodesFile() string { return filepath.Join(p.ConfigDir, "nodes") }

// PublicAddressesFile is public_addresses.
func (p Paths) PublicAddressesFile() string { return filepath.Join(p.ConfigDir, "public_addresses") }

// TunablesFile is ctdb.tunables.
func (p Paths) TunablesFile() string { return filepath.Join(p.ConfigDir, "ctdb.tunables") }

// ScriptOptionsFile is script.options, read by the event scripts.
func (p Paths) ScriptOptionsFile() string { return filepath.Join(p.ConfigDir, "script.options") }

// EventsDir holds one directory of event scripts per component.
func (p Paths) EventsDir() string { return filepath.Join(p.ConfigDir, "events") }

// LegacyEventsDir holds the NN.name.script event scripts.
func (p Paths) LegacyEventsDir() string { return filepath.Join(p.EventsDir(), "legacy") }

// PIDFile is the daemon's pid file.
func (p Paths) PIDFile() string { return filepath.Join(p.RunDir, "ctdbd.pid") }

// VolatileDBDir is the default [database] volatile database directory.
func (p Paths) VolatileDBDir() string { return filepath.Join(p.VarDir, "volatile") }

// PersistentDBDir is the default [database] persistent database directory.
func (p Paths) PersistentDBDir() string { return filepath.Join(p.VarDir, "persistent") }

// StateDBDir is the default [database] state database directory.
func (p Paths) StateDBDir() string { return filepath.Join(p.VarDir, "state") }

// LogHostname is the host name for log headers: in test mode the base
// name of CTDB_BASE ("node.0"), as CTDB 4.17 does so that the logs of
// local daemons can be told apart; otherwise "" (the system's name).
func (p Paths) LogHostname() string {
	if !p.TestMode {
		return ""
	}
	return filepath.Base(p.ConfigDir)
}
