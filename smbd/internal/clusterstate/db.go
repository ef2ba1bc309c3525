package clusterstate

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/smbd/internal/state"
	"gctdb/transportd/proto"
)

// defaultTimeout bounds the stores made on a caller's behalf when it
// gives no context (Unlock keeping a new watch).
const defaultTimeout = 30 * time.Second

// clusterWait bounds how long a fetch-lock waits for an unreachable
// record to become reachable again.
const clusterWait = 30 * time.Second

// A record this process holds is passed straight to the next of its own
// users of the key instead of going back to ctdbd, and kept for up to
// linger when nobody waits, so a hot record (a share root many clients
// open at once) costs one fetch-lock per batch instead of one per change.
// A batch ends after maxPasses hand-overs or maxHold after the grant, so
// the other nodes get their turn within milliseconds.
const (
	maxPasses = 64
	maxHold   = 2 * time.Millisecond
	linger    = 500 * time.Microsecond
)

// DB is one of smbd's databases in gctdb.
type DB struct {
	cl *Cluster
	db *client.DB

	mu      sync.Mutex
	keys    map[string]*localQueue // keys this process holds or is fetching
	timers  sync.WaitGroup         // linger timers scheduled and not stopped
	stopped bool                   // flushIdle ran: nothing lingers any more
}

func newDB(cl *Cluster, db *client.DB) *DB {
	return &DB{cl: cl, db: db, keys: map[string]*localQueue{}}
}

// localQueue lists this process's users waiting for a key that another
// of its users holds (or is fetching from ctdbd), or holds the record
// while it lingers unused.
type localQueue struct {
	waiters []chan *held
	idle    *held
	timer   *time.Timer
}

// held is a record locked cluster-wide on this process's behalf; a nil
// *held handed to a waiter tells it to fetch the record itself.
type held struct {
	rec    *client.Record
	env    envelope
	dirty  bool // env is not what ctdbd has
	since  time.Time
	passes int
}

// FetchLock implements state.DB.
func (d *DB) FetchLock(ctx context.Context, key []byte) (state.Record, error) {
	k := string(key)
	d.mu.Lock()
	q := d.keys[k]
	if q == nil {
		d.keys[k] = &localQueue{}
		d.mu.Unlock()
		return d.fetch(ctx, k)
	}
	if h := q.idle; h != nil {
		q.idle = nil
		if q.timer.Stop() {
			d.timers.Done()
		}
		h.passes++
		d.mu.Unlock()
		return &record{d: d, key: k, h: h}, nil
	}
	ch := make(chan *held, 1)
	q.waiters = append(q.waiters, ch)
	d.mu.Unlock()
	select {
	case h := <-ch:
		if h == nil {
			return d.fetch(ctx, k)
		}
		return &record{d: d, key: k, h: h}, nil
	case <-ctx.Done():
	}
	d.mu.Lock()
	if i := slices.Index(q.waiters, ch); i >= 0 {
		q.waiters = slices.Delete(q.waiters, i, i+1)
		d.mu.Unlock()
		return nil, ctx.Err()
	}
	d.mu.Unlock()
	// The record was handed over meanwhile: pass it on.
	if h := <-ch; h != nil {
		(&record{d: d, key: k, h: h}).Unlock()
	} else {
		d.passFetch(k)
	}
	return nil, ctx.Err()
}

// fetch locks key at ctdbd for this process's queue of the key. While
// the record's location master is unreachable (a node died and recovery
// has not yet rebuilt the vnnmap) it waits and tries again, for up to
// clusterWait, as Samba's smbd waits for CTDB's recovery.
func (d *DB) fetch(ctx context.Context, k string) (state.Record, error) {
	var rec *client.Record
	var err error
	start := time.Now()
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		rec, err = d.db.FetchLock(ctx, []byte(k))
		if err == nil || proto.StatusOf(err) != proto.StatusUnavailable || time.Since(start) > clusterWait {
			break
		}
		d.cl.log.Debug("record unreachable, waiting for recovery", "db", d.db.Name(), "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			d.passFetch(k)
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if err != nil {
		d.passFetch(k)
		return nil, err
	}
	h := &held{rec: rec, since: time.Now()}
	if rec.Exists() && len(rec.Data) > 0 {
		if h.env, err = decodeEnvelope(rec.Data); err != nil {
			rec.Unlock()
			d.passFetch(k)
			return nil, fmt.Errorf("%s record %x: %w", d.db.Name(), k, err)
		}
	}
	return &record{d: d, key: k, h: h}, nil
}

// passFetch ends this process's hold of k: the next local waiter, if any,
// fetches the record itself.
func (d *DB) passFetch(k string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.keys[k]
	if len(q.waiters) == 0 {
		delete(d.keys, k)
		return
	}
	ch := q.waiters[0]
	q.waiters = q.waiters[1:]
	ch <- nil
}

// release ends a user's hold of a record whose value is now env: it hands
// the record to the next local waiter, keeps it for a while, or gives it
// back to ctdbd.
func (d *DB) release(ctx context.Context, k string, h *held, env envelope, dirty bool) error {
	h.env = env
	h.dirty = h.dirty || dirty
	d.mu.Lock()
	q := d.keys[k]
	if left := maxHold - time.Since(h.since); h.passes < maxPasses && left > 0 {
		if len(q.waiters) > 0 {
			ch := q.waiters[0]
			q.waiters = q.waiters[1:]
			h.passes++
			d.mu.Unlock()
			ch <- h
			return nil
		}
		if !d.stopped {
			q.idle = h
			d.timers.Add(1)
			q.timer = time.AfterFunc(min(linger, left), func() {
				defer d.timers.Done()
				d.expire(k, h)
			})
			d.mu.Unlock()
			return nil
		}
	}
	d.mu.Unlock()
	return d.flush(ctx, k, h)
}

// expire gives a lingering record back to ctdbd unless it was taken.
func (d *DB) expire(k string, h *held) {
	d.mu.Lock()
	q := d.keys[k]
	if q == nil || q.idle != h {
		d.mu.Unlock()
		return
	}
	q.idle = nil
	d.mu.Unlock()
	d.flushLogged(k, h)
}

// flushIdle gives every lingering record back to ctdbd and stops keeping
// records (at Close); it returns once no linger timer runs.
func (d *DB) flushIdle() {
	defer d.timers.Wait()
	d.mu.Lock()
	d.stopped = true
	var keys []string
	for k, q := range d.keys {
		if q.idle != nil {
			keys = append(keys, k)
		}
	}
	d.mu.Unlock()
	for _, k := range keys {
		d.mu.Lock()
		q := d.keys[k]
		var h *held
		if q != nil && q.idle != nil {
			h = q.idle
			q.idle = nil
			if q.timer.Stop() {
				d.timers.Done()
			}
		}
		d.mu.Unlock()
		if h != nil {
			d.flushLogged(k, h)
		}
	}
}

// flushLogged is flush on nobody's behalf: errors are logged.
func (d *DB) flushLogged(k string, h *held) {
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	if err := d.flush(ctx, k, h); err != nil {
		d.cl.log.Warn("store a record", "db", d.db.Name(), "err", err)
	}
}

// flush gives h back to ctdbd with its value if it changed, and lets the
// next local waiter fetch the record.
func (d *DB) flush(ctx context.Context, k string, h *held) error {
	var err error
	switch {
	case !h.dirty:
		err = h.rec.Unlock()
	case !h.env.hasValue && len(h.env.watchers) == 0:
		err = h.rec.Delete(ctx)
	default:
		err = h.rec.Store(ctx, h.env.encode())
	}
	d.passFetch(k)
	return err
}

// record is a locked record of a DB.
type record struct {
	d   *DB
	key string
	h   *held

	mu   sync.Mutex
	own  []watcher // watches taken under this lock
	done bool
}

func (r *record) Data() []byte { return r.h.env.value }

// Watch implements state.Record.
func (r *record) Watch() (<-chan struct{}, func()) {
	cl := r.d.cl
	id, ch := cl.newWatch()
	r.mu.Lock()
	r.own = append(r.own, watcher{node: cl.self.Node, srvid: cl.srvid, id: id})
	r.mu.Unlock()
	var once sync.Once
	return ch, func() { once.Do(func() { cl.dropWatch(id) }) }
}

// finish marks the record released once and returns the watches taken
// under its lock.
func (r *record) finish() ([]watcher, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil, false
	}
	r.done = true
	return r.own, true
}

// Store implements state.Record: the watchers of the old value are woken;
// the new value keeps only the watches taken under this lock.
func (r *record) Store(ctx context.Context, data []byte) error {
	own, ok := r.finish()
	if !ok {
		return client.ErrUnlocked
	}
	old := r.h.env.watchers
	err := r.d.release(ctx, r.key, r.h, envelope{hasValue: true, value: data, watchers: own}, true)
	r.d.cl.notify(old)
	return err
}

// Delete implements state.Record; a record that keeps watches of this
// lock stays as a value-less list of them.
func (r *record) Delete(ctx context.Context) error {
	own, ok := r.finish()
	if !ok {
		return client.ErrUnlocked
	}
	old := r.h.env.watchers
	err := r.d.release(ctx, r.key, r.h, envelope{watchers: own}, true)
	r.d.cl.notify(old)
	return err
}

// Unlock implements state.Record. With watches taken under this lock it
// keeps the unchanged value with them added (dropping this process's
// watches that are gone), which wakes nobody.
func (r *record) Unlock() {
	own, ok := r.finish()
	if !ok {
		return
	}
	env := r.h.env
	if len(own) > 0 {
		cl := r.d.cl
		keep := make([]watcher, 0, len(env.watchers)+len(own))
		for _, w := range env.watchers {
			if w.node == cl.self.Node && w.srvid == cl.srvid && !cl.liveWatch(w.id) {
				continue
			}
			keep = append(keep, w)
		}
		env.watchers = append(keep, own...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	if err := r.d.release(ctx, r.key, r.h, env, len(own) > 0); err != nil {
		r.d.cl.log.Warn("release a record", "err", err)
	}
}

// watcher is one entry of a record's watch list.
type watcher struct {
	node  uint32
	srvid uint64
	id    uint64
}

const (
	envelopeVersion  = 1
	envelopeHasValue = 1 << 0
	envelopeHeader   = 4
	watcherSize      = 4 + 8 + 8
	maxWatchers      = 1 << 16
)

// envelope is a record as stored: version u8, flags u8, number of
// watchers u16, the watchers (node u32, srvid u64, id u64), then the
// value, all little-endian.
type envelope struct {
	hasValue bool
	value    []byte
	watchers []watcher
}

func (e envelope) encode() []byte {
	b := make([]byte, 0, envelopeHeader+watcherSize*len(e.watchers)+len(e.value))
	flags := byte(0)
	if e.hasValue {
		flags |= envelopeHasValue
	}
	// Beyond the u16 count, the oldest watchers are dropped; they find
	// out on their own when their smbd next looks (never in practice:
	// that many blocked requests on one file).
	ws := e.watchers
	if len(ws) >= maxWatchers {
		ws = ws[len(ws)-maxWatchers+1:]
	}
	b = append(b, envelopeVersion, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ws)))
	for _, w := range ws {
		b = binary.LittleEndian.AppendUint32(b, w.node)
		b = binary.LittleEndian.AppendUint64(b, w.srvid)
		b = binary.LittleEndian.AppendUint64(b, w.id)
	}
	return append(b, e.value...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) < envelopeHeader || b[0] != envelopeVersion || b[1]&^envelopeHasValue != 0 {
		return e, state.ErrCorrupt
	}
	e.hasValue = b[1]&envelopeHasValue != 0
	n := int(binary.LittleEndian.Uint16(b[2:]))
	b = b[envelopeHeader:]
	if len(b) < n*watcherSize {
		return e, state.ErrCorrupt
	}
	if n > 0 {
		e.watchers = make([]watcher, n)
	}
	for i := range e.watchers {
		w := b[i*watcherSize:]
		e.watchers[i] = watcher{
			node:  binary.LittleEndian.Uint32(w),
			srvid: binary.LittleEndian.Uint64(w[4:]),
			id:    binary.LittleEndian.Uint64(w[12:]),
		}
	}
	b = b[n*watcherSize:]
	switch {
	case e.hasValue:
		e.value = b
	case len(b) > 0:
		return e, state.ErrCorrupt
	}
	return e, nil
}
