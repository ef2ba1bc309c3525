package vacuum

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/transportd/proto"
)

func TestPlanGroupsByLMasterInBoundedBatches(t *testing.T) {
	v := &proto.VNNMap{Generation: 5, Map: []uint32{0, 1, 2}}
	var recs []proto.VacuumRecord
	for i := range 50 {
		recs = append(recs, proto.VacuumRecord{Key: []byte{byte(i), byte(i * 7)}, RSN: uint64(i)})
	}
	batches := Plan(v, recs, 4)
	total := 0
	prev := uint32(0)
	for _, b := range batches {
		require.NotEmpty(t, b.Records)
		assert.LessOrEqual(t, len(b.Records), 4)
		assert.GreaterOrEqual(t, b.LMaster, prev, "batches ordered by lmaster")
		prev = b.LMaster
		for _, r := range b.Records {
			assert.Equal(t, b.LMaster, v.LMaster(r.Key))
		}
		total += len(b.Records)
	}
	assert.Equal(t, len(recs), total)
	assert.Empty(t, Plan(v, nil, 0))
}

func TestScheduleRunsFullEveryFastPathCount(t *testing.T) {
	tests := []struct {
		name  string
		count uint32
		want  []Kind
	}{
		{"first run full, then every 3rd+1", 2, []Kind{Full, Fast, Fast, Full, Fast, Fast, Full}},
		{"zero means always full", 0, []Kind{Full, Full, Full}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Schedule
			for i, want := range tc.want {
				assert.Equal(t, want, s.Next(tc.count), "run %d", i)
			}
		})
	}
}

func TestShouldCompact(t *testing.T) {
	tests := []struct {
		size, live int64
		want       bool
	}{
		{10 << 20, 1 << 20, true},
		{10 << 20, 4 << 20, false},
		{1 << 20, 0, true},
		{512 << 10, 0, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ShouldCompact(tc.size, tc.live), "size %d live %d", tc.size, tc.live)
	}
}

func TestDeleteQueueBoundedAndLatestWins(t *testing.T) {
	q := NewDeleteQueue(2)
	q.Add([]byte("a"), 1)
	q.Add([]byte("a"), 3)
	q.Add([]byte("b"), 1)
	q.Add([]byte("c"), 1)
	assert.Equal(t, 2, q.Len())
	assert.Equal(t, uint64(1), q.Dropped())
	got := q.Take(10)
	require.Len(t, got, 2)
	for _, e := range got {
		if string(e.Key) == "a" {
			assert.Equal(t, uint64(3), e.RSN)
		}
	}
	assert.Zero(t, q.Len())
	q.Add([]byte("d"), 1)
	q.Clear()
	assert.Zero(t, q.Len())
}
