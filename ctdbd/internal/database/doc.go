// Package database is the database service: gctdb's clustered databases
// with CTDB's semantics, on top of package tdb's local record stores.
//
// # Database types
//
//   - Volatile: every record lives on its data master (dmaster); its
//     location master (lmaster, vnnmap[Hash(key) % len(vnnmap)]) always
//     knows which node that is. Files are wiped when the daemon starts.
//   - Persistent: a full copy on every node, changed only by transactions
//     committed on every active node; the __db_sequence_number__ record
//     counts them. Files are fsynced and kept.
//   - Replicated: like persistent, without fsync, wiped at start.
//   - Per-record persistent: volatile, except that records stored as
//     durable are fsynced and replicated to the durable store of every
//     active node before the store returns, so they outlive their node:
//     every node reloads its durable store at start, and a lmaster whose
//     record's dmaster is gone carries on from its durable copy when
//     that is newer.
//
// # Record locks and migration
//
// A client's fetch-lock is one round trip: the node takes the key lock
// (tdb's per-key FIFO lock) for the client, makes sure it is the record's
// dmaster, and answers with the record; the lock stays with the node until
// the client's one-way unlock (which may carry a store or a delete) or its
// disconnection. When this node already is the dmaster and nobody holds
// the key, the answer comes straight from the dispatch goroutine.
//
// Otherwise the record migrates, always through its lmaster, which runs
// one migration of a key at a time (a FIFO per key) and so always knows
// the dmaster: the requester, holding its own key lock, asks the lmaster
// (OpMigrate); the lmaster asks the dmaster (OpMigrateFetch), which takes
// its key lock (waiting for its own clients), hands the record over and
// keeps a copy marked with the new dmaster; the lmaster stores a copy with
// the RSN bumped and answers the requester, who stores it as dmaster.
// Grants are one-way messages applied by the requester's dispatch
// goroutine in arrival order, and the lmaster sends a grant before the
// key's next migration may start: so a grant always reaches its node
// before anything the next migration of the key sends there, and is
// applied even when nobody waits for it any more. Every copy carries an
// RSN; the newest copy of a record always has the highest, which is what
// recovery relies on.
//
// A dmaster that no longer holds a record the lmaster thinks it holds
// (a migration whose answer was lost, a node that restarted) answers with
// whatever copy it has; the lmaster then takes the newest of that copy and
// its own, becomes dmaster itself and carries on. Nothing written by a
// dmaster is lost that way, because a dmaster keeps its copy when it hands
// a record on.
//
// # Read-only delegations and sticky records
//
// In a database with read-only records enabled, a read-only fetch on a
// node without the record gets a copy flagged RO_HAVE_READONLY through the
// lmaster, and the dmaster flags its record RO_HAVE_DELEGATIONS. Before
// the dmaster lets anyone write (a local fetch-lock, a migration away) it
// revokes every copy on every connected node and waits for all of them.
// A copy whose revocation overtook it on the way is never stored.
//
// In a sticky database a record that migrated to a node stays there for
// StickyPindown milliseconds before it may leave again, so the node's own
// clients use it in a row instead of bouncing it.
//
// # Transactions
//
// Each persistent or replicated database has a transaction master (a node
// of the vnnmap) that grants its transaction lock in FIFO order. The
// holder reads its local copy, and commits in two phases: every active
// node stages the writes and checks that it is at the sequence number the
// transaction starts from, then every node applies them in one atomic,
// durable store update.
//
// # Concurrency
//
// Dispatch never waits: anything that can block (a key lock, another
// node) runs in a goroutine the service owns and joins in Run. Record
// writes of one key are serialised by a striped mutex held only around a
// read and a write; the key locks, held by clients for as long as they
// like, are never taken while waiting on another node's answer, except by
// the migration that is waiting for exactly that answer.
package database
