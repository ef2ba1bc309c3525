// Package vacuum holds gctdb's vacuuming rules, shared by the database
// service (which keeps the delete queue and carries out the deletions)
// and the vacuum service (which decides when and what to vacuum).
//
// # What vacuuming does
//
// Deleting a record of a volatile database leaves a tombstone (the record
// header with RecFlagDeleted) on its data master: other nodes may still
// hold older copies, and a recovery must not bring those back. Vacuuming
// removes tombstones cluster-wide, in CTDB's three phases, through the
// record's location master:
//
//  1. Each node finds the tombstones it is the data master of: the keys
//     its clients deleted since the last run (the DeleteQueue, every
//     VacuumInterval) or, every VacuumFastPathCount runs, a full scan of
//     its copy. Records that are locked are skipped and queued again.
//  2. It hands them, grouped by location master (Plan), in batches of at
//     most BatchSize, to their location master, which takes each record's
//     migration turn (skipping records being migrated), and asks every
//     other active node to drop its copy: the data master drops its
//     tombstone only if the record is still deleted with the same RSN and
//     nobody holds its lock; the others drop their older copies.
//  3. Only if every node dropped its copy does the location master drop
//     its own. A record re-created meanwhile keeps its new value, and a
//     batch carries the generation it was found in, so a recovery in
//     between makes every node refuse it.
//
// Durable tombstones of per-record-persistent databases are dropped the
// same way, but only while every node of the cluster is active: a node
// that is down keeps its durable store, and would otherwise bring back a
// durable record whose deletion everyone else has forgotten.
//
// Nothing here holds a database-wide lock: scans read in short chunks,
// every deletion takes one record's lock with TryLock, and batches are
// bounded, so vacuuming never holds up clients, migrations, elections or
// leader broadcasts. Compaction (ShouldCompact) gives the space of
// deleted records back to the file system online.
package vacuum
