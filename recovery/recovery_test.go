package recovery

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

func rec(key string, rsn uint64, dmaster uint32, data string) proto.Record {
	return proto.Record{Key: []byte(key), Header: proto.RecordHeader{RSN: rsn, DMaster: dmaster}, Data: []byte(data)}
}

func TestParticipantsLeaveInactiveOut(t *testing.T) {
	nm := &proto.NodeMap{Nodes: []proto.NodeInfo{
		{PNN: 0}, {PNN: 1, Flags: proto.NodeFlagDisconnected}, {PNN: 2, Flags: proto.NodeFlagBanned},
		{PNN: 3, Flags: proto.NodeFlagStopped}, {PNN: 4, Flags: proto.NodeFlagUnhealthy}, {PNN: 5, Flags: proto.NodeFlagDeleted | proto.NodeFlagDisconnected},
	}}
	assert.Equal(t, []uint32{0, 4}, Participants(nm))
}

func TestNewVNNMapUsesLMasterCapableParticipants(t *testing.T) {
	nm := &proto.NodeMap{Nodes: []proto.NodeInfo{{PNN: 0, Caps: proto.CapLMaster}, {PNN: 1, Caps: proto.CapLeader}, {PNN: 2}}}
	v := NewVNNMap(nm, []uint32{0, 1, 2}, 77)
	assert.Equal(t, proto.VNNMap{Generation: 77, Map: []uint32{0, 2}}, v)
	v = NewVNNMap(nm, []uint32{1}, 78)
	assert.Equal(t, []uint32{1}, v.Map, "without lmaster-capable nodes every participant places records")
}

func TestNewGenerationAvoidsReservedAndOld(t *testing.T) {
	vals := []uint32{0, 1, 9, 10}
	i := 0
	g := NewGeneration(9, func() uint32 { v := vals[i]; i++; return v })
	assert.Equal(t, uint32(10), g)
}

func TestTrusted(t *testing.T) {
	tests := []struct {
		name   string
		frozen map[uint32]proto.RecFrozen
		want   map[uint32]bool
	}{
		{"all in the latest recovery", map[uint32]proto.RecFrozen{0: {Epoch: 5}, 1: {Epoch: 5}}, map[uint32]bool{0: true, 1: true}},
		{"missed a recovery (bug 14294)", map[uint32]proto.RecFrozen{0: {Epoch: 5}, 1: {Epoch: 3}}, map[uint32]bool{0: true, 1: false}},
		{"got the push of the latest", map[uint32]proto.RecFrozen{0: {Epoch: 5}, 1: {Epoch: 3, Pushed: 5}}, map[uint32]bool{0: true, 1: true}},
		{"inactive since", map[uint32]proto.RecFrozen{0: {Epoch: 5}, 1: {Epoch: 5, Invalid: true}}, map[uint32]bool{0: true, 1: false}},
		{"fresh cluster", map[uint32]proto.RecFrozen{0: {}, 1: {}}, map[uint32]bool{0: true, 1: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, Trusted(tc.frozen)) })
	}
}

func TestChooseSourceHighestSeqnum(t *testing.T) {
	tests := []struct {
		name    string
		frozen  map[uint32]proto.RecFrozen
		trusted map[uint32]bool
		want    uint32
		ok      bool
	}{
		{"highest wins", map[uint32]proto.RecFrozen{0: {Seqnum: 3}, 1: {Seqnum: 9}, 2: {Seqnum: 4}}, map[uint32]bool{0: true, 1: true, 2: true}, 1, true},
		{"tie: lowest pnn", map[uint32]proto.RecFrozen{2: {Seqnum: 9}, 1: {Seqnum: 9}}, map[uint32]bool{1: true, 2: true}, 1, true},
		{"untrusted ignored", map[uint32]proto.RecFrozen{0: {Seqnum: 3}, 1: {Seqnum: 9}}, map[uint32]bool{0: true}, 0, true},
		{"none trusted", map[uint32]proto.RecFrozen{0: {Seqnum: 3}}, map[uint32]bool{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := ChooseSource(tc.frozen, tc.trusted)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, p)
		})
	}
}

func TestMergeKeepsHighestRSNAndDMasterOnTie(t *testing.T) {
	m := NewMerge()
	m.Add(0, []proto.Record{rec("a", 3, 0, "a0"), rec("b", 5, 1, "b-stale"), rec("c", 1, 0, "c0")})
	m.Add(1, []proto.Record{rec("a", 2, 1, "a1"), rec("b", 5, 1, "b1"), rec("d", 1, 1, "d1")})
	m.Add(2, []proto.Record{rec("c", 7, 2, "c2")})
	require.Equal(t, 4, m.Len())
	got := map[string]string{}
	for _, r := range m.All() {
		got[string(r.Key)] = string(r.Data)
	}
	assert.Equal(t, map[string]string{"a": "a0", "b": "b1", "c": "c2", "d": "d1"}, got)
}

// keyOn returns a key with the given prefix whose lmaster in v is pnn.
func keyOn(v *proto.VNNMap, prefix string, pnn uint32) []byte {
	for i := 0; ; i++ {
		k := fmt.Appendf(nil, "%s%d", prefix, i)
		if v.LMaster(k) == pnn {
			return k
		}
	}
}

func TestSplitPushesWhatIsNotInPlace(t *testing.T) {
	v := &proto.VNNMap{Generation: 2, Map: []uint32{0, 1, 2, 3}}
	inPlace := proto.Record{Key: keyOn(v, "in", 0), Header: proto.RecordHeader{RSN: 5, DMaster: 0}}
	moves := proto.Record{Key: keyOn(v, "mv", 1), Header: proto.RecordHeader{RSN: 5, DMaster: 0}}
	tomb := proto.Record{Key: keyOn(v, "del", 2), Header: proto.RecordHeader{RSN: 4, DMaster: 2, Flags: proto.RecFlagDeleted}}
	otherDMaster := proto.Record{Key: keyOn(v, "od", 2), Header: proto.RecordHeader{RSN: 9, DMaster: 1}}
	m := NewMerge()
	m.Add(0, []proto.Record{inPlace, moves})
	m.Add(2, []proto.Record{tomb, otherDMaster})
	split := m.Split(v)
	assert.Len(t, split, 4, "every lmaster gets its share, even an empty one")
	assert.Empty(t, split[0], "the winner already lives on its lmaster as dmaster")
	assert.Equal(t, []proto.Record{moves}, split[1])
	assert.ElementsMatch(t, []proto.Record{tomb, otherDMaster}, split[2], "tombstones are pushed to be dropped, foreign dmasters to be taken over")
	assert.Empty(t, split[3])
}

func TestKindOf(t *testing.T) {
	assert.Equal(t, Volatile, KindOf(0))
	assert.Equal(t, Volatile, KindOf(proto.DBFlagSticky))
	assert.Equal(t, Transactional, KindOf(proto.DBFlagPersistent))
	assert.Equal(t, Transactional, KindOf(proto.DBFlagReplicated))
	assert.Equal(t, PerRecordPersistent, KindOf(proto.DBFlagPerRecordPersistent))
}

func TestBatches(t *testing.T) {
	recs := make([]proto.Record, 5)
	assert.Len(t, Batches(recs, 2), 3)
	assert.Len(t, Batches(nil, 2), 1, "an empty push still sends its last batch")
	assert.Len(t, Batches(recs, 0), 1)
}

func TestMissingDBs(t *testing.T) {
	a, b := proto.DBInfo{DBID: 1, Name: "a.tdb"}, proto.DBInfo{DBID: 2, Name: "b.tdb", Flags: proto.DBFlagPersistent}
	got := MissingDBs(map[uint32][]proto.DBInfo{0: {a, b}, 1: {a}, 2: nil})
	assert.Equal(t, map[uint32][]proto.DBInfo{1: {b}, 2: {a, b}}, got)
}

func TestNumberOrdersAcrossTerms(t *testing.T) {
	assert.Less(t, Number(3, 1000), Number(4, 1))
	assert.Less(t, Number(4, 1), Number(4, 2))
}
