package tdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// compactSuffix names the copy a compaction writes next to the file.
	compactSuffix = ".compact"
	// compactChunk and compactChunkBytes bound one copy transaction.
	compactChunk      = 10000
	compactChunkBytes = 8 << 20
	// compactCatchUps bounds the copy passes over keys changed during the
	// previous pass that run before writers are held off.
	compactCatchUps = 4
	// compactFinalKeys is the number of changed keys small enough to copy
	// while writers are held off.
	compactFinalKeys = 1024
)

// Stats describe the storage of a database.
type Stats struct {
	// Records is the number of records.
	Records int
	// LiveBytes is the size of all keys and stored values (header plus
	// data), the least a compacted file needs.
	LiveBytes int64
	// FileSize is the size of the database file.
	FileSize int64
}

// Stats counts the records and their bytes and measures the file. It
// reads the file in chunks and does not hold off writers.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	st, err := db.stats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", db.path, err)
	}
	return st, nil
}

func (db *DB) stats(ctx context.Context) (Stats, error) {
	var out Stats
	if db.closed.Load() {
		return out, ErrClosed
	}
	if db.wb != nil {
		if err := db.wb.flush(); err != nil {
			return out, err
		}
	}
	for from := []byte{}; from != nil; {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var err error
		from, err = db.st.scan(from, compactChunk, compactChunkBytes, func(k, v []byte) error {
			out.Records++
			out.LiveBytes += int64(len(k) + len(v))
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	size, err := db.st.fileSize()
	out.FileSize = size
	return out, err
}

// CompactResult describes a compaction.
type CompactResult struct {
	SizeBefore int64
	SizeAfter  int64
	// Duration is the time the whole compaction took.
	Duration time.Duration
	// Pause is the time writes to the file were held off while the last
	// changes were copied and the files swapped. Buffered (non-persistent)
	// writes and all reads go on during it.
	Pause time.Duration
}

// Compact rewrites the database into a new, dense file and swaps it in,
// giving the space of deleted records back to the file system. It copies
// the records in chunks while the database stays in use, copies again what
// changed meanwhile, and holds off writers only for the last few changes
// and the swap. It stops when ctx ends or the database closes, leaving the
// old file in place.
func (db *DB) Compact(ctx context.Context) (CompactResult, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	res, err := db.compact(ctx)
	if err != nil {
		return res, fmt.Errorf("compact %s: %w", db.path, err)
	}
	db.log.Info("database compacted", "size_before", res.SizeBefore, "size_after", res.SizeAfter,
		"duration", res.Duration, "pause", res.Pause)
	return res, nil
}

func (db *DB) compact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	if db.closed.Load() {
		return res, ErrClosed
	}
	start := time.Now()
	// Deletions still in the buffer would otherwise be copied as records.
	if db.wb != nil {
		if err := db.wb.flush(); err != nil {
			return res, err
		}
	}
	var err error
	if res.SizeBefore, err = db.st.fileSize(); err != nil {
		return res, err
	}
	alive := func() error {
		select {
		case <-db.closing:
			return ErrClosed
		default:
			return ctx.Err()
		}
	}
	if res.Pause, err = db.st.compact(alive); err != nil {
		return res, err
	}
	res.Duration = time.Since(start)
	res.SizeAfter, err = db.st.fileSize()
	return res, err
}

// compact copies the store into a new file and swaps it in; see
// DB.Compact. alive reports why to stop early.
func (s *store) compact(alive func() error) (pause time.Duration, err error) {
	tmp := s.path + compactSuffix
	if err := removeFile(tmp); err != nil {
		return 0, err
	}
	// The copy is synced once at the end, not per chunk.
	ndb, err := openBolt(tmp, false)
	if err != nil {
		return 0, err
	}
	s.setTracker(&tracker{keys: make(map[string]struct{})})
	swapped := false
	defer func() {
		if !swapped {
			s.setTracker(nil)
			_ = ndb.Close()
			_ = removeFile(tmp)
		}
	}()

	if err := s.copyAll(ndb, alive); err != nil {
		return 0, err
	}
	for range compactCatchUps {
		if err := alive(); err != nil {
			return 0, err
		}
		t := s.setTracker(&tracker{keys: make(map[string]struct{})})
		if err := s.copyTracked(ndb, t); err != nil {
			return 0, err
		}
		if len(t.keys) < compactFinalKeys && !t.wiped {
			break
		}
	}

	s.writeMu.Lock()
	paused := time.Now()
	old, err := s.swapIn(ndb, tmp)
	swapped = old != nil
	s.writeMu.Unlock()
	pause = time.Since(paused)
	if swapped {
		// Close waits for the reads still running on the old file.
		if cerr := old.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close old file: %w", cerr)
		}
	}
	return pause, err
}

// setTracker installs t as the tracker of changed keys and returns the
// previous one.
func (s *store) setTracker(t *tracker) *tracker {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev := s.track
	s.track = t
	return prev
}

// swapIn copies the last changes into ndb, makes it durable, renames it
// over the database file and makes it current. writeMu must be held. It
// returns the old file once the swap happened, even with an error from
// after the rename.
func (s *store) swapIn(ndb *bolt.DB, tmp string) (*bolt.DB, error) {
	t := s.track
	s.track = nil
	if err := s.copyTracked(ndb, t); err != nil {
		return nil, err
	}
	ndb.NoSync = !s.persistent
	ndb.NoGrowSync = !s.persistent
	if err := ndb.Sync(); err != nil {
		return nil, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return nil, err
	}
	old := s.cur.Swap(ndb)
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		// The new file is in place but its name may not survive a crash,
		// and writes from now on go to it: a persistent store cannot
		// promise durability any more.
		err = fmt.Errorf("sync directory after rename: %w", err)
		if s.persistent {
			return old, s.fail(err)
		}
		return old, err
	}
	return old, nil
}

type kv struct{ k, v []byte }

// copyAll copies every record of the current file into ndb, chunk by
// chunk, each chunk in a short read transaction and one write transaction.
func (s *store) copyAll(ndb *bolt.DB, alive func() error) error {
	for from := []byte{}; from != nil; {
		if err := alive(); err != nil {
			return err
		}
		var chunk []kv
		var err error
		from, err = s.scan(from, compactChunk, compactChunkBytes, func(k, v []byte) error {
			chunk = append(chunk, kv{clone(k), clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		if err := putAll(ndb, chunk, false); err != nil {
			return err
		}
	}
	return nil
}

// copyTracked copies the keys t recorded from the current file into ndb:
// their values, or their deletion. A wipe recorded by t empties ndb first.
func (s *store) copyTracked(ndb *bolt.DB, t *tracker) error {
	keys := make([]string, 0, len(t.keys))
	for k := range t.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wipe := t.wiped
	for len(keys) > 0 || wipe {
		n := min(len(keys), compactChunk)
		chunk := make([]kv, n)
		err := s.view(func(b *bolt.Bucket) error {
			var kb []byte
			for i, k := range keys[:n] {
				kb = append(append(kb[:0], keyPrefix), k...)
				chunk[i] = kv{k: []byte(k)}
				if v := b.Get(kb); v != nil {
					chunk[i].v = clone(v)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := putAll(ndb, chunk, wipe); err != nil {
			return err
		}
		keys, wipe = keys[n:], false
	}
	return nil
}

// putAll writes chunk into ndb in one transaction, packing pages full:
// keys arrive in order. A nil value deletes. wipe empties ndb first.
func putAll(ndb *bolt.DB, chunk []kv, wipe bool) error {
	err := ndb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		if wipe {
			var err error
			if b, err = recreateBucket(tx); err != nil {
				return err
			}
		}
		b.FillPercent = 1.0
		var kb []byte
		for _, e := range chunk {
			kb = diskKey(kb[:0], e.k)
			if err := putOrDelete(b, kb, e.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write compacted copy: %w", err)
	}
	return nil
}
