package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"gctdb/ctdbd/internal/logging"
)

// DefaultVarDir is where databases live outside test mode, CTDB's
// compiled-in VARDIR.
const DefaultVarDir = "/var/lib/ctdb"

// Config is a loaded ctdb.conf. It is immutable: Reload returns a new
// one. Options not in the file have CTDB's defaults.
type Config struct {
	file     string
	defaults defaults
	values   [numOptions]value
	explicit [numOptions]bool // set in the file to a non-default value
	lines    [numOptions]int  // line of the last setting in the file, 0 if none
	warnings []string
}

// Load reads a ctdb.conf with the defaults of a production install
// (databases below /var/lib/ctdb, debug scripts in the file's
// directory). A missing file means all defaults, as in CTDB.
func Load(path string) (*Config, error) {
	return load(path, defaults{varDir: DefaultVarDir, etcDir: filepath.Dir(path)})
}

// LoadPaths reads p's ctdb.conf with p's defaults. In test mode the
// database directories default below $CTDB_BASE/var rather than CTDB's
// compiled-in /var/lib/ctdb, so that test daemons never touch the
// system's databases.
func LoadPaths(p Paths) (*Config, error) {
	return load(p.ConfigFile(), defaults{varDir: p.VarDir, etcDir: p.ConfigDir})
}

func load(path string, d defaults) (*Config, error) {
	data, err := readOptionalFile(path)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	return parseConfig(data, path, d)
}

// parseConfig builds a Config from the text of a ctdb.conf. All
// problems are reported, joined, each as a *ParseError.
func parseConfig(data []byte, file string, d defaults) (*Config, error) {
	defs := schema(d)
	c := &Config{file: file, defaults: d}
	for id := range numOptions {
		c.values[id] = defs[id].def
	}
	var errs []error
	fail := func(line int, section, option string, err error) {
		errs = append(errs, &ParseError{File: file, Line: line, Section: section, Option: option, Err: err})
	}
	section := ""      // current section, "" before any or in an unknown one
	inUnknown := false // in a section already reported as bad: its options are not reported again
	scanINI(data, func(l iniLine) {
		switch l.kind {
		case iniBadSection:
			fail(l.num, "", "", fmt.Errorf("%w: missing ']' in section header %q", ErrSyntax, "["+l.name))
			section, inUnknown = "", true
		case iniSection:
			section = canonicalSection(l.name)
			inUnknown = section == ""
			if inUnknown {
				fail(l.num, l.name, "", fmt.Errorf("%w, want one of [%s]", ErrUnknownSection, strings.Join(sectionNames[:], "], [")))
			}
			if !isTrailingComment(l.trailer) {
				fail(l.num, l.name, "", fmt.Errorf("%w: unexpected %q after section header", ErrSyntax, l.trailer))
			}
		case iniOption:
			switch {
			case l.name == "":
				fail(l.num, section, "", fmt.Errorf("%w: missing option name before '='", ErrSyntax))
			case inUnknown:
				// Reported once, at the section header.
			case section == "":
				fail(l.num, "", l.name, fmt.Errorf("%w: option outside any section", ErrSyntax))
			case !l.equals:
				fail(l.num, section, l.name, fmt.Errorf("%w: missing '= value'", ErrSyntax))
			default:
				if err := c.set(&defs, section, l); err != nil {
					fail(l.num, section, l.name, err)
				}
			}
		}
	})
	c.crossCheck(&defs, fail)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// set applies one "name = value" line of section.
func (c *Config) set(defs *[numOptions]optionDef, section string, l iniLine) error {
	id, ok := findOption(defs, section, l.name)
	if !ok {
		for id := range numOptions {
			if defs[id].section == section && strings.EqualFold(defs[id].name, l.name) {
				return fmt.Errorf("%w (option names are case-sensitive: %q)", ErrUnknownOption, defs[id].name)
			}
		}
		return ErrUnknownOption
	}
	def := &defs[id]
	if l.value == "" {
		return fmt.Errorf("%w: empty value", ErrInvalidValue)
	}
	v, err := def.parse(l.value)
	if err != nil {
		return err
	}
	// As CTDB, a value equal to the default is not validated and counts
	// as the default (ctdb-config dump comments it out).
	explicit := v != def.def
	if explicit && def.check != nil {
		if err := def.check(v, c.defaults); err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidValue, l.value, err)
		}
	}
	if prev := c.lines[id]; prev != 0 {
		c.warn(l.num, def, fmt.Sprintf("overrides the value set on line %d", prev))
	}
	if id == optRecoveryLock {
		c.warn(l.num, def, `is deprecated, use "cluster lock"`)
	}
	c.values[id], c.explicit[id], c.lines[id] = v, explicit, l.num
	return nil
}

// crossCheck validates combinations of options.
func (c *Config) crossCheck(defs *[numOptions]optionDef, fail func(int, string, string, error)) {
	if c.values[optPort].num == c.values[optLivenessPort].num {
		id := optLivenessPort
		if c.lines[optPort] > c.lines[optLivenessPort] {
			id = optPort
		}
		fail(c.lines[id], defs[id].section, defs[id].name,
			fmt.Errorf("%w: \"port\" and \"liveness port\" are both %d", ErrInvalidValue, c.values[id].num))
	}
	if c.explicit[optClusterLock] && c.explicit[optRecoveryLock] {
		c.warn(c.lines[optRecoveryLock], &defs[optRecoveryLock], `is ignored because "cluster lock" is set`)
	}
}

func (c *Config) warn(line int, def *optionDef, msg string) {
	c.warnings = append(c.warnings, (&ParseError{
		File: c.file, Line: line, Section: def.section, Option: def.name, Err: errors.New(msg),
	}).Error())
}

// canonicalSection returns the defined name of a section, which CTDB
// matches case-insensitively, or "" if there is none.
func canonicalSection(name string) string {
	for _, s := range sectionNames {
		if strings.EqualFold(s, name) {
			return s
		}
	}
	return ""
}

// findOption looks up an option: the section case-insensitively, the
// name exactly, as CTDB does.
func findOption(defs *[numOptions]optionDef, section, name string) (optionID, bool) {
	section = canonicalSection(section)
	for id := range numOptions {
		if defs[id].section == section && defs[id].name == name {
			return id, true
		}
	}
	return 0, false
}

// Reload reads the file again, e.g. when the daemon is asked to. If
// an option that is not reloadable has a new value, the reload fails
// with an error naming each such option (ErrNotReloadable) and the
// running configuration stays as it is.
func (c *Config) Reload() (*Config, error) {
	n, err := load(c.file, c.defaults)
	if err != nil {
		return nil, err
	}
	defs := schema(c.defaults)
	var errs []error
	for id := range numOptions {
		def := &defs[id]
		if def.reloadable || n.values[id] == c.values[id] {
			continue
		}
		errs = append(errs, &ParseError{File: c.file, Line: n.lines[id], Section: def.section, Option: def.name,
			Err: fmt.Errorf("changed from %q to %q: %w", describe(def, c.values[id]), describe(def, n.values[id]), ErrNotReloadable)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

func describe(def *optionDef, v value) string {
	if v.null {
		return "(unset)"
	}
	return v.format(def.typ)
}

// Dump writes the configuration in ctdb-config dump's format: every
// section and option in order, options at their default commented out
// with "# ". The gctdb-only options ([cluster] port and liveness port)
// are listed after CTDB's.
func (c *Config) Dump(w io.Writer) error {
	defs := schema(c.defaults)
	bw := bufio.NewWriter(w)
	section := ""
	for id := range numOptions {
		def := &defs[id]
		if def.section != section {
			section = def.section
			fmt.Fprintf(bw, "[%s]\n", section)
		}
		v := c.values[id]
		comment := "# "
		if c.explicit[id] && !v.null {
			comment = ""
		}
		fmt.Fprintf(bw, "\t%s%s = %s\n", comment, def.name, v.format(def.typ))
	}
	return bw.Flush()
}

// Get returns an option's value as "ctdb-config get SECTION OPTION"
// prints it: strings as they are (unset is empty), integers in decimal,
// booleans as true or false.
func (c *Config) Get(section, option string) (string, error) {
	defs := schema(c.defaults)
	id, ok := findOption(&defs, section, option)
	if !ok {
		return "", fmt.Errorf("configuration option [%s] -> %q: %w", section, option, ErrUnknownOption)
	}
	return c.values[id].format(defs[id].typ), nil
}

// File returns the path the configuration was read from.
func (c *Config) File() string { return c.file }

// Warnings returns what the daemon should log about the file: deprecated
// options and options set more than once (the last one wins, as in
// CTDB), each prefixed by file and line.
func (c *Config) Warnings() []string { return append([]string(nil), c.warnings...) }

// LogLocation is [logging] location.
func (c *Config) LogLocation() logging.Location {
	loc, err := logging.ParseLocation(c.values[optLogLocation].str)
	if err != nil {
		return logging.Location{Kind: logging.KindStderr}
	}
	return loc
}

// LogLevel is [logging] log level.
func (c *Config) LogLevel() logging.Level { return c.level(optLogLevel) }

// ScriptLogLevel is [legacy] script log level, at which event script
// output is logged.
func (c *Config) ScriptLogLevel() logging.Level { return c.level(optScriptLogLevel) }

func (c *Config) level(id optionID) logging.Level {
	l, err := logging.ParseLevel(c.values[id].str)
	if err != nil {
		return logging.LevelNotice
	}
	return l
}

// Transport is [cluster] transport.
func (c *Config) Transport() Transport { return Transport(c.values[optTransport].str) }

// NodeAddress is [cluster] node address; ok is false when it is not set
// and the node's address is to be found among the local interfaces.
func (c *Config) NodeAddress() (addr netip.Addr, ok bool) {
	v := c.values[optNodeAddress]
	if v.null {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v.str)
	return a, err == nil
}

// ClusterLock is the cluster lock to use: [cluster] cluster lock, or
// else the deprecated [cluster] recovery lock, or "" for none. A value
// starting with '!' is a helper command line, anything else a file.
func (c *Config) ClusterLock() string {
	if v := c.values[optClusterLock]; !v.null {
		return v.str
	}
	if v := c.values[optRecoveryLock]; !v.null {
		return v.str
	}
	return ""
}

// LeaderTimeout is [cluster] leader timeout: how long without a leader
// broadcast before an election.
func (c *Config) LeaderTimeout() time.Duration {
	return time.Duration(c.values[optLeaderTimeout].num) * time.Second
}

// LeaderCapability is [cluster] leader capability.
func (c *Config) LeaderCapability() bool { return c.values[optLeaderCapability].bool }

// Port is [cluster] port (gctdb-only), the inter-node TCP port.
func (c *Config) Port() uint16 { return uint16(c.values[optPort].num) }

// LivenessPort is [cluster] liveness port (gctdb-only), memberlist's.
func (c *Config) LivenessPort() uint16 { return uint16(c.values[optLivenessPort].num) }

// VolatileDBDir is [database] volatile database directory.
func (c *Config) VolatileDBDir() string { return c.values[optVolatileDBDir].str }

// PersistentDBDir is [database] persistent database directory.
func (c *Config) PersistentDBDir() string { return c.values[optPersistentDBDir].str }

// StateDBDir is [database] state database directory.
func (c *Config) StateDBDir() string { return c.values[optStateDBDir].str }

// LockDebugScript is the path of [database] lock debug script, resolved
// as CTDB does (its base name in the configuration directory), or "".
func (c *Config) LockDebugScript() string { return c.script(optLockDebugScript) }

// EventDebugScript is the path of [event] debug script, resolved like
// LockDebugScript, or "".
func (c *Config) EventDebugScript() string { return c.script(optEventDebugScript) }

func (c *Config) script(id optionID) string {
	v := c.values[id]
	if v.null {
		return ""
	}
	return scriptPath(v.str, c.defaults)
}

// TDBMutexes is [database] tdb mutexes.
func (c *Config) TDBMutexes() bool { return c.values[optTDBMutexes].bool }

// FailoverDisabled is [failover] disabled: no public IP failover.
func (c *Config) FailoverDisabled() bool { return c.values[optFailoverDisabled].bool }

// RealtimeScheduling is [legacy] realtime scheduling.
func (c *Config) RealtimeScheduling() bool { return c.values[optRealtimeScheduling].bool }

// LMasterCapability is [legacy] lmaster capability.
func (c *Config) LMasterCapability() bool { return c.values[optLMasterCapability].bool }

// StartAsStopped is [legacy] start as stopped.
func (c *Config) StartAsStopped() bool { return c.values[optStartAsStopped].bool }

// StartAsDisabled is [legacy] start as disabled.
func (c *Config) StartAsDisabled() bool { return c.values[optStartAsDisabled].bool }
