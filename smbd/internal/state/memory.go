package state

import (
	"context"
	"slices"
	"sync"
)

// MemoryDB is an in-process DB with the same locking and watch semantics
// as the clustered store.
type MemoryDB struct {
	mu      sync.Mutex
	records map[string]*memEntry
}

type memEntry struct {
	lock     chan struct{} // buffered(1): holding the token means holding the lock
	data     []byte
	watchers map[*memWatch]struct{}
	refs     int
}

type memWatch struct{ ch chan struct{} }

// NewMemoryDB returns an empty database.
func NewMemoryDB() *MemoryDB { return &MemoryDB{records: map[string]*memEntry{}} }

func (m *MemoryDB) entry(key string) *memEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.records[key]
	if e == nil {
		e = &memEntry{lock: make(chan struct{}, 1), watchers: map[*memWatch]struct{}{}}
		m.records[key] = e
	}
	e.refs++
	return e
}

func (m *MemoryDB) release(key string, e *memEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.data == nil && len(e.watchers) == 0 {
		delete(m.records, key)
	}
}

// FetchLock implements DB.
func (m *MemoryDB) FetchLock(ctx context.Context, key []byte) (Record, error) {
	k := string(key)
	e := m.entry(k)
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		m.release(k, e)
		return nil, ctx.Err()
	}
	return &memRecord{db: m, key: k, e: e}, nil
}

// Len reports how many records exist (for tests).
func (m *MemoryDB) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.records {
		if e.data != nil {
			n++
		}
	}
	return n
}

type memRecord struct {
	db   *MemoryDB
	key  string
	e    *memEntry
	done bool
	own  []*memWatch // watches taken through this lock: not fired by its own store
}

func (r *memRecord) Data() []byte { return r.e.data }

func (r *memRecord) finish(changed bool) {
	if r.done {
		return
	}
	r.done = true
	if changed {
		r.db.mu.Lock()
		for w := range r.e.watchers {
			if !slices.Contains(r.own, w) {
				close(w.ch)
				delete(r.e.watchers, w)
			}
		}
		r.db.mu.Unlock()
	}
	<-r.e.lock
	r.db.release(r.key, r.e)
}

func (r *memRecord) Store(_ context.Context, data []byte) error {
	r.e.data = append([]byte{}, data...)
	r.finish(true)
	return nil
}

func (r *memRecord) Delete(_ context.Context) error {
	r.e.data = nil
	r.finish(true)
	return nil
}

func (r *memRecord) Unlock() { r.finish(false) }

func (r *memRecord) Watch() (<-chan struct{}, func()) {
	w := &memWatch{ch: make(chan struct{})}
	r.own = append(r.own, w)
	r.db.mu.Lock()
	r.e.watchers[w] = struct{}{}
	r.e.refs++
	r.db.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			r.db.mu.Lock()
			delete(r.e.watchers, w)
			r.db.mu.Unlock()
			r.db.release(r.key, r.e)
		})
	}
}
