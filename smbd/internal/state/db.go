// Package state holds smbd's cluster-visible state: share modes of open
// files, byte-range locks and sessions. Each kind lives in its own
// volatile clustered database, one record per file (keyed by FileKey,
// i.e. device and inode) or per session, so that any node finds it. Every
// change is "fetch-lock the record, modify, store": one round trip in the
// gctdb store. Records are encoded explicitly (little-endian, versioned).
//
// The DB interface is what a clustered store must provide, and Bus
// carries messages between the smbd processes of the cluster (oplock
// breaks for opens another process serves). smbd runs on the gctdb
// implementation (package clusterstate); MemoryDB and MemoryBus implement
// them inside one process for unit tests.
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

// Process names one smbd process of the cluster: its node and an id
// chosen at its start, so that a restarted smbd's leftovers are told
// apart from its new opens.
type Process struct {
	Node     uint32
	Instance uint64
}

// Bus carries messages between smbd processes. Delivery is best effort
// and in order between two processes; a message to a process that is gone
// is dropped.
type Bus interface {
	// Self is this process.
	Self() Process
	// Send delivers msg to process to.
	Send(to Process, msg []byte) error
	// Handle sets the function that receives this process's messages,
	// one at a time. It is set once, before the process serves clients.
	Handle(fn func(msg []byte))
	// Alive reports whether process p still runs. It answers false only
	// when p is known to be gone (its node is down, or the node has no
	// such process), so entries of p may be dropped.
	Alive(ctx context.Context, p Process) bool
}

// Store is the set of databases smbd keeps its state in, and the bus to
// the other smbd processes.
type Store struct {
	ShareModes DB // key: FileKey; value: ShareModes
	Locks      DB // key: FileKey; value: Locks
	Sessions   DB // key: session id; value: Session
	Bus        Bus
}

// MemoryCluster is a set of Stores in one process that share their
// databases, as the smbd processes of a cluster do: unit tests run
// several servers ("nodes") on it.
type MemoryCluster struct {
	shareModes, locks, sessions *MemoryDB
	hub                         *memoryHub
}

// NewMemoryCluster returns a cluster without processes.
func NewMemoryCluster() *MemoryCluster {
	return &MemoryCluster{shareModes: NewMemoryDB(), locks: NewMemoryDB(), sessions: NewMemoryDB(),
		hub: &memoryHub{procs: map[Process]*MemoryBus{}}}
}

// Join returns the Store of a new process on node.
func (m *MemoryCluster) Join(node uint32) *Store {
	return &Store{ShareModes: m.shareModes, Locks: m.locks, Sessions: m.sessions, Bus: m.hub.join(node)}
}

// NewMemoryStore returns the Store of the only process of a new
// MemoryCluster, on node 0.
func NewMemoryStore() *Store { return NewMemoryCluster().Join(0) }
