package proto

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func sampleVNNMap() VNNMap { return VNNMap{Generation: 1446764750, Map: []uint32{0, 2}} }

func recoveryPayloadCases() []payloadCase {
	event := RecoveryEvent{Number: 7<<32 | 3, Generation: 1446764750, Term: 7, Leader: 0, Nodes: []uint32{0, 1, 2}, VNNMap: []uint32{0, 1, 2},
		Started: 1700000000000000000, Finished: 1700000000025000000, Reason: "node 2 disconnected"}
	return []payloadCase{
		{"recover_request", &RecoverRequest{Flags: RecoverForwarded, Reason: "ctdb recover"}, func() Payload { return &RecoverRequest{} }},
		{"recovery_event", &event, func() Payload { return &RecoveryEvent{} }},
		{"recovery_status", &RecoveryStatus{Leading: true, Pending: true, Last: event,
			Stats: Statistics{Start: 1, Now: 2, Counters: []Counter{{"recoveries", 3}}, Latencies: []Latency{{Name: "recovery_latency", Count: 3, Min: 0.01, Max: 0.03, Total: 0.06}}}},
			func() Payload { return &RecoveryStatus{} }},
		{"rec_begin", &RecBegin{Number: 7<<32 | 3, Generation: 1446764750, Leader: 1, Term: 7}, func() Payload { return &RecBegin{} }},
		{"rec_node", &RecNode{PNN: 2, Flags: NodeFlagPermanentlyDisabled, Generation: 1446764750, RecMode: RecModeActive, StaleDBs: 1, DBs: []DBInfo{{DBID: 1, Name: "a.tdb", Path: "/a", Flags: DBFlagPersistent}}}, func() Payload { return &RecNode{} }},
		{"rec_db", &RecDB{DBID: 5, Number: 7<<32 | 3, Generation: 1446764750}, func() Payload { return &RecDB{} }},
		{"rec_frozen", &RecFrozen{Epoch: 7<<32 | 2, Pushed: 7<<32 | 3, Invalid: true, Seqnum: 42, Records: 100000}, func() Payload { return &RecFrozen{} }},
		{"rec_pull", &RecPull{DBID: 5, Number: 9, Flags: RecPullDurable, VNNMap: sampleVNNMap()}, func() Payload { return &RecPull{} }},
		{"rec_push", &RecPush{DBID: 5, Number: 9, Flags: RecPushStage | RecPushLast, Records: sampleRecords()}, func() Payload { return &RecPush{} }},
		{"rec_thaw", &RecThaw{DBID: 5, Number: 9, VNNMap: sampleVNNMap()}, func() Payload { return &RecThaw{} }},
		{"rec_finish", &RecFinish{Number: 9, VNNMap: sampleVNNMap()}, func() Payload { return &RecFinish{} }},
		{"vacuum_scan", &VacuumScan{DBID: 5, Flags: VacuumFull, Max: 1000, Cursor: []byte("key-17")}, func() Payload { return &VacuumScan{} }},
		{"vacuum_batch", &VacuumBatch{DBID: 5, Generation: 6, Flags: VacuumDurable, More: true, Cursor: []byte("k9"),
			Records: []VacuumRecord{{Key: []byte("k1"), RSN: 4, DMaster: 2}, {Key: []byte{}, RSN: 1 << 40, DMaster: 0}}}, func() Payload { return &VacuumBatch{} }},
		{"vacuum_result", &VacuumResult{Deleted: 900, Skipped: 3, Failed: 1}, func() Payload { return &VacuumResult{} }},
		{"vacuum_kept", &VacuumKept{Indexes: []uint32{0, 7}}, func() Payload { return &VacuumKept{} }},
		{"vacuum_compacted", &VacuumCompacted{Compacted: true, SizeBefore: 8 << 20, SizeAfter: 1 << 20}, func() Payload { return &VacuumCompacted{} }},
	}
}

func vacuumPayloadCases() []payloadCase {
	return []payloadCase{
		{"vacuum_request", &VacuumRequest{DBID: 5, Flags: VacuumFull | VacuumForce}, func() Payload { return &VacuumRequest{} }},
		{"vacuum_report", &VacuumReport{DBs: []VacuumDBReport{{DBID: 5, Candidates: 10, Deleted: 9, Skipped: 1, Compacted: true, SizeBefore: 3 << 20, SizeAfter: 1 << 20}}},
			func() Payload { return &VacuumReport{} }},
	}
}

func FuzzRecoverRequest(f *testing.F)  { fuzzPayload(f, "recover_request") }
func FuzzRecoveryEvent(f *testing.F)   { fuzzPayload(f, "recovery_event") }
func FuzzRecoveryStatus(f *testing.F)  { fuzzPayload(f, "recovery_status") }
func FuzzRecBegin(f *testing.F)        { fuzzPayload(f, "rec_begin") }
func FuzzRecNode(f *testing.F)         { fuzzPayload(f, "rec_node") }
func FuzzRecDB(f *testing.F)           { fuzzPayload(f, "rec_db") }
func FuzzRecFrozen(f *testing.F)       { fuzzPayload(f, "rec_frozen") }
func FuzzRecPull(f *testing.F)         { fuzzPayload(f, "rec_pull") }
func FuzzRecPush(f *testing.F)         { fuzzPayload(f, "rec_push") }
func FuzzRecThaw(f *testing.F)         { fuzzPayload(f, "rec_thaw") }
func FuzzRecFinish(f *testing.F)       { fuzzPayload(f, "rec_finish") }
func FuzzVacuumScan(f *testing.F)      { fuzzPayload(f, "vacuum_scan") }
func FuzzVacuumBatch(f *testing.F)     { fuzzPayload(f, "vacuum_batch") }
func FuzzVacuumResult(f *testing.F)    { fuzzPayload(f, "vacuum_result") }
func FuzzVacuumKept(f *testing.F)      { fuzzPayload(f, "vacuum_kept") }
func FuzzVacuumCompacted(f *testing.F) { fuzzPayload(f, "vacuum_compacted") }
func FuzzVacuumRequest(f *testing.F)   { fuzzPayload(f, "vacuum_request") }
func FuzzVacuumReport(f *testing.F)    { fuzzPayload(f, "vacuum_report") }

// TestRecoveryDecodersRejectInconsistentInput covers the checks beyond
// lengths: a recovery cannot end before it starts, and a thaw or finish
// needs a vnnmap.
func TestRecoveryDecodersRejectInconsistentInput(t *testing.T) {
	e := RecoveryEvent{Started: 10, Finished: 5}
	assert.ErrorIs(t, Unmarshal(Marshal(&e), &RecoveryEvent{}), ErrMalformed)
	assert.ErrorIs(t, Unmarshal(Marshal(&RecThaw{DBID: 1}), &RecThaw{}), ErrMalformed)
	assert.ErrorIs(t, Unmarshal(Marshal(&RecFinish{Number: 1}), &RecFinish{}), ErrMalformed)
}

func TestRecoverySrvIDsAreDistinct(t *testing.T) {
	ids := map[uint64]string{}
	for name, id := range map[string]uint64{"leader": SrvIDLeader, "ban": SrvIDBanState, "started": SrvIDRecoveryStarted,
		"recovered": SrvIDRecovered, "nodemap": SrvIDNodeMap} {
		assert.NotContains(t, ids, id, name)
		ids[id] = name
	}
}
