// Package recovery holds the rules of gctdb's recovery, which the
// leader's recovery service (ctdbd/internal/recoveryd) carries out over
// the transport and the database service of every node applies
// (ctdbd/internal/database/recovery.go):
//
//   - who takes part: the connected nodes that are not banned or stopped,
//     each confirming its own flags (Participants);
//   - the new generation and vnnmap: the participants with the lmaster
//     capability (NewGeneration, NewVNNMap);
//   - which copies are trusted: only those of nodes that took part in the
//     latest recovery of a database and were not inactive since, so that
//     a node coming back cannot resurrect records deleted meanwhile (CTDB
//     bug 14294; Trusted);
//   - which copy wins: for a volatile database, per record the copy with
//     the highest RSN, the data master's on a tie (Merge); for a
//     persistent or replicated one, the whole copy with the highest
//     sequence number (ChooseSource);
//   - the steps of each database's recovery (Steps), run for every
//     database independently and in parallel, each preceded by a check
//     that the leader still leads in its term (CTDB bug 16082).
package recovery

import (
	"slices"

	"gctdb/transportd/proto"
)

// Participants returns the nodes of nm that can take part in a recovery:
// connected, not deleted, banned or stopped, in PNN order.
func Participants(nm *proto.NodeMap) []uint32 {
	var out []uint32
	for _, n := range nm.Nodes {
		if n.Flags&(proto.NodeFlagsInactive|proto.NodeFlagDeleted) == 0 {
			out = append(out, n.PNN)
		}
	}
	slices.Sort(out)
	return out
}

// NewVNNMap places records on the participants that have the lmaster
// capability (capabilities not heard yet count as having it); with none,
// on every participant, since records must live somewhere.
func NewVNNMap(nm *proto.NodeMap, parts []uint32, gen uint32) proto.VNNMap {
	v := proto.VNNMap{Generation: gen}
	for _, n := range nm.Nodes {
		if slices.Contains(parts, n.PNN) && (n.Caps == 0 || n.Caps&proto.CapLMaster != 0) {
			v.Map = append(v.Map, n.PNN)
		}
	}
	if len(v.Map) == 0 {
		v.Map = slices.Clone(parts)
	}
	slices.Sort(v.Map)
	return v
}

// invalidGeneration is CTDB's INVALID_GENERATION; 0 is never used either.
const invalidGeneration = 1

// NewGeneration returns a generation other than old, 0 and CTDB's
// INVALID_GENERATION, drawing candidates from rnd.
func NewGeneration(old uint32, rnd func() uint32) uint32 {
	for {
		g := rnd()
		if g > invalidGeneration && g != old {
			return g
		}
	}
}

// Number orders recoveries cluster-wide: the leader's term in the high
// half, the leader's count of recoveries in that term in the low half.
func Number(term uint64, seq uint32) uint64 { return term<<32 | uint64(seq) }

// Trusted returns the nodes whose copies of a database may take part in
// its recovery: not marked invalid, and having taken part in (Epoch) or
// received the result of (Pushed) the latest recovery any of them knows.
func Trusted(frozen map[uint32]proto.RecFrozen) map[uint32]bool {
	var newest uint64
	for _, f := range frozen {
		newest = max(newest, f.Epoch)
	}
	out := make(map[uint32]bool, len(frozen))
	for pnn, f := range frozen {
		out[pnn] = !f.Invalid && max(f.Epoch, f.Pushed) >= newest
	}
	return out
}

// ChooseSource returns the trusted node with the highest sequence number
// of a persistent or replicated database (the lowest PNN on a tie); ok is
// false when no node is trusted.
func ChooseSource(frozen map[uint32]proto.RecFrozen, trusted map[uint32]bool) (pnn uint32, ok bool) {
	var best uint64
	for p, f := range frozen {
		if !trusted[p] {
			continue
		}
		if !ok || f.Seqnum > best || (f.Seqnum == best && p < pnn) {
			pnn, best, ok = p, f.Seqnum, true
		}
	}
	return pnn, ok
}

// Merge collects the copies of a volatile database's records and keeps
// per key the one with the highest RSN; on equal RSNs the copy held by the
// record's data master wins, as it is the one clients wrote to.
type Merge struct {
	recs map[string]held
}

type held struct {
	rec  proto.Record
	from uint32
}

// NewMerge returns an empty merge.
func NewMerge() *Merge { return &Merge{recs: make(map[string]held)} }

// Add merges node from's copies.
func (m *Merge) Add(from uint32, recs []proto.Record) {
	for _, r := range recs {
		cur, ok := m.recs[string(r.Key)]
		if !ok || better(r, from, cur) {
			m.recs[string(r.Key)] = held{rec: r, from: from}
		}
	}
}

func better(r proto.Record, from uint32, cur held) bool {
	if r.Header.RSN != cur.rec.Header.RSN {
		return r.Header.RSN > cur.rec.Header.RSN
	}
	return r.Header.DMaster == from && cur.rec.Header.DMaster != cur.from
}

// Len returns the number of merged records.
func (m *Merge) Len() int { return len(m.recs) }

// Split returns the merged records grouped by their location master in
// v, leaving out those already in place: the winning copy came from its
// new location master, which is its data master, and has no read-only
// delegations to forget, so pushing it back would change nothing (after a recovery with an unchanged vnnmap, that
// is nearly every record). Every node of v has an entry, possibly empty,
// since each must be told that its share is complete.
func (m *Merge) Split(v *proto.VNNMap) map[uint32][]proto.Record {
	out := make(map[uint32][]proto.Record, len(v.Map))
	for _, p := range v.Map {
		out[p] = nil
	}
	for _, h := range m.recs {
		lm := v.LMaster(h.rec.Key)
		if h.from == lm && h.rec.Header.DMaster == lm && h.rec.Header.Flags&(proto.RecFlagDeleted|proto.RecFlagsRO) == 0 {
			continue
		}
		out[lm] = append(out[lm], h.rec)
	}
	return out
}

// All returns every merged record.
func (m *Merge) All() []proto.Record {
	out := make([]proto.Record, 0, len(m.recs))
	for _, h := range m.recs {
		out = append(out, h.rec)
	}
	return out
}

// Batches splits records into batches of at most n records.
func Batches(recs []proto.Record, n int) [][]proto.Record {
	if n <= 0 {
		n = len(recs)
	}
	var out [][]proto.Record
	for len(recs) > n {
		out = append(out, recs[:n])
		recs = recs[n:]
	}
	return append(out, recs)
}

// Kind is how a database is recovered.
type Kind int

// Kinds of database recovery.
const (
	// Volatile merges every trusted copy record by record.
	Volatile Kind = iota
	// Transactional takes the whole copy with the highest sequence number
	// (persistent and replicated databases).
	Transactional
	// PerRecordPersistent is Volatile plus a merge of the durable stores.
	PerRecordPersistent
)

// KindOf returns how a database with the given flags is recovered.
func KindOf(dbFlags uint32) Kind {
	switch {
	case dbFlags&(proto.DBFlagPersistent|proto.DBFlagReplicated) != 0:
		return Transactional
	case dbFlags&proto.DBFlagPerRecordPersistent != 0:
		return PerRecordPersistent
	}
	return Volatile
}

// Step is one step of a recovery.
type Step string

// Steps of a recovery; the leader verifies it leads before each.
const (
	StepBegin  Step = "begin"
	StepAttach Step = "attach"
	StepFreeze Step = "freeze"
	StepPull   Step = "pull"
	StepPush   Step = "push"
	StepThaw   Step = "thaw"
	StepFinish Step = "finish"
)

// DBSteps are the steps of one database's recovery, in order.
var DBSteps = []Step{StepFreeze, StepPull, StepPush, StepThaw}

// MissingDBs returns, per node, the databases others have that it lacks
// (a late joiner's), which the recovery attaches there before freezing.
func MissingDBs(have map[uint32][]proto.DBInfo) map[uint32][]proto.DBInfo {
	all := make(map[uint32]proto.DBInfo)
	for _, dbs := range have {
		for _, d := range dbs {
			all[d.DBID] = d
		}
	}
	ids := make([]uint32, 0, len(all))
	for id := range all {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make(map[uint32][]proto.DBInfo)
	for pnn, dbs := range have {
		for _, id := range ids {
			if !slices.ContainsFunc(dbs, func(d proto.DBInfo) bool { return d.DBID == id }) {
				out[pnn] = append(out[pnn], all[id])
			}
		}
	}
	return out
}
