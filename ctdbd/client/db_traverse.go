package client

import (
	"context"
	"errors"
	"fmt"

	"gctdb/transportd/proto"
)

// ErrStopTraverse may be returned by a traverse callback to end the
// traverse early without error.
var ErrStopTraverse = errors.New("client: stop traverse")

// TraverseOptions select what a traverse lists.
type TraverseOptions struct {
	// Local lists the connected node's own copies only, all of them,
	// whatever node is their data master (ctdb cattdb). Without it a
	// volatile database is listed cluster-wide, each record once from its
	// data master, and a persistent or replicated one from this node's
	// full copy.
	Local bool
	// WithDeleted includes deleted records (tombstones).
	WithDeleted bool
}

// Traverse calls fn for every record of the database. A cluster-wide
// traverse lists every record that exists for its whole duration exactly
// once, even if it migrates meanwhile; records created or deleted
// meanwhile may or may not be listed. fn may not lock records of the same
// database on this connection's behalf while the traverse waits for it
// (it may read them). fn returning ErrStopTraverse ends the traverse
// without error.
func (db *DB) Traverse(ctx context.Context, opts TraverseOptions, fn func(proto.Record) error) error {
	return db.TraverseBatches(ctx, opts, func(recs []proto.Record) error {
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// TraverseBatches is Traverse in batches, for bulk reading (backups).
func (db *DB) TraverseBatches(ctx context.Context, opts TraverseOptions, fn func([]proto.Record) error) error {
	req := proto.TraverseStart{DBID: db.info.DBID}
	if opts.Local {
		req.Flags |= proto.TraverseLocal
	}
	if opts.WithDeleted {
		req.Flags |= proto.TraverseWithDeleted
	}
	var id proto.U64
	if err := db.control(ctx, proto.OpTraverseStart, &req, &id); err != nil {
		return fmt.Errorf("traverse: %w", err)
	}
	ref := proto.TraverseRef{ID: id.V}
	for {
		var b proto.RecordBatch
		if err := db.control(ctx, proto.OpTraverseNext, &ref, &b); err != nil {
			db.c.Send(proto.Endpoint{PNN: db.pnn, Service: proto.ServiceDatabase}, proto.OpTraverseEnd, &ref)
			return fmt.Errorf("traverse: %w", err)
		}
		if len(b.Records) > 0 {
			if err := fn(b.Records); err != nil {
				if !b.Done {
					db.c.Send(proto.Endpoint{PNN: db.pnn, Service: proto.ServiceDatabase}, proto.OpTraverseEnd, &ref)
				}
				if errors.Is(err, ErrStopTraverse) {
					return nil
				}
				return err
			}
		}
		if b.Done {
			return nil
		}
	}
}
