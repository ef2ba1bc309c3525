// Package tdb is the local record store of every clustered database: the
// part of a node that CTDB keeps in its local TDB files ("ltdb").
//
// # Model
//
// A database is a set of records. Each record maps a key to a Header
// {RSN, DMaster, Flags} and data; keys and data are arbitrary bytes (the
// empty key and empty data included). On disk a record is one bbolt
// key/value pair whose value is the 16-byte little-endian header followed
// by the data (EncodeValue, DecodeValue). Each database is one bbolt file,
// so databases never contend with one another.
//
// The package knows nothing about clusters. The database service builds on
// it: volatile databases migrate records by taking a key lock, checking
// DMaster and RSN with Fetch and writing with Store; persistent databases
// commit transactions with Update; recovery freezes a database, exports it
// with Records and pushes the merged result with Update (Tx.Wipe, then
// stores) or Import; vacuuming walks it with Traverse, deletes under
// TryLock, and shrinks the file with Compact.
//
// # Persistent and non-persistent databases
//
// Options.Persistent selects the write path:
//
//   - Persistent: Store, Delete, Update and Import go to one committer
//     goroutine, which commits everything queued in one fsynced bbolt
//     transaction (group commit). A write returns when it is durable.
//   - Non-persistent (volatile and replicated databases): writes land in an
//     in-memory write-back buffer and return at once; a flusher goroutine
//     writes the buffer to the file in sorted batches, without fsync, when
//     it fills up and at least every FlushInterval. Reads consult the buffer
//     first. Close flushes it. Such files are undefined after a crash, which
//     is why volatile databases are opened with Options.Wipe.
//
// # Guarantees
//
//   - Visibility: a read (Fetch, Traverse, Records, Tx.Fetch) sees every
//     write that returned before the read began.
//   - Atomicity: Store and Delete change one record atomically. Update
//     applies all changes of its function or none; no reader sees part of
//     them. Wipe is an Update. Import is atomic per chunk only.
//   - Durability: in a persistent database, a write that returned nil is
//     on disk, as one fsynced bbolt commit per write or Update. In a
//     non-persistent database nothing is durable; a clean Close leaves the
//     file complete.
//   - Isolation: Updates run one at a time and each sees all earlier ones.
//     They do not exclude plain Store and Delete: the database service
//     orders those with key locks (or Freeze), as CTDB orders writers with
//     chain locks.
//   - Traverse: reads in bounded chunks of short read transactions and
//     resumes by key, so it never holds off writers (a long bbolt read
//     transaction would block a writer that has to grow the memory map).
//     Every record present for the whole traverse is seen exactly once.
//   - Failure: when writing the file fails, the database refuses all
//     further writes with ErrBroken; Fetch goes on working. Close it and
//     open it again (a volatile one wiped).
//
// # Key locks
//
// Lock, TryLock and Lock.Unlock are CTDB's chain locks, held in process
// memory: per-key mutual exclusion, granted in arrival order, advisory
// (Store and Fetch do not check them). Freeze stops granting locks and
// waits until held ones are released, as recovery needs; Thaw resumes
// granting. LockStats gives CTDB's lock statistics.
//
// # Compaction
//
// bbolt never shrinks a file by itself. Compact copies the live records
// into a new file while the database stays in use, catches up with changes
// made meanwhile, and swaps the files under a short pause of file writers
// only; Stats tells how much of the file is live.
package tdb
