package database

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gctdb/tdb"
	"gctdb/transportd/proto"
)

// stripes is the number of record-write mutexes of a database.
const stripes = 64

// db is one attached database on this node.
type db struct {
	id    uint32
	name  string
	path  string
	log   *slog.Logger
	flags atomic.Uint32
	store *tdb.DB
	// durable is the fsynced store of a per-record-persistent database.
	durable *tdb.DB

	seed    maphash.Seed
	stripes [stripes]sync.Mutex

	mu       sync.Mutex
	locks    map[lockKey]*clientLock
	coord    map[string]*keyQueue
	roWait   map[string][]*migWaiter
	pins     map[string]time.Time
	sessions map[*travSession]struct{}
	// frozenBy is the node that froze the database (for recovery, wipe,
	// restore) and the generation it did so in; frozen is false when it
	// is thawed.
	frozen    bool
	frozenBy  uint32
	frozenGen uint32
	hot       hotKeys
	// vnn places the database's records. It is the node's vnnmap when
	// the database is attached and the recovery's from its thaw on, so a
	// database recovered ahead of others works with the new one.
	vnn atomic.Pointer[proto.VNNMap]
	// rec is set while a recovery holds the database frozen. epoch is the
	// last recovery that thawed it here and pushed the last that stored
	// its merged records here; invalid is set when the node became
	// inactive since (see recovery.go).
	rec     *recFreeze
	epoch   uint64
	pushed  uint64
	invalid bool
	// vac is the database's vacuuming state on this node.
	vac        vacState
	hopBuckets [16]uint32

	roDelegations, roRevokes   atomic.Uint32
	migrationsIn, migrationsOt atomic.Uint64
}

func newDB(id uint32, name, path string, flags uint32, store *tdb.DB, vnn *proto.VNNMap, log *slog.Logger) *db {
	d := &db{
		id:       id,
		name:     name,
		path:     path,
		log:      log.With("db", name),
		store:    store,
		seed:     maphash.MakeSeed(),
		locks:    make(map[lockKey]*clientLock),
		coord:    make(map[string]*keyQueue),
		roWait:   make(map[string][]*migWaiter),
		pins:     make(map[string]time.Time),
		sessions: make(map[*travSession]struct{}),
	}
	d.flags.Store(flags)
	d.vnn.Store(vnn)
	d.vac.init()
	return d
}

func (d *db) persistent() bool { return d.flags.Load()&proto.DBFlagPersistent != 0 }

// transactional reports whether the database is a full copy on every
// node, changed by transactions (persistent and replicated).
func (d *db) transactional() bool {
	return d.flags.Load()&(proto.DBFlagPersistent|proto.DBFlagReplicated) != 0
}

func (d *db) readonlyEnabled() bool { return d.flags.Load()&proto.DBFlagReadonly != 0 }
func (d *db) sticky() bool          { return d.flags.Load()&proto.DBFlagSticky != 0 }

func (d *db) info() proto.DBInfo {
	return proto.DBInfo{DBID: d.id, Name: d.name, Path: d.path, Flags: d.flags.Load()}
}

func (d *db) close() error {
	var errs []error
	if err := d.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", d.name, err))
	}
	if d.durable != nil {
		if err := d.durable.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close durable store of %s: %w", d.name, err))
		}
	}
	return errors.Join(errs...)
}

// stripe returns the mutex that serialises read-modify-writes of key.
func (d *db) stripe(key []byte) *sync.Mutex {
	return &d.stripes[maphash.Bytes(d.seed, key)%stripes]
}

func toProto(r tdb.Record) proto.Record {
	return proto.Record{
		Key:    r.Key,
		Header: proto.RecordHeader{RSN: r.Header.RSN, DMaster: r.Header.DMaster, Flags: uint32(r.Header.Flags)},
		Data:   r.Data,
	}
}

func toTDB(h proto.RecordHeader) tdb.Header {
	return tdb.Header{RSN: h.RSN, DMaster: h.DMaster, Flags: tdb.Flags(h.Flags)}
}

// read returns the local copy of key; found is false when there is none.
func (d *db) read(key []byte) (rec proto.Record, found bool, err error) {
	r, err := d.store.Fetch(key)
	if errors.Is(err, tdb.ErrNotFound) {
		return proto.Record{Key: key, Header: proto.RecordHeader{DMaster: proto.PNNUnknown, Flags: proto.RecFlagDeleted}, Data: []byte{}}, false, nil
	}
	if err != nil {
		return proto.Record{}, false, err
	}
	return toProto(r), true, nil
}

// write stores a record's local copy.
func (d *db) write(key []byte, h proto.RecordHeader, data []byte) error {
	return d.store.Store(key, toTDB(h), data)
}

// seqnum returns a transactional database's sequence number.
func (d *db) seqnum() (uint64, error) {
	rec, found, err := d.read([]byte(proto.SeqnumKey))
	if err != nil || !found {
		return 0, err
	}
	if len(rec.Data) != 8 {
		return 0, fmt.Errorf("%s: sequence number record of %d bytes", d.name, len(rec.Data))
	}
	return binary.LittleEndian.Uint64(rec.Data), nil
}

// hotKeys counts migrations into this node per key, for the hot keys of
// dbstatistics; it forgets everything when it has seen too many keys.
type hotKeys struct {
	counts map[string]uint32
}

const hotKeysMax = 10000

func (h *hotKeys) add(key []byte) {
	if h.counts == nil || len(h.counts) >= hotKeysMax {
		h.counts = make(map[string]uint32)
	}
	h.counts[string(key)]++
}

// top returns the n most migrated keys, least first, in CTDB's order.
func (h *hotKeys) top(n int) []proto.HotKey {
	var out []proto.HotKey
	for k, c := range h.counts {
		i := len(out)
		for i > 0 && out[i-1].Count < c {
			i--
		}
		if i >= n {
			continue
		}
		out = append(out, proto.HotKey{})
		copy(out[i+1:], out[i:])
		out[i] = proto.HotKey{Count: c, Key: []byte(k)}
		if len(out) > n {
			out = out[:n]
		}
	}
	slices.Reverse(out)
	return out
}

// hopBucket is CTDB's hop count histogram bucket for n hops.
func hopBucket(n int) int {
	b := 0
	for n > 0 && b < 15 {
		n >>= 1
		b++
	}
	return b
}
