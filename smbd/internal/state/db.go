// Package state holds smbd's cluster-visible state: share modes of open
// files, byte-range locks and sessions. Each kind lives in its own
// volatile clustered database, one record per file (keyed by FileKey,
// i.e. device and inode) or per session, so that any node finds it. Every
// change is "fetch-lock the record, modify, store": one round trip in the
// gctdb store. Records are encoded explicitly (little-endian, versioned).
//
// The DB interface is what a clustered store must provide; MemoryDB
// implements it in one process for tests and development.
package state

import (
	"context"
	"errors"
)

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("state: store closed")

// DB is one volatile clustered database.
type DB interface {
	// FetchLock returns the record for key, locked cluster-wide until the
	// caller calls Store, Delete or Unlock. A missing record has nil Data.
	FetchLock(ctx context.Context, key []byte) (Record, error)
}

// Record is a locked record.
type Record interface {
	// Data is the current value (nil if the record does not exist).
	Data() []byte
	// Store writes data and releases the lock.
	Store(ctx context.Context, data []byte) error
	// Delete removes the record and releases the lock.
	Delete(ctx context.Context) error
	// Unlock releases the lock without a change.
	Unlock()
	// Watch registers interest in the next change of this record: a Store
	// or Delete under a later lock (the Store or Delete that releases this
	// lock does not count). It must be called while the lock is held, so
	// no change can slip in between. The returned channel is closed on
	// that change; cancel drops the watch.
	// The gctdb store implements it with a cluster message from the node
	// that changes the record.
	Watch() (changed <-chan struct{}, cancel func())
}

// Store is the set of databases smbd keeps its state in.
type Store struct {
	ShareModes DB // key: FileKey; value: ShareModes
	Locks      DB // key: FileKey; value: Locks
	Sessions   DB // key: session id; value: Session
}

// NewMemoryStore returns a Store backed by three MemoryDBs.
func NewMemoryStore() *Store {
	return &Store{ShareModes: NewMemoryDB(), Locks: NewMemoryDB(), Sessions: NewMemoryDB()}
}
