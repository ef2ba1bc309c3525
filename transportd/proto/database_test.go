package proto

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRecords() []Record {
	return []Record{
		{Key: []byte("key1"), Header: RecordHeader{RSN: 7, DMaster: 2, Flags: RecFlagMigratedWithData}, Data: []byte("value")},
		{Key: []byte{}, Header: RecordHeader{RSN: 1, DMaster: 0, Flags: RecFlagDeleted}, Data: []byte{}},
		{Key: []byte{0, 0xff, '"'}, Header: RecordHeader{RSN: 1 << 40, DMaster: 1, Flags: RecFlagROHaveReadonly}, Data: []byte{0, 1, 2}},
	}
}

func databasePayloadCases() []payloadCase {
	return []payloadCase{
		{"db_attach", &DBAttach{Name: "locking.tdb", Flags: DBFlagPersistent}, func() Payload { return &DBAttach{} }},
		{"db_control", &DBControl{DBID: 0x4d2a432b, Flags: DBFlagReadonly, Generation: 12345}, func() Payload { return &DBControl{} }},
		{"db_info", &DBInfo{DBID: 0x01b5a33b, Name: "bench_persistent.tdb", Path: "/var/lib/ctdb/persistent/bench_persistent.tdb.0", Flags: DBFlagPersistent, Health: "NO-HEALTHY-NODES"}, func() Payload { return &DBInfo{} }},
		{"db_map", &DBMap{DBs: []DBInfo{{DBID: 1, Name: "a.tdb", Path: "/a", Flags: 0}, {DBID: 2, Name: "b.tdb", Path: "/b", Flags: DBFlagReplicated}}}, func() Payload { return &DBMap{} }},
		{"db_statistics", &DBStatistics{RODelegations: 1, RORevokes: 2, LockCalls: 3, LockCurrent: 4, LockPending: 5, LockFailed: 6,
			HopCounts: [16]uint32{1, 2, 3}, LockBuckets: [16]uint32{4, 5}, LockLatency: Latency{Name: "locks_latency", Count: 2, Min: 0.001, Max: 0.002, Total: 0.003},
			VacuumLatency: Latency{Name: "vacuum_latency"}, HotKeys: []HotKey{{Count: 9, Key: []byte("hot")}}, MigrationsIn: 10, MigrationsOut: 11,
			Records: 12, FileSize: 13, LiveBytes: 14, Vacuum: VacuumCounters{FastRuns: 15, FullRuns: 16, Candidates: 17, Deleted: 18, Skipped: 19,
				Failed: 20, Compactions: 21, BytesFreed: 22, Tombstones: 23, DurableTombstones: 24, LastRun: 1700000000000000000}}, func() Payload { return &DBStatistics{} }},
		{"vnnmap", &VNNMap{Generation: 1446764750, Map: []uint32{0, 1, 2}}, func() Payload { return &VNNMap{} }},
		{"record", &sampleRecords()[0], func() Payload { return &Record{} }},
		{"record_batch", &RecordBatch{DBID: 5, Done: true, Records: sampleRecords()}, func() Payload { return &RecordBatch{} }},
		{"fetch_lock", &FetchLock{DBID: 5, Token: 99, Flags: LockNoMigrate, Timeout: 5000, Key: []byte("k")}, func() Payload { return &FetchLock{} }},
		{"unlock", &Unlock{DBID: 5, Token: 99, Op: UnlockStore, Flags: RecFlagDurable, Data: []byte("new")}, func() Payload { return &Unlock{} }},
		{"fetch", &Fetch{DBID: 5, Flags: FetchReadonly, Timeout: 100, Key: []byte("k")}, func() Payload { return &Fetch{} }},
		{"update_record", &UpdateRecord{DBID: 5, Record: sampleRecords()[2]}, func() Payload { return &UpdateRecord{} }},
		{"migrate", &Migrate{DBID: 5, Generation: 6, Requester: 2, Flags: MigrateReadonly, ID: 1<<40 | 3, Key: []byte("k")}, func() Payload { return &Migrate{} }},
		{"migrate_grant", &MigrateGrant{DBID: 5, ID: 1<<40 | 3, Flags: MigrateReadonly, Status: StatusBusy, Msg: "frozen", Record: sampleRecords()[0]}, func() Payload { return &MigrateGrant{} }},
		{"revoke", &Revoke{DBID: 5, Generation: 6, Key: []byte("k")}, func() Payload { return &Revoke{} }},
		{"traverse_start", &TraverseStart{DBID: 5, Flags: TraverseLocal | TraverseWithDeleted}, func() Payload { return &TraverseStart{} }},
		{"traverse_ref", &TraverseRef{ID: 77}, func() Payload { return &TraverseRef{} }},
		{"traverse_pull", &TraversePull{ID: 77, DBID: 5, Flags: TraverseLocal}, func() Payload { return &TraversePull{} }},
		{"trans_start", &TransStart{DBID: 5, Token: 3, Timeout: 1000}, func() Payload { return &TransStart{} }},
		{"trans_commit", &TransCommit{DBID: 5, Token: 3, Writes: sampleRecords()}, func() Payload { return &TransCommit{} }},
		{"tx_lock", &TxLock{DBID: 5, Generation: 6, Node: 2, Token: 3}, func() Payload { return &TxLock{} }},
		{"tx_prepare", &TxPrepare{DBID: 5, Generation: 6, TxID: 1<<32 | 9, Seqnum: 42, Writes: sampleRecords()[:1]}, func() Payload { return &TxPrepare{} }},
		{"tx_ref", &TxRef{DBID: 5, TxID: 1<<32 | 9}, func() Payload { return &TxRef{} }},
		{"push_records", &PushRecords{DBID: 5, Generation: 6, Flags: PushWipe, Records: sampleRecords()}, func() Payload { return &PushRecords{} }},
		{"u64", &U64{V: 0x0102030405060708}, func() Payload { return &U64{} }},
	}
}

func FuzzDBAttach(f *testing.F)      { fuzzPayload(f, "db_attach") }
func FuzzDBControl(f *testing.F)     { fuzzPayload(f, "db_control") }
func FuzzDBInfo(f *testing.F)        { fuzzPayload(f, "db_info") }
func FuzzDBMap(f *testing.F)         { fuzzPayload(f, "db_map") }
func FuzzDBStatistics(f *testing.F)  { fuzzPayload(f, "db_statistics") }
func FuzzVNNMap(f *testing.F)        { fuzzPayload(f, "vnnmap") }
func FuzzRecord(f *testing.F)        { fuzzPayload(f, "record") }
func FuzzRecordBatch(f *testing.F)   { fuzzPayload(f, "record_batch") }
func FuzzFetchLock(f *testing.F)     { fuzzPayload(f, "fetch_lock") }
func FuzzUnlock(f *testing.F)        { fuzzPayload(f, "unlock") }
func FuzzFetch(f *testing.F)         { fuzzPayload(f, "fetch") }
func FuzzUpdateRecord(f *testing.F)  { fuzzPayload(f, "update_record") }
func FuzzMigrate(f *testing.F)       { fuzzPayload(f, "migrate") }
func FuzzMigrateGrant(f *testing.F)  { fuzzPayload(f, "migrate_grant") }
func FuzzRevoke(f *testing.F)        { fuzzPayload(f, "revoke") }
func FuzzTraverseStart(f *testing.F) { fuzzPayload(f, "traverse_start") }
func FuzzTraverseRef(f *testing.F)   { fuzzPayload(f, "traverse_ref") }
func FuzzTraversePull(f *testing.F)  { fuzzPayload(f, "traverse_pull") }
func FuzzTransStart(f *testing.F)    { fuzzPayload(f, "trans_start") }
func FuzzTransCommit(f *testing.F)   { fuzzPayload(f, "trans_commit") }
func FuzzTxLock(f *testing.F)        { fuzzPayload(f, "tx_lock") }
func FuzzTxPrepare(f *testing.F)     { fuzzPayload(f, "tx_prepare") }
func FuzzTxRef(f *testing.F)         { fuzzPayload(f, "tx_ref") }
func FuzzPushRecords(f *testing.F)   { fuzzPayload(f, "push_records") }
func FuzzU64(f *testing.F)           { fuzzPayload(f, "u64") }

// TestDBIDMatchesCTDB checks the ids CTDB 4.17 showed for these names
// (reference/ctdb-cli.txt and a capture of `ctdb getdbmap`).
func TestDBIDMatchesCTDB(t *testing.T) {
	for name, want := range map[string]uint32{
		"g_lock.tdb":           0x4d2a432b,
		"bench_persistent.tdb": 0x01b5a33b,
		"bench_volatile.tdb":   0xdbc5c5bf,
		"test1.tdb":            0xbc283589,
		"ptest.tdb":            0x1741d1b4,
		"rtest.tdb":            0xc4d61915,
	} {
		assert.Equal(t, want, DBID(name), name)
	}
}

// TestHashVectors pins lookup3's published values and the paths through
// the block loop and every tail length.
func TestHashVectors(t *testing.T) {
	assert.Equal(t, uint32(0xdeadbeef), Hash(nil), "empty key: initial value unmixed")
	assert.Equal(t, uint32(0x17770551), Hash([]byte("Four score and seven years ago")))
	seen := map[uint32]bool{}
	for n := 0; n <= 40; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		seen[Hash(b)] = true
	}
	assert.Len(t, seen, 41, "every length hashes differently")
}

func TestVNNMapLMaster(t *testing.T) {
	v := &VNNMap{Map: []uint32{0, 1, 2}}
	key := []byte("testkey")
	assert.Equal(t, v.Map[Hash(key)%3], v.LMaster(key))
	assert.Equal(t, PNNUnknown, (&VNNMap{}).LMaster(key))
}

func TestRecFlagsString(t *testing.T) {
	assert.Equal(t, "0x00000000", RecFlagsString(0))
	assert.Equal(t, "0x00040000 AUTOMATIC", RecFlagsString(RecFlagAutomatic))
	assert.Equal(t, "0x01010000 MIGRATED_WITH_DATA RO_HAVE_DELEGATIONS", RecFlagsString(RecFlagMigratedWithData|RecFlagROHaveDelegations))
}

func TestDatabaseDecodersRejectBadEnums(t *testing.T) {
	u := Marshal(&Unlock{Op: UnlockDelete})
	u[12] = 9
	assert.ErrorIs(t, Unmarshal(u, &Unlock{}), ErrMalformed)
}

func TestDatabaseOpcodeNames(t *testing.T) {
	require.Equal(t, "fetch_lock", OpFetchLock.String())
	require.Equal(t, "getvnnmap", OpGetVNNMap.String())
	assert.Equal(t, "volatile", DBTypeName(DBFlagReadonly))
	assert.Equal(t, "persistent", DBTypeName(DBFlagPersistent|DBFlagSticky))
	assert.Equal(t, "per-record-persistent", DBTypeName(DBFlagPerRecordPersistent))
}
