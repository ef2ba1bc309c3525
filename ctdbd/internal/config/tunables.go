package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
)

// Tunables are CTDB's run-time tunable variables (ctdb-tunables(7)),
// with CTDB 4.17's names, uint32 values and defaults. It is a plain
// value: copying it takes a snapshot that can travel in a message.
type Tunables struct {
	SeqnumInterval       uint32
	ControlTimeout       uint32
	TraverseTimeout      uint32
	KeepaliveInterval    uint32
	KeepaliveLimit       uint32
	RecoverTimeout       uint32
	RecoverInterval      uint32
	ElectionTimeout      uint32
	TakeoverTimeout      uint32
	MonitorInterval      uint32
	TickleUpdateInterval uint32
	EventScriptTimeout   uint32
	MonitorTimeoutCount  uint32
	RecoveryGracePeriod  uint32
	RecoveryBanPeriod    uint32
	DatabaseHashSize     uint32
	DatabaseMaxDead      uint32
	RerecoveryTimeout    uint32
	EnableBans           uint32
	NoIPFailback         uint32
	VerboseMemoryNames   uint32
	RecdPingTimeout      uint32
	RecdFailCount        uint32
	LogLatencyMs         uint32
	RecLockLatencyMs     uint32
	RecoveryDropAllIPs   uint32
	VacuumInterval       uint32
	VacuumMaxRunTime     uint32
	RepackLimit          uint32
	VacuumFastPathCount  uint32
	MaxQueueDropMsg      uint32
	AllowUnhealthyDBRead uint32
	StatHistoryInterval  uint32
	DeferredAttachTO     uint32
	AllowClientDBAttach  uint32
	FetchCollapse        uint32
	HopcountMakeSticky   uint32
	StickyDuration       uint32
	StickyPindown        uint32
	NoIPTakeover         uint32
	DBRecordCountWarn    uint32
	DBRecordSizeWarn     uint32
	DBSizeWarn           uint32
	PullDBPreallocation  uint32
	LockProcessesPerDB   uint32
	RecBufferSizeLimit   uint32
	QueueBufferSize      uint32
	IPAllocAlgorithm     uint32
	AllowMixedVersions   uint32
}

// tunableDef is an entry of CTDB's tunable table. Obsolete tunables have
// no field: CTDB still recognises their names, to say they are obsolete.
type tunableDef struct {
	name  string
	def   uint32
	field func(*Tunables) *uint32
}

// tunableDefs is CTDB 4.17's table, in its order, which is the order of
// "ctdb listvars".
var tunableDefs = [...]tunableDef{
	{name: "MaxRedirectCount", def: 3}, // obsolete
	{name: "SeqnumInterval", def: 1000, field: func(t *Tunables) *uint32 { return &t.SeqnumInterval }},
	{name: "ControlTimeout", def: 60, field: func(t *Tunables) *uint32 { return &t.ControlTimeout }},
	{name: "TraverseTimeout", def: 20, field: func(t *Tunables) *uint32 { return &t.TraverseTimeout }},
	{name: "KeepaliveInterval", def: 5, field: func(t *Tunables) *uint32 { return &t.KeepaliveInterval }},
	{name: "KeepaliveLimit", def: 5, field: func(t *Tunables) *uint32 { return &t.KeepaliveLimit }},
	{name: "RecoverTimeout", def: 30, field: func(t *Tunables) *uint32 { return &t.RecoverTimeout }},
	{name: "RecoverInterval", def: 1, field: func(t *Tunables) *uint32 { return &t.RecoverInterval }},
	{name: "ElectionTimeout", def: 3, field: func(t *Tunables) *uint32 { return &t.ElectionTimeout }},
	{name: "TakeoverTimeout", def: 9, field: func(t *Tunables) *uint32 { return &t.TakeoverTimeout }},
	{name: "MonitorInterval", def: 15, field: func(t *Tunables) *uint32 { return &t.MonitorInterval }},
	{name: "TickleUpdateInterval", def: 20, field: func(t *Tunables) *uint32 { return &t.TickleUpdateInterval }},
	{name: "EventScriptTimeout", def: 30, field: func(t *Tunables) *uint32 { return &t.EventScriptTimeout }},
	{name: "MonitorTimeoutCount", def: 20, field: func(t *Tunables) *uint32 { return &t.MonitorTimeoutCount }},
	{name: "EventScriptUnhealthyOnTimeout", def: 0}, // obsolete
	{name: "RecoveryGracePeriod", def: 120, field: func(t *Tunables) *uint32 { return &t.RecoveryGracePeriod }},
	{name: "RecoveryBanPeriod", def: 300, field: func(t *Tunables) *uint32 { return &t.RecoveryBanPeriod }},
	{name: "DatabaseHashSize", def: 100001, field: func(t *Tunables) *uint32 { return &t.DatabaseHashSize }},
	{name: "DatabaseMaxDead", def: 5, field: func(t *Tunables) *uint32 { return &t.DatabaseMaxDead }},
	{name: "RerecoveryTimeout", def: 10, field: func(t *Tunables) *uint32 { return &t.RerecoveryTimeout }},
	{name: "EnableBans", def: 1, field: func(t *Tunables) *uint32 { return &t.EnableBans }},
	{name: "DeterministicIPs", def: 0},   // obsolete
	{name: "LCP2PublicIPs", def: 1},      // obsolete
	{name: "ReclockPingPeriod", def: 60}, // obsolete
	{name: "NoIPFailback", def: 0, field: func(t *Tunables) *uint32 { return &t.NoIPFailback }},
	{name: "DisableIPFailover", def: 0}, // obsolete
	{name: "VerboseMemoryNames", def: 0, field: func(t *Tunables) *uint32 { return &t.VerboseMemoryNames }},
	{name: "RecdPingTimeout", def: 60, field: func(t *Tunables) *uint32 { return &t.RecdPingTimeout }},
	{name: "RecdFailCount", def: 10, field: func(t *Tunables) *uint32 { return &t.RecdFailCount }},
	{name: "LogLatencyMs", def: 0, field: func(t *Tunables) *uint32 { return &t.LogLatencyMs }},
	{name: "RecLockLatencyMs", def: 1000, field: func(t *Tunables) *uint32 { return &t.RecLockLatencyMs }},
	{name: "RecoveryDropAllIPs", def: 120, field: func(t *Tunables) *uint32 { return &t.RecoveryDropAllIPs }},
	{name: "VerifyRecoveryLock", def: 1}, // obsolete
	{name: "VacuumInterval", def: 10, field: func(t *Tunables) *uint32 { return &t.VacuumInterval }},
	{name: "VacuumMaxRunTime", def: 120, field: func(t *Tunables) *uint32 { return &t.VacuumMaxRunTime }},
	{name: "RepackLimit", def: 10000, field: func(t *Tunables) *uint32 { return &t.RepackLimit }},
	{name: "VacuumLimit", def: 5000}, // obsolete
	{name: "VacuumFastPathCount", def: 60, field: func(t *Tunables) *uint32 { return &t.VacuumFastPathCount }},
	{name: "MaxQueueDropMsg", def: 1000000, field: func(t *Tunables) *uint32 { return &t.MaxQueueDropMsg }},
	{name: "AllowUnhealthyDBRead", def: 0, field: func(t *Tunables) *uint32 { return &t.AllowUnhealthyDBRead }},
	{name: "StatHistoryInterval", def: 1, field: func(t *Tunables) *uint32 { return &t.StatHistoryInterval }},
	{name: "DeferredAttachTO", def: 120, field: func(t *Tunables) *uint32 { return &t.DeferredAttachTO }},
	{name: "AllowClientDBAttach", def: 1, field: func(t *Tunables) *uint32 { return &t.AllowClientDBAttach }},
	{name: "RecoverPDBBySeqNum", def: 1},           // obsolete
	{name: "DeferredRebalanceOnNodeAdd", def: 300}, // obsolete
	{name: "FetchCollapse", def: 1, field: func(t *Tunables) *uint32 { return &t.FetchCollapse }},
	{name: "HopcountMakeSticky", def: 50, field: func(t *Tunables) *uint32 { return &t.HopcountMakeSticky }},
	{name: "StickyDuration", def: 600, field: func(t *Tunables) *uint32 { return &t.StickyDuration }},
	{name: "StickyPindown", def: 200, field: func(t *Tunables) *uint32 { return &t.StickyPindown }},
	{name: "NoIPTakeover", def: 0, field: func(t *Tunables) *uint32 { return &t.NoIPTakeover }},
	{name: "DBRecordCountWarn", def: 100000, field: func(t *Tunables) *uint32 { return &t.DBRecordCountWarn }},
	{name: "DBRecordSizeWarn", def: 10000000, field: func(t *Tunables) *uint32 { return &t.DBRecordSizeWarn }},
	{name: "DBSizeWarn", def: 100000000, field: func(t *Tunables) *uint32 { return &t.DBSizeWarn }},
	{name: "PullDBPreallocation", def: 10485760, field: func(t *Tunables) *uint32 { return &t.PullDBPreallocation }},
	{name: "NoIPHostOnAllDisabled", def: 1}, // obsolete
	{name: "Samba3AvoidDeadlocks", def: 0},  // obsolete
	{name: "TDBMutexEnabled", def: 1},       // obsolete
	{name: "LockProcessesPerDB", def: 200, field: func(t *Tunables) *uint32 { return &t.LockProcessesPerDB }},
	{name: "RecBufferSizeLimit", def: 1000000, field: func(t *Tunables) *uint32 { return &t.RecBufferSizeLimit }},
	{name: "QueueBufferSize", def: 1024, field: func(t *Tunables) *uint32 { return &t.QueueBufferSize }},
	{name: "IPAllocAlgorithm", def: 2, field: func(t *Tunables) *uint32 { return &t.IPAllocAlgorithm }},
	{name: "AllowMixedVersions", def: 0, field: func(t *Tunables) *uint32 { return &t.AllowMixedVersions }},
}

// DefaultTunables returns every tunable at its default.
func DefaultTunables() Tunables {
	var t Tunables
	for _, d := range tunableDefs {
		if d.field != nil {
			*d.field(&t) = d.def
		}
	}
	return t
}

// TunableNames returns the names of the tunables that are not obsolete,
// in listvars order.
func TunableNames() []string {
	var names []string
	for _, d := range tunableDefs {
		if d.field != nil {
			names = append(names, d.name)
		}
	}
	return names
}

// lookupTunable finds a tunable by name, case-insensitively as CTDB.
func lookupTunable(name string) (*tunableDef, error) {
	for i := range tunableDefs {
		d := &tunableDefs[i]
		if !strings.EqualFold(d.name, name) {
			continue
		}
		if d.field == nil {
			return nil, fmt.Errorf("%w %q", ErrObsoleteTunable, d.name)
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownTunable, name)
}

// CanonicalTunableName returns the table's spelling of a tunable name
// given in any case.
func CanonicalTunableName(name string) (string, error) {
	d, err := lookupTunable(name)
	if err != nil {
		return "", err
	}
	return d.name, nil
}

// Get returns a tunable by name (any case). Obsolete tunables have no
// value: they give ErrObsoleteTunable, unknown ones ErrUnknownTunable.
func (t *Tunables) Get(name string) (uint32, error) {
	d, err := lookupTunable(name)
	if err != nil {
		return 0, err
	}
	return *d.field(t), nil
}

// Set changes a tunable by name (any case). Setting an obsolete tunable
// changes nothing and returns ErrObsoleteTunable: as in CTDB, the caller
// reports it (ctdbd warns and succeeds, ctdb.tunables fails).
func (t *Tunables) Set(name string, v uint32) error {
	d, err := lookupTunable(name)
	if err != nil {
		return err
	}
	*d.field(t) = v
	return nil
}

// All yields the tunables that are not obsolete in listvars order.
func (t *Tunables) All() iter.Seq2[string, uint32] {
	return func(yield func(string, uint32) bool) {
		for _, d := range tunableDefs {
			if d.field != nil && !yield(d.name, *d.field(t)) {
				return
			}
		}
	}
}

// FormatTunable formats one tunable as "ctdb listvars" and "ctdb getvar"
// print it (getvar prints the name as the user typed it).
func FormatTunable(name string, v uint32) string {
	return fmt.Sprintf("%-26s = %d", name, v)
}

// WriteList writes the "ctdb listvars" listing.
func (t *Tunables) WriteList(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for name, v := range t.All() {
		bw.WriteString(FormatTunable(name, v))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ParseTunableValue parses a tunable value: a non-negative integer that
// fits in 32 bits, in decimal, 0x hexadecimal or 0-prefixed octal, as
// CTDB's ctdb.tunables and setvar accept. Unlike CTDB, trailing garbage
// and values beyond 32 bits are errors instead of being cut off.
func ParseTunableValue(s string) (uint32, error) {
	n, err := parseCNumber(s, 1<<32-1)
	return uint32(n), err
}

// LoadTunables applies a ctdb.tunables file to base. A missing file
// changes nothing, as in CTDB.
func LoadTunables(path string, base Tunables) (Tunables, error) {
	data, err := readOptionalFile(path)
	if err != nil {
		return base, fmt.Errorf("load tunables: %w", err)
	}
	return parseTunables(data, path, base)
}

// parseTunables applies the text of a ctdb.tunables file, "NAME=VALUE"
// lines in tini syntax (see scanINI) without sections, to base. As CTDB
// 4.17, every problem is reported, obsolete tunables included, and any
// problem fails the whole file; then base is returned unchanged.
func parseTunables(data []byte, file string, base Tunables) (Tunables, error) {
	t := base
	var errs []error
	fail := func(line int, name string, err error) {
		errs = append(errs, &ParseError{File: file, Line: line, Option: name, Err: err})
	}
	scanINI(data, func(l iniLine) {
		switch {
		case l.kind != iniOption:
			fail(l.num, "", fmt.Errorf("%w: sections are not supported in a tunables file", ErrSyntax))
		case l.name == "":
			fail(l.num, "", fmt.Errorf("%w: missing tunable name before '='", ErrSyntax))
		case !l.equals || l.value == "":
			fail(l.num, l.name, fmt.Errorf("%w: want NAME=VALUE", ErrSyntax))
		default:
			v, err := ParseTunableValue(l.value)
			if err == nil {
				err = t.Set(l.name, v)
			}
			if err != nil {
				fail(l.num, l.name, err)
			}
		}
	})
	if len(errs) > 0 {
		return base, errors.Join(errs...)
	}
	return t, nil
}
