package vacuum

import (
	"slices"
	"time"

	"gctdb/transportd/proto"
)

// BatchSize bounds the records of one scan answer and of one deletion
// batch: a location master holds the migration turns of a batch's records
// for the round trip to every node, so a batch must stay small.
const BatchSize = 500

// Plan groups records by their location master in v, each group split
// into batches of at most size records, in a stable order (location
// masters ascending).
func Plan(v *proto.VNNMap, recs []proto.VacuumRecord, size int) []Batch {
	if size <= 0 {
		size = BatchSize
	}
	by := make(map[uint32][]proto.VacuumRecord)
	for _, r := range recs {
		lm := v.LMaster(r.Key)
		by[lm] = append(by[lm], r)
	}
	lms := make([]uint32, 0, len(by))
	for lm := range by {
		lms = append(lms, lm)
	}
	slices.Sort(lms)
	var out []Batch
	for _, lm := range lms {
		for rs := by[lm]; len(rs) > 0; {
			n := min(size, len(rs))
			out = append(out, Batch{LMaster: lm, Records: rs[:n]})
			rs = rs[n:]
		}
	}
	return out
}

// Batch is one deletion batch for a location master.
type Batch struct {
	LMaster uint32
	Records []proto.VacuumRecord
}

// Kind is the kind of a vacuum run.
type Kind int

// Kinds of vacuum runs.
const (
	// Fast vacuums the delete queue.
	Fast Kind = iota
	// Full scans the whole database.
	Full
)

func (k Kind) String() string {
	if k == Full {
		return "full"
	}
	return "fast"
}

// Schedule decides the kind of each run of a database: fast ones, and a
// full one every FastPathCount runs (CTDB's VacuumFastPathCount), the
// first run included so that tombstones a node started with are not
// missed.
type Schedule struct {
	runs uint64
}

// Next returns the kind of the next run.
func (s *Schedule) Next(fastPathCount uint32) Kind {
	k := Fast
	if fastPathCount == 0 || s.runs%uint64(fastPathCount+1) == 0 {
		k = Full
	}
	s.runs++
	return k
}

// ShouldCompact reports whether a database file is worth compacting:
// more than half of it and at least MinFreeBytes are free space.
func ShouldCompact(fileSize, liveBytes int64) bool {
	free := fileSize - 2*liveBytes
	return free >= MinFreeBytes && free > fileSize/2
}

// MinFreeBytes is the least free space a compaction must give back.
const MinFreeBytes = 1 << 20

// Interval returns the time between vacuum runs for the VacuumInterval
// tunable (seconds; 0 turns vacuuming off).
func Interval(seconds uint32) time.Duration { return time.Duration(seconds) * time.Second }
