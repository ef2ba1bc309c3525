package tdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// MaxKeySize is the longest key a database accepts.
	MaxKeySize = bolt.MaxKeySize - 1
	// MaxDataSize is the longest record data a database accepts.
	MaxDataSize = 1<<30 - HeaderSize

	// keyPrefix goes in front of every key in the file: bbolt refuses
	// empty keys, CTDB's databases do not.
	keyPrefix = 'r'

	// openTimeout bounds the wait for the file lock another process holds.
	openTimeout = 5 * time.Second
)

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	metaFormat    = []byte("format")
	formatV1      = []byte("gctdb-tdb-1")
)

// op is one change of a writeSet: val is the stored value (header and
// data), or nil to delete the key.
type op struct {
	key string
	val []byte
}

// writeSet is a group of changes that reach the file in one bbolt
// transaction: first the wipe, if any, then ops in order.
type writeSet struct {
	wipe bool
	ops  []op
}

// tracker collects the keys written while a compaction copies the file, so
// that it can copy them again before swapping files.
type tracker struct {
	keys  map[string]struct{}
	wiped bool
}

// store is the bbolt file of a database. All writes go through apply, under
// writeMu; reads run in short read transactions and follow the file when
// compaction swaps it.
type store struct {
	path       string
	persistent bool

	cur atomic.Pointer[bolt.DB]

	writeMu sync.Mutex
	track   *tracker // guarded by writeMu; non-nil while compacting

	broken atomic.Pointer[error]
}

func diskKey(dst, key []byte) []byte {
	return append(append(dst, keyPrefix), key...)
}

// openBolt opens (creating if needed) a bbolt file in this package's
// format.
func openBolt(path string, persistent bool) (*bolt.DB, error) {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoSync:         !persistent,
		NoGrowSync:     !persistent,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		NoStatistics:   true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: file locked by another process: %w", path, err)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A file without our meta bucket must be new and empty.
			if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return fmt.Errorf("%w: unexpected bucket %q", ErrFormat, name)
			}); err != nil {
				return err
			}
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := m.Put(metaFormat, formatV1); err != nil {
				return err
			}
			_, err = tx.CreateBucket(bucketRecords)
			return err
		}
		if f := meta.Get(metaFormat); !bytes.Equal(f, formatV1) || tx.Bucket(bucketRecords) == nil {
			return fmt.Errorf("%w: format %q", ErrFormat, f)
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return bdb, nil
}

func newStore(path string, persistent bool) (*store, error) {
	bdb, err := openBolt(path, persistent)
	if err != nil {
		return nil, err
	}
	s := &store{path: path, persistent: persistent}
	s.cur.Store(bdb)
	return s, nil
}

// failure returns the error that broke the store, or nil.
func (s *store) failure() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first write error; later writes all return it.
func (s *store) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrBroken, cause)
	s.broken.CompareAndSwap(nil, &err)
	return s.failure()
}

// view runs fn in a read transaction of the current file. When compaction
// closed the file fn was about to read, it retries on the new one.
func (s *store) view(fn func(b *bolt.Bucket) error) error {
	for {
		bdb := s.cur.Load()
		err := bdb.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketRecords)) })
		if errors.Is(err, berrors.ErrDatabaseNotOpen) {
			if s.cur.Load() != bdb {
				continue
			}
			return ErrClosed
		}
		return err
	}
}

// get calls fn with the stored value of key, valid only during the call.
func (s *store) get(key []byte, fn func(v []byte) error) error {
	var buf [128]byte
	k := diskKey(buf[:0], key)
	return s.view(func(b *bolt.Bucket) error {
		v := b.Get(k)
		if v == nil {
			return ErrNotFound
		}
		return fn(v)
	})
}

// scan calls fn, in key order, for the records whose keys are >= from,
// until it has passed max records or maxBytes bytes (always at least one).
// It returns the key to resume from, or nil when no records are left. Key
// and value passed to fn are valid only during the call.
func (s *store) scan(from []byte, max, maxBytes int, fn func(k, v []byte) error) ([]byte, error) {
	var next []byte
	err := s.view(func(b *bolt.Bucket) error {
		next = nil
		c := b.Cursor()
		n, size := 0, 0
		for k, v := c.Seek(diskKey(nil, from)); k != nil; k, v = c.Next() {
			if n >= max || size >= maxBytes {
				next = clone(k[1:])
				return nil
			}
			if err := fn(k[1:], v); err != nil {
				return err
			}
			n++
			size += len(k) + len(v)
		}
		return nil
	})
	return next, err
}

// apply writes the sets in one bbolt transaction. Any failure breaks the
// store: callers validate input first, so an error here is the file's.
func (s *store) apply(sets ...*writeSet) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.failure(); err != nil {
		return err
	}
	err := s.cur.Load().Update(func(tx *bolt.Tx) error {
		return applySets(tx, s.track, sets)
	})
	if err != nil {
		return s.fail(fmt.Errorf("write %s: %w", s.path, err))
	}
	return nil
}

func applySets(tx *bolt.Tx, t *tracker, sets []*writeSet) error {
	b := tx.Bucket(bucketRecords)
	var kb []byte
	for _, ws := range sets {
		if ws.wipe {
			var err error
			if b, err = recreateBucket(tx); err != nil {
				return err
			}
			if t != nil {
				t.wiped = true
				clear(t.keys)
			}
		}
		for _, o := range ws.ops {
			kb = append(append(kb[:0], keyPrefix), o.key...)
			if err := putOrDelete(b, kb, o.val); err != nil {
				return fmt.Errorf("key %x: %w", o.key, err)
			}
			if t != nil {
				t.keys[o.key] = struct{}{}
			}
		}
	}
	return nil
}

// putOrDelete writes v under k, or deletes k when v is nil.
func putOrDelete(b *bolt.Bucket, k, v []byte) error {
	if v == nil {
		return b.Delete(k)
	}
	return b.Put(k, v)
}

func recreateBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	if err := tx.DeleteBucket(bucketRecords); err != nil {
		return nil, err
	}
	return tx.CreateBucket(bucketRecords)
}

// close closes the current file.
func (s *store) close() error {
	if err := s.cur.Load().Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// fileSize returns the size of the database file.
func (s *store) fileSize() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", s.path, err)
	}
	return fi.Size(), nil
}

// syncDir makes a rename or creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeFile removes path, treating a missing file as removed.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
