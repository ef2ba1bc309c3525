package tdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// DefaultBatch is the batch size Records uses for batch <= 0, and the
	// chunk size of Traverse and Import.
	DefaultBatch = 1000
	// chunkBytes bounds the bytes read in one read transaction, so large
	// values do not make a chunk hold the file for long.
	chunkBytes = 4 << 20
)

// Traverse calls fn for every record, in key order. It reads the file in
// chunks of short read transactions, resuming by key, so it never holds
// off writers: other goroutines may write meanwhile, and fn may itself
// read and write the database. Every record that exists for the whole
// traverse is seen exactly once, with its value as of when its chunk was
// read; records created or deleted during the traverse may or may not be
// seen. fn returning ErrStopTraverse ends the traverse without error.
func (db *DB) Traverse(ctx context.Context, fn func(Record) error) error {
	return db.Records(ctx, DefaultBatch, func(recs []Record) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Records is Traverse in batches, for bulk export (recovery collects a
// database with it): fn gets up to batch records at a time (fewer when
// their values are large), which it may keep. batch <= 0 means
// DefaultBatch.
func (db *DB) Records(ctx context.Context, batch int, fn func([]Record) error) error {
	if err := db.records(ctx, batch, fn); err != nil && !errors.Is(err, ErrStopTraverse) {
		return fmt.Errorf("traverse %s: %w", db.path, err)
	}
	return nil
}

func (db *DB) records(ctx context.Context, batch int, fn func([]Record) error) error {
	if batch <= 0 {
		batch = DefaultBatch
	}
	if db.closed.Load() {
		return ErrClosed
	}
	// With everything buffered so far in the file, every record that
	// exists for the whole traverse is in the file: later changes to it
	// are updates, which the buffer lookup in overlay picks up.
	if db.wb != nil {
		if err := db.wb.flush(); err != nil {
			return err
		}
	}
	for from := []byte{}; from != nil; {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs := make([]Record, 0, min(batch, DefaultBatch))
		next, err := db.st.scan(from, batch, chunkBytes, func(k, v []byte) error {
			rec, err := decodeRecord(k, v)
			recs = append(recs, rec)
			return err
		})
		if err != nil {
			return err
		}
		from = next
		if db.wb != nil {
			if recs, err = db.overlay(recs); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
		}
	}
	return nil
}

// overlay replaces records read from the file with their buffered newer
// versions and drops those deleted since.
func (db *DB) overlay(recs []Record) ([]Record, error) {
	out := recs[:0]
	for _, r := range recs {
		v, found, err := db.wb.lookup(r.Key)
		if err != nil {
			return nil, err
		}
		switch {
		case !found:
			out = append(out, r)
		case v != nil:
			nr, err := decodeRecord(r.Key, v)
			if err != nil {
				return nil, err
			}
			out = append(out, nr)
		}
	}
	return out, nil
}

// Import stores recs, for bulk loads such as a recovery push into a
// volatile database. It writes in chunks, each applied atomically; a
// failure can leave earlier chunks applied. Use Update for an
// all-or-nothing push. Later records win over earlier ones with the same
// key. A persistent database has every chunk durable when Import returns.
func (db *DB) Import(ctx context.Context, recs []Record) error {
	for _, r := range recs {
		if err := checkRecord(r.Key, r.Data); err != nil {
			return fmt.Errorf("import key %x: %w", r.Key, err)
		}
	}
	if err := db.importChunks(ctx, recs); err != nil {
		return fmt.Errorf("import %s: %w", db.path, err)
	}
	return nil
}

func (db *DB) importChunks(ctx context.Context, recs []Record) error {
	var pending []<-chan error
	var err error
	for len(recs) > 0 && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		n := min(len(recs), DefaultBatch)
		ws := &writeSet{ops: make([]op, n)}
		for i, r := range recs[:n] {
			ws.ops[i] = op{key: string(r.Key), val: EncodeValue(r.Header, r.Data)}
		}
		recs = recs[n:]
		if db.wb != nil {
			if err = db.wb.waitRoom(ctx); err == nil {
				err = db.wb.applySet(ws)
			}
			continue
		}
		// Sorted keys make bbolt touch each page once; the stable sort
		// keeps the last of equal keys last.
		slices.SortStableFunc(ws.ops, func(a, b op) int { return strings.Compare(a.key, b.key) })
		pending = append(pending, db.cmt.submit(ws))
	}
	// Chunks already queued are committed whatever happens; wait for them
	// so that Import never returns with writes still in flight.
	for _, p := range pending {
		if perr := <-p; err == nil {
			err = perr
		}
	}
	return err
}
