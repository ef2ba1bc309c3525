package tdb

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a database at Open.
type Options struct {
	// Persistent makes every committed write durable (fsynced) before it
	// returns. Without it writes are buffered in memory, flushed to the
	// file in batches without fsync, and lost in a crash.
	Persistent bool
	// Wipe starts the database empty, discarding the file's contents.
	// Volatile databases are opened with Wipe.
	Wipe bool
	// Logger receives the database's log records; nil discards them.
	Logger *slog.Logger
	// FlushInterval bounds how long a write to a non-persistent database
	// stays only in memory; zero means DefaultFlushInterval.
	FlushInterval time.Duration
}

// DB is one database: one bbolt file plus the in-memory lock table. All
// methods are safe for concurrent use.
type DB struct {
	path       string
	persistent bool
	log        *slog.Logger

	st    *store
	wb    *writeBack // non-persistent databases
	cmt   *committer // persistent databases
	locks *lockTable

	txSem     chan struct{} // serializes Update
	compactMu sync.Mutex    // one compaction at a time; Close waits for it

	closed    atomic.Bool
	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens the database file at path, creating it if needed.
func Open(path string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("db", filepath.Base(path))
	if opts.Wipe {
		// Removing the file rather than emptying it also recovers from a
		// file a crash left inconsistent, which unsynced files may be.
		if err := removeFile(path); err != nil {
			return nil, fmt.Errorf("wipe %s: %w", path, err)
		}
	}
	// A copy left by a compaction that did not finish is never valid.
	if err := removeFile(path + compactSuffix); err != nil {
		return nil, fmt.Errorf("open %s: remove stale compaction copy: %w", path, err)
	}
	st, err := newStore(path, opts.Persistent)
	if err != nil {
		return nil, err
	}
	if opts.Persistent && opts.Wipe {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = st.close()
			return nil, fmt.Errorf("open %s: sync directory: %w", path, err)
		}
	}
	db := &DB{
		path:       path,
		persistent: opts.Persistent,
		log:        log,
		st:         st,
		locks:      newLockTable(),
		txSem:      make(chan struct{}, 1),
		closing:    make(chan struct{}),
	}
	if opts.Persistent {
		db.cmt = newCommitter(st)
	} else {
		interval := opts.FlushInterval
		if interval <= 0 {
			interval = DefaultFlushInterval
		}
		db.wb = newWriteBack(st, log, interval)
	}
	log.Debug("database opened", "path", path, "persistent", opts.Persistent, "wiped", opts.Wipe)
	return db, nil
}

// Path returns the path of the database file.
func (db *DB) Path() string { return db.path }

// Persistent reports whether the database was opened with Persistent.
func (db *DB) Persistent() bool { return db.persistent }

// Close waits for a running compaction to stop, fails waiting lock
// requests, writes every buffered change to the file and closes it.
// Calling Close again returns the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		close(db.closing)
		db.locks.close()
		db.compactMu.Lock()
		defer db.compactMu.Unlock()
		var err error
		if db.wb != nil {
			err = db.wb.close()
		} else {
			db.cmt.close()
		}
		if cerr := db.st.close(); err == nil {
			err = cerr
		}
		db.closeErr = err
		db.log.Debug("database closed", "err", err)
	})
	return db.closeErr
}

// Fetch returns the record stored under key, or ErrNotFound.
func (db *DB) Fetch(key []byte) (Record, error) {
	rec, err := db.fetch(key)
	if err != nil {
		return Record{}, fmt.Errorf("fetch %x: %w", key, err)
	}
	return rec, nil
}

func (db *DB) fetch(key []byte) (Record, error) {
	if db.wb != nil {
		v, found, err := db.wb.lookup(key)
		if err != nil {
			return Record{}, err
		}
		if found {
			if v == nil {
				return Record{}, ErrNotFound
			}
			return decodeRecord(key, v)
		}
	} else if db.closed.Load() {
		return Record{}, ErrClosed
	}
	var rec Record
	err := db.st.get(key, func(v []byte) error {
		var err error
		rec, err = decodeRecord(key, v)
		return err
	})
	return rec, err
}

// Store writes the record for key, replacing any earlier one. Data may be
// empty. It returns once the record is visible to every reader and, for a
// persistent database, durable.
func (db *DB) Store(key []byte, h Header, data []byte) error {
	if err := checkRecord(key, data); err != nil {
		return fmt.Errorf("store %x: %w", key, err)
	}
	if err := db.write(key, EncodeValue(h, data)); err != nil {
		return fmt.Errorf("store %x: %w", key, err)
	}
	return nil
}

// Delete removes the record for key. Deleting a missing key is not an
// error.
func (db *DB) Delete(key []byte) error {
	if err := checkRecord(key, nil); err != nil {
		return fmt.Errorf("delete %x: %w", key, err)
	}
	if err := db.write(key, nil); err != nil {
		return fmt.Errorf("delete %x: %w", key, err)
	}
	return nil
}

func (db *DB) write(key, val []byte) error {
	if db.wb != nil {
		return db.wb.put(key, val)
	}
	return db.cmt.commit(&writeSet{ops: []op{{key: string(key), val: val}}})
}

// Wipe deletes every record, atomically.
func (db *DB) Wipe(ctx context.Context) error {
	if err := db.Update(ctx, func(tx *Tx) error { tx.Wipe(); return nil }); err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	return nil
}

func checkRecord(key, data []byte) error {
	if len(key) > MaxKeySize {
		return fmt.Errorf("%d bytes: %w", len(key), ErrKeyTooLarge)
	}
	if len(data) > MaxDataSize {
		return fmt.Errorf("%d bytes: %w", len(data), ErrValueTooLarge)
	}
	return nil
}

// Update runs fn in a transaction and applies the changes it made through
// tx all at once: either all of them become visible (and, for a persistent
// database, durable in one fsynced commit) or, when fn or the commit fails,
// none. Updates run one at a time, so fn's reads see every earlier Update;
// they do not exclude plain Store and Delete, which callers order with key
// locks or Freeze. fn must not call Update.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("update: %w", ErrClosed)
	}
	select {
	case db.txSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("update: %w", ctx.Err())
	case <-db.closing:
		return fmt.Errorf("update: %w", ErrClosed)
	}
	defer func() { <-db.txSem }()
	tx := &Tx{db: db, writes: make(map[string][]byte)}
	err := fn(tx)
	tx.done = true
	if err != nil {
		return err
	}
	ws := tx.writeSet()
	if !ws.wipe && len(ws.ops) == 0 {
		return nil
	}
	if err := db.apply(ws); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// apply makes ws visible atomically (and durable when persistent).
func (db *DB) apply(ws *writeSet) error {
	if db.wb != nil {
		return db.wb.applySet(ws)
	}
	return db.cmt.commit(ws)
}

// Tx is the handle an Update function reads and writes through. Its reads
// see its own writes. It must not be used after the function returns.
type Tx struct {
	db     *DB
	writes map[string][]byte // nil value: deleted
	wiped  bool
	done   bool
}

// Fetch returns the record for key as this transaction sees it.
func (tx *Tx) Fetch(key []byte) (Record, error) {
	if tx.done {
		return Record{}, ErrTxDone
	}
	if v, ok := tx.writes[string(key)]; ok {
		if v == nil {
			return Record{}, fmt.Errorf("fetch %x: %w", key, ErrNotFound)
		}
		return decodeRecord(key, v)
	}
	if tx.wiped {
		return Record{}, fmt.Errorf("fetch %x: %w", key, ErrNotFound)
	}
	return tx.db.Fetch(key)
}

// Store writes the record for key when the transaction commits.
func (tx *Tx) Store(key []byte, h Header, data []byte) error {
	if tx.done {
		return ErrTxDone
	}
	if err := checkRecord(key, data); err != nil {
		return fmt.Errorf("store %x: %w", key, err)
	}
	tx.writes[string(key)] = EncodeValue(h, data)
	return nil
}

// Delete removes the record for key when the transaction commits.
func (tx *Tx) Delete(key []byte) error {
	if tx.done {
		return ErrTxDone
	}
	if err := checkRecord(key, nil); err != nil {
		return fmt.Errorf("delete %x: %w", key, err)
	}
	if tx.wiped {
		delete(tx.writes, string(key))
		return nil
	}
	tx.writes[string(key)] = nil
	return nil
}

// Wipe deletes every record, including those this transaction stored
// before; later writes of the transaction are kept. Recovery pushes a
// database as Wipe followed by stores, in one Update.
func (tx *Tx) Wipe() {
	if tx.done {
		return
	}
	tx.wiped = true
	clear(tx.writes)
}

// writeSet returns the transaction's changes sorted by key.
func (tx *Tx) writeSet() *writeSet {
	ws := &writeSet{wipe: tx.wiped, ops: make([]op, 0, len(tx.writes))}
	for k, v := range tx.writes {
		ws.ops = append(ws.ops, op{key: k, val: v})
	}
	slices.SortFunc(ws.ops, func(a, b op) int { return strings.Compare(a.key, b.key) })
	return ws
}
