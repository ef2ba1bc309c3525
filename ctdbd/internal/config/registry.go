package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gctdb/ctdbd/internal/logging"
)

// valueType is the type of a ctdb.conf option.
type valueType int

const (
	typeString valueType = iota
	typeInteger
	typeBoolean
	typeEnum
)

// value is an option's value. String options without a value (CTDB's
// NULL, e.g. no cluster lock) have null set.
type value struct {
	null bool
	str  string
	num  int
	bool bool
}

// format renders v as ctdb-config prints it.
func (v value) format(t valueType) string {
	switch t {
	case typeInteger:
		return strconv.Itoa(v.num)
	case typeBoolean:
		return strconv.FormatBool(v.bool)
	default:
		return v.str
	}
}

// optionID names an option; the order is ctdb-config dump's order.
type optionID int

const (
	optLogLocation optionID = iota
	optLogLevel
	optTransport
	optNodeAddress
	optClusterLock
	optRecoveryLock
	optLeaderTimeout
	optLeaderCapability
	optPort
	optLivenessPort
	optVolatileDBDir
	optPersistentDBDir
	optStateDBDir
	optLockDebugScript
	optTDBMutexes
	optEventDebugScript
	optFailoverDisabled
	optRealtimeScheduling
	optLMasterCapability
	optStartAsStopped
	optStartAsDisabled
	optScriptLogLevel
	numOptions
)

// Section names, in dump order.
var sectionNames = [...]string{"logging", "cluster", "database", "event", "failover", "legacy"}

// Transport is the [cluster] transport.
type Transport string

const (
	// TransportTCP runs the inter-node transport inside ctdbd (CTDB's
	// only working transport, and the default).
	TransportTCP Transport = "tcp"
	// TransportD connects ctdbd to an external transportd over the
	// node's unix socket. gctdb-only.
	TransportD Transport = "transportd"
)

// Defaults of the gctdb-only ports.
const (
	DefaultPort         = 4379 // CTDB's port, for the inter-node transport
	DefaultLivenessPort = 4380 // memberlist's failure detection
)

// defaults are the environment-dependent defaults of a load.
type defaults struct {
	varDir string // database directories default below it
	etcDir string // debug scripts are looked up in it
}

// optionDef describes an option, modelled on CTDB's conf_define_*: a
// type, a default, a validation beyond the type, and whether a running
// daemon can take a new value on reload.
type optionDef struct {
	section string
	name    string
	typ     valueType
	def     value
	enum    []string
	// check validates a value set in the file (defaults are trusted, as
	// in CTDB); it returns the reason for ErrInvalidValue.
	check func(v value, d defaults) error
	// reloadable options may change on reload: the daemon applies them at
	// once, or they only matter at start-up so a new value waits for the
	// next start without harm. Changing any other option is an error.
	reloadable bool
}

// schema returns the option table for the given defaults. Entries are
// indexed by optionID.
func schema(d defaults) [numOptions]optionDef {
	str := func(s string) value { return value{str: s} }
	null := value{null: true}
	num := func(n int) value { return value{num: n} }
	boolean := func(b bool) value { return value{bool: b} }
	return [numOptions]optionDef{
		optLogLocation: {section: "logging", name: "location", typ: typeString,
			def: str("file:/var/log/ctdb/log.ctdb"), check: checkLocation},
		optLogLevel: {section: "logging", name: "log level", typ: typeString,
			def: str("NOTICE"), check: checkLevel, reloadable: true},

		optTransport: {section: "cluster", name: "transport", typ: typeEnum,
			def: str(string(TransportTCP)), enum: []string{string(TransportTCP), string(TransportD)}},
		optNodeAddress: {section: "cluster", name: "node address", typ: typeString,
			def: null, check: checkNodeAddress},
		optClusterLock: {section: "cluster", name: "cluster lock", typ: typeString, def: null},
		// Deprecated alias of cluster lock (CTDB 4.17 warns as well).
		optRecoveryLock: {section: "cluster", name: "recovery lock", typ: typeString, def: null},
		optLeaderTimeout: {section: "cluster", name: "leader timeout", typ: typeInteger,
			def: num(5), check: checkPositive, reloadable: true},
		optLeaderCapability: {section: "cluster", name: "leader capability", typ: typeBoolean,
			def: boolean(true), reloadable: true},
		// gctdb-only: the TCP port of the inter-node transport. CTDB takes
		// it from /etc/services ("ctdb") or 4379.
		optPort: {section: "cluster", name: "port", typ: typeInteger,
			def: num(DefaultPort), check: checkPort},
		// gctdb-only: the memberlist port used for failure detection.
		optLivenessPort: {section: "cluster", name: "liveness port", typ: typeInteger,
			def: num(DefaultLivenessPort), check: checkPort},

		optVolatileDBDir: {section: "database", name: "volatile database directory", typ: typeString,
			def: str(filepath.Join(d.varDir, "volatile")), check: checkDir},
		optPersistentDBDir: {section: "database", name: "persistent database directory", typ: typeString,
			def: str(filepath.Join(d.varDir, "persistent")), check: checkDir},
		optStateDBDir: {section: "database", name: "state database directory", typ: typeString,
			def: str(filepath.Join(d.varDir, "state")), check: checkDir},
		optLockDebugScript: {section: "database", name: "lock debug script", typ: typeString,
			def: null, check: checkScript, reloadable: true},
		optTDBMutexes: {section: "database", name: "tdb mutexes", typ: typeBoolean, def: boolean(true)},

		optEventDebugScript: {section: "event", name: "debug script", typ: typeString,
			def: null, check: checkScript, reloadable: true},

		optFailoverDisabled: {section: "failover", name: "disabled", typ: typeBoolean, def: boolean(false)},

		optRealtimeScheduling: {section: "legacy", name: "realtime scheduling", typ: typeBoolean,
			def: boolean(true), reloadable: true},
		optLMasterCapability: {section: "legacy", name: "lmaster capability", typ: typeBoolean,
			def: boolean(true), reloadable: true},
		optStartAsStopped: {section: "legacy", name: "start as stopped", typ: typeBoolean,
			def: boolean(false), reloadable: true},
		optStartAsDisabled: {section: "legacy", name: "start as disabled", typ: typeBoolean,
			def: boolean(false), reloadable: true},
		optScriptLogLevel: {section: "legacy", name: "script log level", typ: typeString,
			def: str("ERROR"), check: checkLevel, reloadable: true},
	}
}

// parse converts a non-empty string from the file to the option's type.
func (o *optionDef) parse(s string) (value, error) {
	switch o.typ {
	case typeInteger:
		n, err := parseCNumber(s, 1<<31-1)
		if err != nil {
			return value{}, err
		}
		return value{num: int(n)}, nil
	case typeBoolean:
		b, err := parseBool(s)
		if err != nil {
			return value{}, err
		}
		return value{bool: b}, nil
	case typeEnum:
		for _, e := range o.enum {
			if s == e {
				return value{str: s}, nil
			}
		}
		return value{}, fmt.Errorf("%w %q: want %s", ErrInvalidValue, s, strings.Join(o.enum, " or "))
	default:
		return value{str: s}, nil
	}
}

// parseBool accepts CTDB's true/yes/false/no and, as gctdb additions,
// on/off/1/0, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w %q: want true or false (yes/no, on/off, 1/0)", ErrInvalidValue, s)
}

func checkLocation(v value, _ defaults) error {
	_, err := logging.Validate(v.str)
	return err
}

func checkLevel(v value, _ defaults) error {
	_, err := logging.ParseLevel(v.str)
	return err
}

func checkNodeAddress(v value, _ defaults) error {
	a, err := netip.ParseAddr(v.str)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("not an IPv4 or IPv6 address (without zone)")
	}
	return nil
}

func checkPositive(v value, _ defaults) error {
	if v.num <= 0 {
		return fmt.Errorf("must be greater than 0")
	}
	return nil
}

func checkPort(v value, _ defaults) error {
	if v.num < 1 || v.num > 65535 {
		return fmt.Errorf("must be a port number from 1 to 65535")
	}
	return nil
}

func checkDir(v value, _ defaults) error {
	st, err := os.Stat(v.str)
	if err != nil {
		return fmt.Errorf("directory does not exist: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("not a directory")
	}
	return nil
}

// scriptPath is where CTDB looks for a debug script: the configuration
// directory joined with the base name, whatever directory is given.
func scriptPath(s string, d defaults) string {
	return filepath.Join(d.etcDir, filepath.Base(s))
}

func checkScript(v value, d defaults) error {
	p := scriptPath(v.str, d)
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return fmt.Errorf("script %s does not exist", p)
	case !st.Mode().IsRegular():
		return fmt.Errorf("script %s is not a file", p)
	case st.Mode()&0o100 == 0:
		return fmt.Errorf("script %s is not executable", p)
	}
	return nil
}
