package proto

import (
	"fmt"
	"strings"
)

// Database family: clustered databases, answered by the database service
// (ServiceDatabase). Clients talk to their own node's service; the
// services of different nodes talk to each other to migrate records,
// revoke read-only copies, commit transactions and traverse.
//
// An administrative request (attach, detach, set flags, wipe, push) from
// a client concerns the whole cluster: the receiving node applies it and
// passes it on to every connected node. The same request from another
// node's service concerns the receiving node only.
const (
	// OpDBAttach attaches a database by name (DBAttach) and answers with
	// its DBInfo. Attaching a name that exists with another type is
	// StatusConflict.
	OpDBAttach = FamilyDatabase | 0x0001
	// OpDBDetach detaches a volatile database (DBControl).
	OpDBDetach = FamilyDatabase | 0x0002
	// OpGetDBMap answers with the DBMap of the node.
	OpGetDBMap = FamilyDatabase | 0x0003
	// OpGetDBInfo answers with one database's DBInfo (DBControl).
	OpGetDBInfo = FamilyDatabase | 0x0004
	// OpDBStatistics answers with DBStatistics (DBControl).
	OpDBStatistics = FamilyDatabase | 0x0005
	// OpGetDBSeqnum answers with the database sequence number (U64).
	OpGetDBSeqnum = FamilyDatabase | 0x0006
	// OpSetDBFlags sets DBFlagReadonly or DBFlagSticky (DBControl.Flags).
	OpSetDBFlags = FamilyDatabase | 0x0007
	// OpWipeDB deletes every record of a database (DBControl).
	OpWipeDB = FamilyDatabase | 0x0008
	// OpGetVNNMap answers with the VNNMap; OpSetVNNMap installs one
	// (recovery drives it).
	OpGetVNNMap = FamilyDatabase | 0x0009
	OpSetVNNMap = FamilyDatabase | 0x000A
	// OpGetRecMode answers with the recovery mode (U32: RecModeNormal or
	// RecModeActive).
	OpGetRecMode = FamilyDatabase | 0x000B

	// OpFetchLock locks a record for the requesting client (FetchLock),
	// migrating it to this node first when needed, and answers with the
	// Record. The lock is held by the node until OpUnlock names its
	// token or the client disconnects.
	OpFetchLock = FamilyDatabase | 0x0010
	// OpUnlock (one-way, Unlock) stores or deletes the locked record and
	// releases the lock, or cancels a FetchLock still waiting.
	OpUnlock = FamilyDatabase | 0x0011
	// OpFetch reads a record without keeping a lock (Fetch): a read-only
	// copy (FetchReadonly) or the node's local copy (FetchLocalCopy).
	OpFetch = FamilyDatabase | 0x0012
	// OpUpdateRecord stores a record with its header on this node if its
	// RSN is higher than the stored one (CTDB's UPDATE_RECORD).
	OpUpdateRecord = FamilyDatabase | 0x0013

	// OpTraverseStart starts a traverse (TraverseStart) and answers with
	// its id (U64); OpTraverseNext answers with the next RecordBatch
	// (TraverseRef); OpTraverseEnd (TraverseRef) ends it early.
	OpTraverseStart = FamilyDatabase | 0x0020
	OpTraverseNext  = FamilyDatabase | 0x0021
	OpTraverseEnd   = FamilyDatabase | 0x0022

	// OpTransStart takes the cluster-wide transaction lock of a
	// persistent or replicated database for a client (TransStart);
	// OpTransCommit (TransCommit) applies the writes on every active node
	// and releases it, answering with the new sequence number (U64);
	// OpTransCancel (one-way, TransStart) releases it without writing.
	OpTransStart  = FamilyDatabase | 0x0030
	OpTransCommit = FamilyDatabase | 0x0031
	OpTransCancel = FamilyDatabase | 0x0032

	// Between database services.

	// OpMigrate (one-way, Migrate) asks a record's location master to
	// make the requester its data master, or to get it a read-only copy.
	// The location master answers with OpMigrateGrant (one-way,
	// MigrateGrant), so that the requester applies a grant and any later
	// request about the record from the location master in the order they
	// were sent, even when nobody waits for the grant any more.
	OpMigrate      = FamilyDatabase | 0x0100
	OpMigrateGrant = FamilyDatabase | 0x010C
	// OpMigrateFetch asks the data master to hand the record over
	// (Migrate); the answer is the Record.
	OpMigrateFetch = FamilyDatabase | 0x0101
	// OpRevoke tells a node to drop its read-only copy (Revoke).
	OpRevoke = FamilyDatabase | 0x0102
	// OpTraversePull answers with a node's next RecordBatch of a traverse
	// (TraversePull).
	OpTraversePull = FamilyDatabase | 0x0103
	// OpTxLock queues for a database's transaction lock on its
	// transaction master (TxLock); OpTxUnlock (one-way, TxLock) releases
	// or cancels it.
	OpTxLock   = FamilyDatabase | 0x0104
	OpTxUnlock = FamilyDatabase | 0x0105
	// OpTxPrepare stages a transaction's writes (TxPrepare); OpTxCommit
	// applies and OpTxAbort drops them (TxRef).
	OpTxPrepare = FamilyDatabase | 0x0106
	OpTxCommit  = FamilyDatabase | 0x0107
	OpTxAbort   = FamilyDatabase | 0x0108
	// OpPushRecords stores records in bulk (PushRecords): restore,
	// recovery.
	OpPushRecords = FamilyDatabase | 0x0109
	// OpDBFreeze and OpDBThaw stop and resume a database's record traffic
	// on a node for recovery (DBControl with the generation).
	OpDBFreeze = FamilyDatabase | 0x010A
	OpDBThaw   = FamilyDatabase | 0x010B

	// Recovery steps, sent by the leader's recovery service to the
	// database service of every node taking part (docs/databases.md,
	// "Recovery"). Each database is recovered on its own: frozen, pulled,
	// merged, pushed and thawed with the new vnnmap, independently of the
	// others.

	// OpRecBegin (RecBegin) puts the node in recovery mode and answers
	// with its RecNode: its own flags and its databases.
	OpRecBegin = FamilyDatabase | 0x0110
	// OpRecFreeze (RecDB) freezes one database for a recovery: record
	// traffic stops, held record locks and transactions being committed
	// finish first. The answer is RecFrozen.
	OpRecFreeze = FamilyDatabase | 0x0111
	// OpRecPull (RecPull) answers with the next RecordBatch of the node's
	// copy of a frozen database (Done marks the last), or wipes a copy
	// that may not be trusted (RecPullWipe).
	OpRecPull = FamilyDatabase | 0x0112
	// OpRecPush (RecPush) stores records of the merged database.
	OpRecPush = FamilyDatabase | 0x0113
	// OpRecThaw (RecThaw) ends the recovery of one database: the node
	// drops the copies it no longer masters and thaws the database with
	// the new vnnmap.
	OpRecThaw = FamilyDatabase | 0x0114
	// OpRecFinish (RecFinish) installs the new vnnmap as the node's and
	// ends recovery mode.
	OpRecFinish = FamilyDatabase | 0x0115
	// OpRecCheck answers with the node's RecNode without changing
	// anything: the leader compares every node's with its own every
	// RecoverInterval.
	OpRecCheck = FamilyDatabase | 0x0116

	// Vacuuming, driven by the vacuum service (docs/databases.md,
	// "Vacuuming").

	// OpVacuumScan (VacuumScan) answers with a VacuumBatch of the
	// deleted records this node is the data master of: from its delete
	// queue, or (VacuumFull) from its copy, resuming at Cursor.
	OpVacuumScan = FamilyDatabase | 0x0120
	// OpVacuumDelete (VacuumBatch) asks the records' location master to
	// delete them on every node: it takes each record's migration turn
	// (skipping busy ones), has every other node drop its copy
	// (OpVacuumTryDelete) and then drops its own. The answer is a
	// VacuumResult.
	OpVacuumDelete = FamilyDatabase | 0x0121
	// OpVacuumTryDelete (VacuumBatch) drops this node's copies of records
	// being vacuumed where that is safe; the answer is a VacuumKept.
	OpVacuumTryDelete = FamilyDatabase | 0x0122
	// OpVacuumCompact (DBControl; Flags VacuumForce) compacts the node's
	// files of a database when enough of them is free space, and answers
	// with a VacuumCompacted.
	OpVacuumCompact = FamilyDatabase | 0x0123
)

var databaseOpcodeNames = map[Opcode]string{
	OpDBAttach:      "db_attach",
	OpDBDetach:      "db_detach",
	OpGetDBMap:      "get_dbmap",
	OpGetDBInfo:     "get_dbinfo",
	OpDBStatistics:  "db_statistics",
	OpGetDBSeqnum:   "get_db_seqnum",
	OpSetDBFlags:    "set_db_flags",
	OpWipeDB:        "wipe_db",
	OpGetVNNMap:     "getvnnmap",
	OpSetVNNMap:     "setvnnmap",
	OpGetRecMode:    "get_recmode",
	OpFetchLock:     "fetch_lock",
	OpUnlock:        "unlock",
	OpFetch:         "fetch",
	OpUpdateRecord:  "update_record",
	OpTraverseStart: "traverse_start",
	OpTraverseNext:  "traverse_next",
	OpTraverseEnd:   "traverse_end",
	OpTransStart:    "trans_start",
	OpTransCommit:   "trans_commit",
	OpTransCancel:   "trans_cancel",
	OpMigrate:       "migrate",
	OpMigrateGrant:  "migrate_grant",
	OpMigrateFetch:  "migrate_fetch",
	OpRevoke:        "revoke",
	OpTraversePull:  "traverse_pull",
	OpTxLock:        "tx_lock",
	OpTxUnlock:      "tx_unlock",
	OpTxPrepare:     "tx_prepare",
	OpTxCommit:      "tx_commit",
	OpTxAbort:       "tx_abort",
	OpPushRecords:   "push_records",
	OpDBFreeze:      "db_freeze",
	OpDBThaw:        "db_thaw",

	OpRecBegin:  "rec_begin",
	OpRecFreeze: "rec_freeze",
	OpRecPull:   "rec_pull",
	OpRecPush:   "rec_push",
	OpRecThaw:   "rec_thaw",
	OpRecFinish: "rec_finish",
	OpRecCheck:  "rec_check",

	OpVacuumScan:      "vacuum_scan",
	OpVacuumDelete:    "vacuum_delete",
	OpVacuumTryDelete: "vacuum_try_delete",
	OpVacuumCompact:   "vacuum_compact",
}

// Database flags, with CTDB's values (CTDB_DB_FLAGS_*), except
// DBFlagPerRecordPersistent, which is gctdb's.
const (
	DBFlagPersistent uint32 = 0x01
	DBFlagReadonly   uint32 = 0x02
	DBFlagSticky     uint32 = 0x04
	DBFlagReplicated uint32 = 0x08
	// DBFlagPerRecordPersistent: a volatile database whose records
	// stored as durable are fsynced and replicated to every active node
	// before the store returns.
	DBFlagPerRecordPersistent uint32 = 0x10

	// DBTypeFlags are the flags that make a database's type; a name is
	// attached with one type only.
	DBTypeFlags = DBFlagPersistent | DBFlagReplicated | DBFlagPerRecordPersistent
)

// DBTypeName names a database type as `ctdb attach` spells it.
func DBTypeName(flags uint32) string {
	switch flags & DBTypeFlags {
	case DBFlagPersistent:
		return "persistent"
	case DBFlagReplicated:
		return "replicated"
	case DBFlagPerRecordPersistent:
		return "per-record-persistent"
	}
	return "volatile"
}

// Record flags, with CTDB's values (CTDB_REC_*), except RecFlagDeleted
// and RecFlagDurable, which are gctdb's. The tdb package uses the same
// bits in its record headers.
const (
	RecFlagMigratedWithData   uint32 = 0x00010000
	RecFlagVacuumMigrated     uint32 = 0x00020000
	RecFlagAutomatic          uint32 = 0x00040000
	RecFlagDeleted            uint32 = 0x00080000 // a tombstone: the record was deleted
	RecFlagDurable            uint32 = 0x00100000 // stored durably (per-record-persistent)
	RecFlagROHaveDelegations  uint32 = 0x01000000
	RecFlagROHaveReadonly     uint32 = 0x02000000
	RecFlagRORevokingReadonly uint32 = 0x04000000
	RecFlagRORevokeComplete   uint32 = 0x08000000

	RecFlagsRO = RecFlagROHaveDelegations | RecFlagROHaveReadonly | RecFlagRORevokingReadonly | RecFlagRORevokeComplete
)

var recFlagNames = []struct {
	flag uint32
	name string
}{
	{RecFlagMigratedWithData, "MIGRATED_WITH_DATA"},
	{RecFlagVacuumMigrated, "VACUUM_MIGRATED"},
	{RecFlagAutomatic, "AUTOMATIC"},
	{RecFlagDeleted, "DELETED"},
	{RecFlagDurable, "DURABLE"},
	{RecFlagROHaveDelegations, "RO_HAVE_DELEGATIONS"},
	{RecFlagROHaveReadonly, "RO_HAVE_READONLY"},
	{RecFlagRORevokingReadonly, "RO_REVOKING_READONLY"},
	{RecFlagRORevokeComplete, "RO_REVOKE_COMPLETE"},
}

// RecFlagsString formats record flags as `ctdb catdb` does: the hex value
// followed by the names of the known flags.
func RecFlagsString(flags uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "0x%08x", flags)
	for _, f := range recFlagNames {
		if flags&f.flag != 0 {
			b.WriteByte(' ')
			b.WriteString(f.name)
		}
	}
	return b.String()
}

// Recovery modes, with CTDB's values.
const (
	RecModeNormal uint32 = 0
	RecModeActive uint32 = 1
)

// SeqnumKey is the key of the record holding a persistent database's
// sequence number (8 bytes, little-endian), with its NUL as in CTDB.
const SeqnumKey = "__db_sequence_number__\x00"

// Limits of database messages.
const (
	// MaxKey bounds a record key (the store's limit is lower).
	MaxKey = 64 << 10
	// MaxDBName bounds a database name.
	MaxDBName = MaxName
)

// DBAttach asks for a database by name and type (DBFlag* type bits).
type DBAttach struct {
	Name  string
	Flags uint32
}

// AppendTo encodes a.
func (a *DBAttach) AppendTo(b []byte) []byte {
	b = AppendString(b, a.Name)
	return AppendU32(b, a.Flags)
}

// DecodeFrom decodes a.
func (a *DBAttach) DecodeFrom(d *Decoder) {
	a.Name = d.String(MaxDBName)
	a.Flags = d.U32()
}

// DBControl names a database for an administrative request; Flags is the
// request's argument (flags to set), Generation fences recovery steps.
type DBControl struct {
	DBID       uint32
	Flags      uint32
	Generation uint32
}

// AppendTo encodes c.
func (c *DBControl) AppendTo(b []byte) []byte {
	b = AppendU32(b, c.DBID)
	b = AppendU32(b, c.Flags)
	return AppendU32(b, c.Generation)
}

// DecodeFrom decodes c.
func (c *DBControl) DecodeFrom(d *Decoder) {
	c.DBID = d.U32()
	c.Flags = d.U32()
	c.Generation = d.U32()
}

// DBInfo describes one attached database.
type DBInfo struct {
	DBID  uint32
	Name  string
	Path  string
	Flags uint32
	// Health is "" when healthy, otherwise why not (CTDB's unhealthy
	// reason).
	Health string
}

// AppendTo encodes i.
func (i *DBInfo) AppendTo(b []byte) []byte {
	b = AppendU32(b, i.DBID)
	b = AppendString(b, i.Name)
	b = AppendString(b, i.Path)
	b = AppendU32(b, i.Flags)
	return AppendString(b, i.Health)
}

// DecodeFrom decodes i.
func (i *DBInfo) DecodeFrom(d *Decoder) {
	i.DBID = d.U32()
	i.Name = d.String(MaxDBName)
	i.Path = d.String(MaxErrorMessage)
	i.Flags = d.U32()
	i.Health = d.String(MaxErrorMessage)
}

// DBMap lists a node's databases, newest first as CTDB lists them.
type DBMap struct {
	DBs []DBInfo
}

// AppendTo encodes m.
func (m *DBMap) AppendTo(b []byte) []byte {
	b = AppendU32(b, uint32(len(m.DBs)))
	for i := range m.DBs {
		b = m.DBs[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes m.
func (m *DBMap) DecodeFrom(d *Decoder) {
	n := d.Count(20)
	m.DBs = make([]DBInfo, n)
	for i := range m.DBs {
		m.DBs[i].DecodeFrom(d)
	}
}

// HotKey is a frequently migrated key.
type HotKey struct {
	Count uint32
	Key   []byte
}

// DBStatistics are one database's statistics on one node, CTDB's
// dbstatistics plus gctdb's migration and storage figures.
type DBStatistics struct {
	RODelegations uint32
	RORevokes     uint32
	LockCalls     uint64
	LockCurrent   uint32
	LockPending   uint32
	LockFailed    uint64
	// HopCounts counts migrations by the number of network hops they took
	// (CTDB's hop_count_buckets); LockBuckets counts lock waits by CTDB's
	// latency bounds.
	HopCounts   [16]uint32
	LockBuckets [16]uint32
	LockLatency Latency
	// VacuumLatency is filled by vacuuming.
	VacuumLatency Latency
	HotKeys       []HotKey
	MigrationsIn  uint64
	MigrationsOut uint64
	Records       uint64
	FileSize      uint64
	LiveBytes     uint64
	// Vacuum counts this node's vacuuming of the database.
	Vacuum VacuumCounters
}

// VacuumCounters are a database's vacuuming statistics on one node.
type VacuumCounters struct {
	// FastRuns and FullRuns count the scans of the delete queue and of
	// the whole database.
	FastRuns, FullRuns uint64
	// Candidates counts deleted records handed to their lmaster.
	Candidates uint64
	// Deleted counts records this node deleted cluster-wide as their
	// lmaster; Skipped those it left for later because they were locked,
	// migrating or changed meanwhile; Failed those another node refused.
	Deleted, Skipped, Failed uint64
	// Compactions counts compactions of the database's files; BytesFreed
	// is what they gave back to the file system.
	Compactions, BytesFreed uint64
	// Tombstones is the number of deleted records on this node now,
	// DurableTombstones those of the durable store.
	Tombstones, DurableTombstones uint64
	// LastRun is when the last scan ended.
	LastRun Timestamp
}

func (v *VacuumCounters) appendTo(b []byte) []byte {
	for _, x := range []uint64{v.FastRuns, v.FullRuns, v.Candidates, v.Deleted, v.Skipped, v.Failed,
		v.Compactions, v.BytesFreed, v.Tombstones, v.DurableTombstones} {
		b = AppendU64(b, x)
	}
	return AppendI64(b, int64(v.LastRun))
}

func (v *VacuumCounters) decodeFrom(d *Decoder) {
	for _, x := range []*uint64{&v.FastRuns, &v.FullRuns, &v.Candidates, &v.Deleted, &v.Skipped, &v.Failed,
		&v.Compactions, &v.BytesFreed, &v.Tombstones, &v.DurableTombstones} {
		*x = d.U64()
	}
	v.LastRun = Timestamp(d.I64())
}

// AppendTo encodes s.
func (s *DBStatistics) AppendTo(b []byte) []byte {
	b = AppendU32(b, s.RODelegations)
	b = AppendU32(b, s.RORevokes)
	b = AppendU64(b, s.LockCalls)
	b = AppendU32(b, s.LockCurrent)
	b = AppendU32(b, s.LockPending)
	b = AppendU64(b, s.LockFailed)
	for _, v := range s.HopCounts {
		b = AppendU32(b, v)
	}
	for _, v := range s.LockBuckets {
		b = AppendU32(b, v)
	}
	b = appendLatency(b, &s.LockLatency)
	b = appendLatency(b, &s.VacuumLatency)
	b = AppendU32(b, uint32(len(s.HotKeys)))
	for _, k := range s.HotKeys {
		b = AppendU32(b, k.Count)
		b = AppendBytes(b, k.Key)
	}
	b = AppendU64(b, s.MigrationsIn)
	b = AppendU64(b, s.MigrationsOut)
	b = AppendU64(b, s.Records)
	b = AppendU64(b, s.FileSize)
	b = AppendU64(b, s.LiveBytes)
	return s.Vacuum.appendTo(b)
}

// DecodeFrom decodes s.
func (s *DBStatistics) DecodeFrom(d *Decoder) {
	s.RODelegations = d.U32()
	s.RORevokes = d.U32()
	s.LockCalls = d.U64()
	s.LockCurrent = d.U32()
	s.LockPending = d.U32()
	s.LockFailed = d.U64()
	for i := range s.HopCounts {
		s.HopCounts[i] = d.U32()
	}
	for i := range s.LockBuckets {
		s.LockBuckets[i] = d.U32()
	}
	decodeLatency(d, &s.LockLatency)
	decodeLatency(d, &s.VacuumLatency)
	n := d.Count(8)
	s.HotKeys = make([]HotKey, n)
	for i := range s.HotKeys {
		s.HotKeys[i].Count = d.U32()
		s.HotKeys[i].Key = d.Bytes(MaxKey)
	}
	s.MigrationsIn = d.U64()
	s.MigrationsOut = d.U64()
	s.Records = d.U64()
	s.FileSize = d.U64()
	s.LiveBytes = d.U64()
	s.Vacuum.decodeFrom(d)
}

func appendLatency(b []byte, l *Latency) []byte {
	b = AppendString(b, l.Name)
	b = AppendU32(b, l.Count)
	b = AppendF64(b, l.Min)
	b = AppendF64(b, l.Max)
	return AppendF64(b, l.Total)
}

func decodeLatency(d *Decoder, l *Latency) {
	l.Name = d.String(MaxName)
	l.Count = d.U32()
	l.Min = d.F64()
	l.Max = d.F64()
	l.Total = d.F64()
}

// VNNMap is the location map: record keys hash onto Map, whose entries
// are the nodes acting as location masters. Generation changes with every
// new map; requests carrying another generation are refused.
type VNNMap struct {
	Generation uint32
	Map        []uint32
}

// AppendTo encodes v.
func (v *VNNMap) AppendTo(b []byte) []byte {
	b = AppendU32(b, v.Generation)
	b = AppendU32(b, uint32(len(v.Map)))
	for _, p := range v.Map {
		b = AppendU32(b, p)
	}
	return b
}

// DecodeFrom decodes v.
func (v *VNNMap) DecodeFrom(d *Decoder) {
	v.Generation = d.U32()
	n := d.Count(4)
	v.Map = make([]uint32, n)
	for i := range v.Map {
		v.Map[i] = d.U32()
	}
}

// LMaster returns the location master of key, PNNUnknown for an empty map.
func (v *VNNMap) LMaster(key []byte) uint32 {
	if len(v.Map) == 0 {
		return PNNUnknown
	}
	return v.Map[Hash(key)%uint32(len(v.Map))]
}

// RecordHeader is CTDB's ltdb header: the record sequence number, the
// data master and the record flags.
type RecordHeader struct {
	RSN     uint64
	DMaster uint32
	Flags   uint32
}

// Record is one record with its header.
type Record struct {
	Key    []byte
	Header RecordHeader
	Data   []byte
}

// Exists reports whether the record holds data (it is not missing or a
// tombstone).
func (r *Record) Exists() bool { return r.Header.Flags&RecFlagDeleted == 0 }

// recordMinSize is the encoded size of a record with empty key and data.
const recordMinSize = 4 + 8 + 4 + 4 + 4

// AppendTo encodes r.
func (r *Record) AppendTo(b []byte) []byte {
	b = AppendBytes(b, r.Key)
	b = AppendU64(b, r.Header.RSN)
	b = AppendU32(b, r.Header.DMaster)
	b = AppendU32(b, r.Header.Flags)
	return AppendBytes(b, r.Data)
}

// DecodeFrom decodes r.
func (r *Record) DecodeFrom(d *Decoder) {
	r.Key = d.Bytes(MaxKey)
	r.Header.RSN = d.U64()
	r.Header.DMaster = d.U32()
	r.Header.Flags = d.U32()
	r.Data = d.Bytes(MaxBlob)
}

// RecordBatch is a chunk of records: a traverse step, a push. Done marks
// the last chunk.
type RecordBatch struct {
	DBID    uint32
	Done    bool
	Records []Record
}

// AppendTo encodes rb.
func (rb *RecordBatch) AppendTo(b []byte) []byte {
	b = AppendU32(b, rb.DBID)
	b = AppendBool(b, rb.Done)
	b = AppendU32(b, uint32(len(rb.Records)))
	for i := range rb.Records {
		b = rb.Records[i].AppendTo(b)
	}
	return b
}

// DecodeFrom decodes rb.
func (rb *RecordBatch) DecodeFrom(d *Decoder) {
	rb.DBID = d.U32()
	rb.Done = d.Bool()
	n := d.Count(recordMinSize)
	rb.Records = make([]Record, n)
	for i := range rb.Records {
		rb.Records[i].DecodeFrom(d)
	}
}

// FetchLock flags.
const (
	// LockNoMigrate locks the node's local copy without migrating it
	// (ctdb-db-test local-lock).
	LockNoMigrate uint32 = 0x1
)

// FetchLock asks for a record lock. Token names the lock in the client's
// later OpUnlock; Timeout (milliseconds, 0: none) bounds the wait.
type FetchLock struct {
	DBID    uint32
	Token   uint64
	Flags   uint32
	Timeout uint32
	Key     []byte
}

// AppendTo encodes f.
func (f *FetchLock) AppendTo(b []byte) []byte {
	b = AppendU32(b, f.DBID)
	b = AppendU64(b, f.Token)
	b = AppendU32(b, f.Flags)
	b = AppendU32(b, f.Timeout)
	return AppendBytes(b, f.Key)
}

// DecodeFrom decodes f.
func (f *FetchLock) DecodeFrom(d *Decoder) {
	f.DBID = d.U32()
	f.Token = d.U64()
	f.Flags = d.U32()
	f.Timeout = d.U32()
	f.Key = d.Bytes(MaxKey)
}

// Unlock operations.
const (
	UnlockOnly   uint8 = 0 // release (or cancel) without writing
	UnlockStore  uint8 = 1 // store Data, then release
	UnlockDelete uint8 = 2 // delete the record, then release
)

// Unlock ends a fetch-lock.
type Unlock struct {
	DBID  uint32
	Token uint64
	Op    uint8
	// Flags are record flags the store sets (RecFlagDurable).
	Flags uint32
	Data  []byte
}

// AppendTo encodes u.
func (u *Unlock) AppendTo(b []byte) []byte {
	b = AppendU32(b, u.DBID)
	b = AppendU64(b, u.Token)
	b = AppendU8(b, u.Op)
	b = AppendU32(b, u.Flags)
	return AppendBytes(b, u.Data)
}

// DecodeFrom decodes u.
func (u *Unlock) DecodeFrom(d *Decoder) {
	u.DBID = d.U32()
	u.Token = d.U64()
	u.Op = d.U8()
	u.Flags = d.U32()
	u.Data = d.Bytes(MaxBlob)
	if d.Err() == nil && u.Op > UnlockDelete {
		d.Fail(fmt.Errorf("%w: unlock op %d", ErrMalformed, u.Op))
	}
}

// Fetch flags.
const (
	// FetchReadonly reads through a read-only delegation when the
	// database allows them, otherwise like a fetch-lock released at once.
	FetchReadonly uint32 = 0x1
	// FetchLocalCopy returns the node's local copy as stored, whatever
	// its header says; the answer's status is FetchNoCopy when there is
	// none.
	FetchLocalCopy uint32 = 0x2
)

// FetchNoCopy is the result status of an OpFetch with FetchLocalCopy when
// the node has no copy of the record.
const FetchNoCopy Status = 1

// MigrateStaleCopy is the result status of an OpMigrateFetch from a node
// that is not the record's data master; the body is its copy, if any.
const MigrateStaleCopy Status = 1

// Fetch reads one record without keeping a lock.
type Fetch struct {
	DBID    uint32
	Flags   uint32
	Timeout uint32
	Key     []byte
}

// AppendTo encodes f.
func (f *Fetch) AppendTo(b []byte) []byte {
	b = AppendU32(b, f.DBID)
	b = AppendU32(b, f.Flags)
	b = AppendU32(b, f.Timeout)
	return AppendBytes(b, f.Key)
}

// DecodeFrom decodes f.
func (f *Fetch) DecodeFrom(d *Decoder) {
	f.DBID = d.U32()
	f.Flags = d.U32()
	f.Timeout = d.U32()
	f.Key = d.Bytes(MaxKey)
}

// UpdateRecord stores Record on the receiving node if its RSN is higher
// than that of the stored copy.
type UpdateRecord struct {
	DBID   uint32
	Record Record
}

// AppendTo encodes u.
func (u *UpdateRecord) AppendTo(b []byte) []byte {
	b = AppendU32(b, u.DBID)
	return u.Record.AppendTo(b)
}

// DecodeFrom decodes u.
func (u *UpdateRecord) DecodeFrom(d *Decoder) {
	u.DBID = d.U32()
	u.Record.DecodeFrom(d)
}

// Migrate flags.
const (
	// MigrateReadonly asks for a read-only copy instead of the record.
	MigrateReadonly uint32 = 0x1
)

// Migrate asks to move a record to Requester (OpMigrate to the location
// master, OpMigrateFetch from the location master to the data master).
// ID is the requester's name for the migration, echoed in the grant.
type Migrate struct {
	DBID       uint32
	Generation uint32
	Requester  uint32
	Flags      uint32
	ID         uint64
	Key        []byte
}

// AppendTo encodes m.
func (m *Migrate) AppendTo(b []byte) []byte {
	b = AppendU32(b, m.DBID)
	b = AppendU32(b, m.Generation)
	b = AppendU32(b, m.Requester)
	b = AppendU32(b, m.Flags)
	b = AppendU64(b, m.ID)
	return AppendBytes(b, m.Key)
}

// DecodeFrom decodes m.
func (m *Migrate) DecodeFrom(d *Decoder) {
	m.DBID = d.U32()
	m.Generation = d.U32()
	m.Requester = d.U32()
	m.Flags = d.U32()
	m.ID = d.U64()
	m.Key = d.Bytes(MaxKey)
}

// MigrateGrant answers a Migrate: the record (with the requester as data
// master, or a read-only copy when Flags has MigrateReadonly), or a
// failure Status and its message.
type MigrateGrant struct {
	DBID   uint32
	ID     uint64
	Flags  uint32
	Status Status
	Msg    string
	Record Record
}

// AppendTo encodes g.
func (g *MigrateGrant) AppendTo(b []byte) []byte {
	b = AppendU32(b, g.DBID)
	b = AppendU64(b, g.ID)
	b = AppendU32(b, g.Flags)
	b = AppendI32(b, int32(g.Status))
	b = AppendString(b, g.Msg)
	return g.Record.AppendTo(b)
}

// DecodeFrom decodes g.
func (g *MigrateGrant) DecodeFrom(d *Decoder) {
	g.DBID = d.U32()
	g.ID = d.U64()
	g.Flags = d.U32()
	g.Status = Status(d.I32())
	g.Msg = d.String(MaxErrorMessage)
	g.Record.DecodeFrom(d)
}

// Revoke asks a node to drop its read-only copy of a record.
type Revoke struct {
	DBID       uint32
	Generation uint32
	Key        []byte
}

// AppendTo encodes r.
func (r *Revoke) AppendTo(b []byte) []byte {
	b = AppendU32(b, r.DBID)
	b = AppendU32(b, r.Generation)
	return AppendBytes(b, r.Key)
}

// DecodeFrom decodes r.
func (r *Revoke) DecodeFrom(d *Decoder) {
	r.DBID = d.U32()
	r.Generation = d.U32()
	r.Key = d.Bytes(MaxKey)
}

// Traverse flags.
const (
	// TraverseLocal lists the receiving node's local copies only, every
	// one of them, whatever their data master (ctdb cattdb).
	TraverseLocal uint32 = 0x1
	// TraverseWithDeleted includes tombstones.
	TraverseWithDeleted uint32 = 0x2
	// TraverseOpen (in TraversePull) opens the node's part without
	// reading: from then on the node keeps every record that leaves it
	// for the traverse, so a record moving between nodes is not missed.
	TraverseOpen uint32 = 0x4
)

// TraverseStart starts a traverse.
type TraverseStart struct {
	DBID  uint32
	Flags uint32
}

// AppendTo encodes t.
func (t *TraverseStart) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	return AppendU32(b, t.Flags)
}

// DecodeFrom decodes t.
func (t *TraverseStart) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Flags = d.U32()
}

// TraverseRef names a running traverse on its coordinating node.
type TraverseRef struct {
	ID uint64
}

// AppendTo encodes t.
func (t *TraverseRef) AppendTo(b []byte) []byte { return AppendU64(b, t.ID) }

// DecodeFrom decodes t.
func (t *TraverseRef) DecodeFrom(d *Decoder) { t.ID = d.U64() }

// TraversePull asks a node for its next batch of traverse ID of the
// sending node; the first pull starts the node's part. OpTraverseEnd
// from the same node (TraverseRef) ends it.
type TraversePull struct {
	ID    uint64
	DBID  uint32
	Flags uint32
}

// AppendTo encodes t.
func (t *TraversePull) AppendTo(b []byte) []byte {
	b = AppendU64(b, t.ID)
	b = AppendU32(b, t.DBID)
	return AppendU32(b, t.Flags)
}

// DecodeFrom decodes t.
func (t *TraversePull) DecodeFrom(d *Decoder) {
	t.ID = d.U64()
	t.DBID = d.U32()
	t.Flags = d.U32()
}

// TransStart starts a client's transaction (and names it in
// OpTransCancel); Timeout (milliseconds, 0: none) bounds the wait for the
// lock.
type TransStart struct {
	DBID    uint32
	Token   uint64
	Timeout uint32
}

// AppendTo encodes t.
func (t *TransStart) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	b = AppendU64(b, t.Token)
	return AppendU32(b, t.Timeout)
}

// DecodeFrom decodes t.
func (t *TransStart) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Token = d.U64()
	t.Timeout = d.U32()
}

// TransCommit carries a transaction's writes; a record flagged
// RecFlagDeleted is a delete.
type TransCommit struct {
	DBID   uint32
	Token  uint64
	Writes []Record
}

// AppendTo encodes t.
func (t *TransCommit) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	b = AppendU64(b, t.Token)
	return appendRecords(b, t.Writes)
}

// DecodeFrom decodes t.
func (t *TransCommit) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Token = d.U64()
	t.Writes = decodeRecords(d)
}

func appendRecords(b []byte, recs []Record) []byte {
	b = AppendU32(b, uint32(len(recs)))
	for i := range recs {
		b = recs[i].AppendTo(b)
	}
	return b
}

func decodeRecords(d *Decoder) []Record {
	n := d.Count(recordMinSize)
	recs := make([]Record, n)
	for i := range recs {
		recs[i].DecodeFrom(d)
	}
	return recs
}

// TxLock queues node Node's transaction Token for a database's
// transaction lock, or releases it (OpTxUnlock).
type TxLock struct {
	DBID       uint32
	Generation uint32
	Node       uint32
	Token      uint64
}

// AppendTo encodes t.
func (t *TxLock) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	b = AppendU32(b, t.Generation)
	b = AppendU32(b, t.Node)
	return AppendU64(b, t.Token)
}

// DecodeFrom decodes t.
func (t *TxLock) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Generation = d.U32()
	t.Node = d.U32()
	t.Token = d.U64()
}

// TxPrepare stages a transaction that takes the database from sequence
// number Seqnum-1 to Seqnum.
type TxPrepare struct {
	DBID       uint32
	Generation uint32
	TxID       uint64
	Seqnum     uint64
	Writes     []Record
}

// AppendTo encodes t.
func (t *TxPrepare) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	b = AppendU32(b, t.Generation)
	b = AppendU64(b, t.TxID)
	b = AppendU64(b, t.Seqnum)
	return appendRecords(b, t.Writes)
}

// DecodeFrom decodes t.
func (t *TxPrepare) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Generation = d.U32()
	t.TxID = d.U64()
	t.Seqnum = d.U64()
	t.Writes = decodeRecords(d)
}

// TxRef names a prepared transaction.
type TxRef struct {
	DBID uint32
	TxID uint64
}

// AppendTo encodes t.
func (t *TxRef) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	return AppendU64(b, t.TxID)
}

// DecodeFrom decodes t.
func (t *TxRef) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.TxID = d.U64()
}

// PushRecords flags.
const (
	// PushWipe empties the database before storing the records; from a
	// client it starts a restore, which freezes the database on every
	// node until the batch flagged PushLast.
	PushWipe uint32 = 0x1
	// PushLast ends a client's restore.
	PushLast uint32 = 0x2
	// PushDurable stores the records in a per-record-persistent
	// database's durable store.
	PushDurable uint32 = 0x4
)

// PushRecords stores records as they are, headers included.
type PushRecords struct {
	DBID       uint32
	Generation uint32
	Flags      uint32
	Records    []Record
}

// AppendTo encodes p.
func (p *PushRecords) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.DBID)
	b = AppendU32(b, p.Generation)
	b = AppendU32(b, p.Flags)
	return appendRecords(b, p.Records)
}

// DecodeFrom decodes p.
func (p *PushRecords) DecodeFrom(d *Decoder) {
	p.DBID = d.U32()
	p.Generation = d.U32()
	p.Flags = d.U32()
	p.Records = decodeRecords(d)
}

// U64 is a payload of one u64.
type U64 struct{ V uint64 }

// AppendTo encodes u.
func (u *U64) AppendTo(b []byte) []byte { return AppendU64(b, u.V) }

// DecodeFrom decodes u.
func (u *U64) DecodeFrom(d *Decoder) { u.V = d.U64() }

// RecBegin starts recovery Number of a new generation on a node.
type RecBegin struct {
	Number     uint64
	Generation uint32
	Leader     uint32
	Term       uint64
}

// AppendTo encodes r.
func (r *RecBegin) AppendTo(b []byte) []byte {
	b = AppendU64(b, r.Number)
	b = AppendU32(b, r.Generation)
	b = AppendU32(b, r.Leader)
	return AppendU64(b, r.Term)
}

// DecodeFrom decodes r.
func (r *RecBegin) DecodeFrom(d *Decoder) {
	r.Number = d.U64()
	r.Generation = d.U32()
	r.Leader = d.U32()
	r.Term = d.U64()
}

// RecNode answers OpRecBegin and OpRecCheck: the node's own flags as it
// sees them, its generation and recovery mode, its databases, and how
// many of them are placed by a vnnmap other than the node's (a database
// attached during a recovery, or one whose recovery did not finish).
type RecNode struct {
	PNN        uint32
	Flags      uint32
	Generation uint32
	RecMode    uint32
	StaleDBs   uint32
	DBs        []DBInfo
}

// AppendTo encodes n.
func (n *RecNode) AppendTo(b []byte) []byte {
	b = AppendU32(b, n.PNN)
	b = AppendU32(b, n.Flags)
	b = AppendU32(b, n.Generation)
	b = AppendU32(b, n.RecMode)
	b = AppendU32(b, n.StaleDBs)
	m := DBMap{DBs: n.DBs}
	return m.AppendTo(b)
}

// DecodeFrom decodes n.
func (n *RecNode) DecodeFrom(d *Decoder) {
	n.PNN = d.U32()
	n.Flags = d.U32()
	n.Generation = d.U32()
	n.RecMode = d.U32()
	n.StaleDBs = d.U32()
	var m DBMap
	m.DecodeFrom(d)
	n.DBs = m.DBs
}

// RecDB names a database in a recovery step.
type RecDB struct {
	DBID       uint32
	Number     uint64
	Generation uint32
}

// AppendTo encodes r.
func (r *RecDB) AppendTo(b []byte) []byte {
	b = AppendU32(b, r.DBID)
	b = AppendU64(b, r.Number)
	return AppendU32(b, r.Generation)
}

// DecodeFrom decodes r.
func (r *RecDB) DecodeFrom(d *Decoder) {
	r.DBID = d.U32()
	r.Number = d.U64()
	r.Generation = d.U32()
}

// RecFrozen answers OpRecFreeze with what the leader needs to know about
// the node's copy of a database.
type RecFrozen struct {
	// Epoch is the number of the last recovery that thawed the database
	// on this node; Pushed the last one that pushed its merged records
	// here. A copy whose Epoch and Pushed are both older than the newest
	// Epoch of the nodes taking part missed a recovery (the node was
	// inactive or cut off) and is not trusted: it could bring back
	// records deleted meanwhile.
	Epoch, Pushed uint64
	// Invalid is set when the node has been inactive (stopped, banned)
	// since the copy was last pushed: it is not trusted either.
	Invalid bool
	// Seqnum is a persistent or replicated database's sequence number.
	Seqnum uint64
	// Records is the number of records of the copy.
	Records uint64
}

// AppendTo encodes f.
func (f *RecFrozen) AppendTo(b []byte) []byte {
	b = AppendU64(b, f.Epoch)
	b = AppendU64(b, f.Pushed)
	b = AppendBool(b, f.Invalid)
	b = AppendU64(b, f.Seqnum)
	return AppendU64(b, f.Records)
}

// DecodeFrom decodes f.
func (f *RecFrozen) DecodeFrom(d *Decoder) {
	f.Epoch = d.U64()
	f.Pushed = d.U64()
	f.Invalid = d.Bool()
	f.Seqnum = d.U64()
	f.Records = d.U64()
}

// RecPull flags.
const (
	// RecPullDurable reads a per-record-persistent database's durable
	// store instead of its volatile one.
	RecPullDurable uint32 = 0x1
	// RecPullWipe empties the copy instead: it is not trusted.
	RecPullWipe uint32 = 0x2
)

// RecPull asks for the next batch of a node's copy of a frozen database.
// VNNMap is the recovery's new vnnmap: the node remembers the keys it
// will no longer be the location master of, to drop them at the thaw.
type RecPull struct {
	DBID   uint32
	Number uint64
	Flags  uint32
	VNNMap VNNMap
}

// AppendTo encodes p.
func (p *RecPull) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.DBID)
	b = AppendU64(b, p.Number)
	b = AppendU32(b, p.Flags)
	return p.VNNMap.AppendTo(b)
}

// DecodeFrom decodes p.
func (p *RecPull) DecodeFrom(d *Decoder) {
	p.DBID = d.U32()
	p.Number = d.U64()
	p.Flags = d.U32()
	p.VNNMap.DecodeFrom(d)
}

// RecPush flags.
const (
	// RecPushDurable stores into the durable store of a
	// per-record-persistent database, each record only where it is newer.
	RecPushDurable uint32 = 0x1
	// RecPushStage keeps the records aside until the batch flagged
	// RecPushLast, which replaces the whole copy with them in one atomic
	// update (persistent and replicated databases).
	RecPushStage uint32 = 0x2
	// RecPushLast is the last batch of a node's push.
	RecPushLast uint32 = 0x4
)

// RecPush stores records of a merged database on a node. Without
// RecPushStage and RecPushDurable the records are those the node is the
// location master of in the new vnnmap: it stores them as their data
// master, and deletes those flagged RecFlagDeleted.
type RecPush struct {
	DBID    uint32
	Number  uint64
	Flags   uint32
	Records []Record
}

// AppendTo encodes p.
func (p *RecPush) AppendTo(b []byte) []byte {
	b = AppendU32(b, p.DBID)
	b = AppendU64(b, p.Number)
	b = AppendU32(b, p.Flags)
	return appendRecords(b, p.Records)
}

// DecodeFrom decodes p.
func (p *RecPush) DecodeFrom(d *Decoder) {
	p.DBID = d.U32()
	p.Number = d.U64()
	p.Flags = d.U32()
	p.Records = decodeRecords(d)
}

// RecThaw ends the recovery of a database on a node with the new vnnmap.
type RecThaw struct {
	DBID   uint32
	Number uint64
	VNNMap VNNMap
}

// AppendTo encodes t.
func (t *RecThaw) AppendTo(b []byte) []byte {
	b = AppendU32(b, t.DBID)
	b = AppendU64(b, t.Number)
	return t.VNNMap.AppendTo(b)
}

// DecodeFrom decodes t.
func (t *RecThaw) DecodeFrom(d *Decoder) {
	t.DBID = d.U32()
	t.Number = d.U64()
	t.VNNMap.DecodeFrom(d)
	if d.Err() == nil && len(t.VNNMap.Map) == 0 {
		d.Fail(fmt.Errorf("%w: empty vnnmap", ErrMalformed))
	}
}

// RecFinish ends a recovery on a node.
type RecFinish struct {
	Number uint64
	VNNMap VNNMap
}

// AppendTo encodes f.
func (f *RecFinish) AppendTo(b []byte) []byte {
	b = AppendU64(b, f.Number)
	return f.VNNMap.AppendTo(b)
}

// DecodeFrom decodes f.
func (f *RecFinish) DecodeFrom(d *Decoder) {
	f.Number = d.U64()
	f.VNNMap.DecodeFrom(d)
	if d.Err() == nil && len(f.VNNMap.Map) == 0 {
		d.Fail(fmt.Errorf("%w: empty vnnmap", ErrMalformed))
	}
}

// Vacuum flags (VacuumScan, DBControl of OpVacuumCompact).
const (
	// VacuumFull scans the whole database rather than the delete queue.
	VacuumFull uint32 = 0x1
	// VacuumForce compacts whatever the share of free space.
	VacuumForce uint32 = 0x2
	// VacuumDurable (VacuumBatch) also drops the durable copies of the
	// deletions of a per-record-persistent database: every node of the
	// cluster is active, so none can bring an older durable copy back.
	VacuumDurable uint32 = 0x4
)

// VacuumScan asks for up to Max deleted records this node is the data
// master of; Cursor resumes a full scan ("" starts it).
type VacuumScan struct {
	DBID   uint32
	Flags  uint32
	Max    uint32
	Cursor []byte
}

// AppendTo encodes v.
func (v *VacuumScan) AppendTo(b []byte) []byte {
	b = AppendU32(b, v.DBID)
	b = AppendU32(b, v.Flags)
	b = AppendU32(b, v.Max)
	return AppendBytes(b, v.Cursor)
}

// DecodeFrom decodes v.
func (v *VacuumScan) DecodeFrom(d *Decoder) {
	v.DBID = d.U32()
	v.Flags = d.U32()
	v.Max = d.U32()
	v.Cursor = d.Bytes(MaxKey)
}

// VacuumRecord is a deleted record being vacuumed: its key, the RSN of
// the deletion and the node holding it as data master.
type VacuumRecord struct {
	Key     []byte
	RSN     uint64
	DMaster uint32
}

// vacuumRecordMinSize is the encoded size of a VacuumRecord with an
// empty key.
const vacuumRecordMinSize = 4 + 8 + 4

// VacuumBatch is a batch of records being vacuumed, in the generation
// they were found in. In an answer to OpVacuumScan, More says that the
// scan goes on from Cursor.
type VacuumBatch struct {
	DBID       uint32
	Generation uint32
	Flags      uint32
	More       bool
	Cursor     []byte
	Records    []VacuumRecord
}

// AppendTo encodes v.
func (v *VacuumBatch) AppendTo(b []byte) []byte {
	b = AppendU32(b, v.DBID)
	b = AppendU32(b, v.Generation)
	b = AppendU32(b, v.Flags)
	b = AppendBool(b, v.More)
	b = AppendBytes(b, v.Cursor)
	b = AppendU32(b, uint32(len(v.Records)))
	for _, r := range v.Records {
		b = AppendBytes(b, r.Key)
		b = AppendU64(b, r.RSN)
		b = AppendU32(b, r.DMaster)
	}
	return b
}

// DecodeFrom decodes v.
func (v *VacuumBatch) DecodeFrom(d *Decoder) {
	v.DBID = d.U32()
	v.Generation = d.U32()
	v.Flags = d.U32()
	v.More = d.Bool()
	v.Cursor = d.Bytes(MaxKey)
	n := d.Count(vacuumRecordMinSize)
	v.Records = make([]VacuumRecord, n)
	for i := range v.Records {
		v.Records[i].Key = d.Bytes(MaxKey)
		v.Records[i].RSN = d.U64()
		v.Records[i].DMaster = d.U32()
	}
}

// VacuumResult answers OpVacuumDelete.
type VacuumResult struct {
	Deleted, Skipped, Failed uint32
}

// AppendTo encodes v.
func (v *VacuumResult) AppendTo(b []byte) []byte {
	b = AppendU32(b, v.Deleted)
	b = AppendU32(b, v.Skipped)
	return AppendU32(b, v.Failed)
}

// DecodeFrom decodes v.
func (v *VacuumResult) DecodeFrom(d *Decoder) {
	v.Deleted = d.U32()
	v.Skipped = d.U32()
	v.Failed = d.U32()
}

// VacuumKept answers OpVacuumTryDelete with the indexes (in the request)
// of the records the node did not drop: it is their data master and they
// were locked or are no longer deleted, or its copy is newer.
type VacuumKept struct {
	Indexes []uint32
}

// AppendTo encodes v.
func (v *VacuumKept) AppendTo(b []byte) []byte { return appendPNNs(b, v.Indexes) }

// DecodeFrom decodes v.
func (v *VacuumKept) DecodeFrom(d *Decoder) { v.Indexes = decodePNNs(d) }

// VacuumCompacted answers OpVacuumCompact.
type VacuumCompacted struct {
	Compacted             bool
	SizeBefore, SizeAfter uint64
}

// AppendTo encodes v.
func (v *VacuumCompacted) AppendTo(b []byte) []byte {
	b = AppendBool(b, v.Compacted)
	b = AppendU64(b, v.SizeBefore)
	return AppendU64(b, v.SizeAfter)
}

// DecodeFrom decodes v.
func (v *VacuumCompacted) DecodeFrom(d *Decoder) {
	v.Compacted = d.Bool()
	v.SizeBefore = d.U64()
	v.SizeAfter = d.U64()
}
