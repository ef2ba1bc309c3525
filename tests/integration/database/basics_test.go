//go:build integration

package database

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// TestBasics001Attach is basics.001/002: a database of each type attached
// on one node is attached on every node with CTDB's id and flags, and a
// name cannot be attached as two types.
func TestBasics001Attach(t *testing.T) {
	t.Parallel()
	c := cluster(t, 10, 3)
	for name, typ := range map[string]string{"attach_v.tdb": "", "attach_p.tdb": "persistent", "attach_r.tdb": "replicated", "attach_d.tdb": "per-record-persistent"} {
		args := []string{"attach", name}
		if typ != "" {
			args = append(args, typ)
		}
		c.CtdbOK(t, 0, args...)
	}
	for i := 0; i < 3; i++ {
		out := c.CtdbOK(t, i, "getdbmap")
		assert.Contains(t, out, "Number of databases:4")
		assert.Regexp(t, fmt.Sprintf(`dbid:0x%08x name:attach_v.tdb path:\S+/attach_v.tdb.%d\n`, proto.DBID("attach_v.tdb"), i), out)
		assert.Contains(t, out, "name:attach_p.tdb")
		assert.Regexp(t, `attach_p.tdb path:\S+ PERSISTENT\n`, out)
		assert.Regexp(t, `attach_r.tdb path:\S+ REPLICATED\n`, out)
		assert.Regexp(t, `attach_d.tdb path:\S+ PER_RECORD_PERSISTENT\n`, out)
		x := c.CtdbOK(t, i, "-X", "getdbmap")
		assert.Contains(t, x, fmt.Sprintf("|0x%08X|attach_p.tdb|", proto.DBID("attach_p.tdb")))
	}
	r := c.Ctdb(1, "attach", "attach_v.tdb", "persistent")
	assert.Equal(t, 1, r.Exit)
	assert.Equal(t, "attach: database attach_v.tdb is attached as volatile, not persistent\n", r.Stderr)
	r = c.Ctdb(2, "attach", "attach_p.tdb", "replicated")
	assert.Equal(t, 1, r.Exit)
	assert.Contains(t, r.Stderr, "is attached as persistent, not replicated")
	// Attaching again with the same type is not an error.
	c.CtdbOK(t, 2, "attach", "attach_p.tdb", "persistent")
}

// TestBasics003Detach is basics.003: detach needs AllowClientDBAttach=0
// on all nodes, detaches from every node, and a re-attached volatile
// database is empty.
func TestBasics003Detach(t *testing.T) {
	t.Parallel()
	c := cluster(t, 11, 3)
	for _, db := range []string{"detach_test1.tdb", "detach_test2.tdb", "detach_test3.tdb"} {
		c.CtdbOK(t, 0, "attach", db)
	}
	r := c.Ctdb(1, "detach", "detach_test1.tdb")
	assert.Equal(t, 1, r.Exit)
	assert.Contains(t, r.Stderr, "Set AllowclientDBAttach=0 on all nodes.")
	c.CtdbOK(t, 0, "setvar", "AllowClientDBAttach", "0")
	assert.Equal(t, 1, c.Ctdb(1, "detach", "detach_test1.tdb").Exit, "one node is not enough")
	c.CtdbOK(t, 0, "-n", "all", "setvar", "AllowClientDBAttach", "0")
	c.CtdbOK(t, 1, "detach", "detach_test1.tdb")
	c.CtdbOK(t, 0, "detach", "detach_test2.tdb", "detach_test3.tdb")
	for i := 0; i < 3; i++ {
		assert.NotContains(t, c.CtdbOK(t, i, "getdbmap"), "detach_test", "node %d", i)
	}
	c.CtdbOK(t, 0, "-n", "all", "setvar", "AllowClientDBAttach", "1")
	c.CtdbOK(t, 0, "attach", "detach_test1.tdb")
	c.CtdbOK(t, 0, "writekey", "detach_test1.tdb", "foo", "bar")
	assert.Contains(t, c.CtdbOK(t, 0, "catdb", "detach_test1.tdb"), "Dumped 1 records")
	c.CtdbOK(t, 0, "-n", "all", "setvar", "AllowClientDBAttach", "0")
	c.CtdbOK(t, 0, "detach", "detach_test1.tdb")
	c.CtdbOK(t, 0, "-n", "all", "setvar", "AllowClientDBAttach", "1")
	c.CtdbOK(t, 0, "attach", "detach_test1.tdb")
	assert.Contains(t, c.CtdbOK(t, 0, "catdb", "detach_test1.tdb"), "Dumped 0 records")
	r = c.Ctdb(0, "attach", "detach_p.tdb", "persistent")
	require.Zero(t, r.Exit)
	c.CtdbOK(t, 0, "-n", "all", "setvar", "AllowClientDBAttach", "0")
	r = c.Ctdb(0, "detach", "detach_p.tdb")
	assert.Equal(t, 1, r.Exit)
	assert.Equal(t, "Only volatile databases can be detached\n", r.Stderr)
}

// TestBasics004Wipe is basics.004: wipedb empties a database on every
// node, volatile and persistent.
func TestBasics004Wipe(t *testing.T) {
	t.Parallel()
	c := cluster(t, 12, 3)
	c.CtdbOK(t, 0, "attach", "wipe_v.tdb")
	c.CtdbOK(t, 0, "attach", "wipe_p.tdb", "persistent")
	for i := 0; i < 30; i++ {
		c.CtdbOK(t, i%3, "writekey", "wipe_v.tdb", fmt.Sprintf("key%d", i), "value")
	}
	c.CtdbOK(t, 1, "pstore", "wipe_p.tdb", "pkey", "pvalue")
	require.Len(t, catdb(t, c, 2, "catdb", "wipe_v.tdb"), 30)
	assert.Equal(t, "Database wipe_v.tdb wiped\n", c.CtdbOK(t, 2, "wipedb", "wipe_v.tdb"))
	assert.Equal(t, "Database wipe_p.tdb wiped\n", c.CtdbOK(t, 0, "wipedb", "wipe_p.tdb"))
	for i := 0; i < 3; i++ {
		assert.Empty(t, catdb(t, c, i, "catdb", "wipe_v.tdb"))
		assert.Empty(t, catdb(t, c, i, "cattdb", "wipe_p.tdb"), "node %d", i)
	}
	// The database works after the wipe.
	c.CtdbOK(t, 1, "writekey", "wipe_v.tdb", "again", "yes")
	assert.Equal(t, "Data: size:3 ptr:[yes]\n", c.CtdbOK(t, 0, "readkey", "wipe_v.tdb", "again"))
}

// sampleRecords are records with keys and values of arbitrary bytes,
// empty values and a 1 MiB value.
func sampleRecords(t *testing.T) map[string][]byte {
	t.Helper()
	big := make([]byte, 1<<20)
	_, err := rand.Read(big)
	require.NoError(t, err)
	recs := map[string][]byte{
		"plain":              []byte("value"),
		"\x00\xff\"\\binary": {0, 1, 2, 0xff, '"', '\\'},
		"empty":              {},
		"big":                big,
		"":                   []byte("empty key"),
	}
	for i := 0; i < 200; i++ {
		recs[fmt.Sprintf("key-%03d", i)] = bytes.Repeat([]byte{byte(i)}, i)
	}
	return recs
}

// TestBasics010BackupRestore is basics.010: backupdb, wipedb and
// restoredb give back every record byte for byte, binary, empty and
// 1 MiB values included, with the records stored from every node.
func TestBasics010BackupRestore(t *testing.T) {
	t.Parallel()
	c := cluster(t, 13, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := sampleRecords(t)
	i := 0
	for k, v := range want {
		db, err := c.Client(i%3).Attach(ctx, "backup.tdb", client.Volatile)
		require.NoError(t, err)
		require.NoError(t, db.Store(ctx, []byte(k), v))
		i++
	}
	backup := writeFile(t, "backup.bak", "")
	assert.Equal(t, "Database backed up to "+backup+"\n", c.CtdbOK(t, 1, "backupdb", "backup.tdb", backup))
	c.CtdbOK(t, 0, "wipedb", "backup.tdb")
	require.Empty(t, catdb(t, c, 2, "catdb", "backup.tdb"))
	out := c.CtdbOK(t, 2, "restoredb", backup)
	assert.Regexp(t, `^Restoring database backup.tdb from backup @ \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\nDatabase backup.tdb restored\n$`, out)
	got := catdb(t, c, 0, "catdb", "backup.tdb")
	require.Len(t, got, len(want))
	for k, v := range want {
		assert.True(t, bytes.Equal(v, got[k].data()), "record %q", k)
	}
	dump := c.CtdbOK(t, 0, "dumpdbbackup", backup)
	assert.True(t, strings.HasSuffix(dump, fmt.Sprintf("Dumped %d record(s)\n", len(want))))
	// Every record reads back through a fetch-lock on every node.
	for n := 0; n < 3; n++ {
		db, err := c.Client(n).Attach(ctx, "backup.tdb", client.Volatile)
		require.NoError(t, err)
		for _, k := range []string{"big", "empty", "\x00\xff\"\\binary", ""} {
			rec, err := db.FetchLock(ctx, []byte(k))
			require.NoError(t, err)
			assert.True(t, rec.Exists())
			assert.True(t, bytes.Equal(want[k], rec.Data), "node %d key %q", n, k)
			require.NoError(t, rec.Unlock())
		}
	}
}

// TestRecordEdgeCases: arbitrary bytes in keys and values, empty values
// and 1 MiB values survive migrations; a deleted record is gone; a
// client killed while holding a fetch-lock releases it at once.
func TestRecordEdgeCases(t *testing.T) {
	t.Parallel()
	c := cluster(t, 14, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := sampleRecords(t)
	dbs := make([]*client.DB, 3)
	for n := range dbs {
		db, err := c.Client(n).Attach(ctx, "edge.tdb", client.Volatile)
		require.NoError(t, err)
		dbs[n] = db
	}
	for round := 0; round < 3; round++ {
		for k, v := range want {
			db := dbs[(round+len(k))%3]
			rec, err := db.FetchLock(ctx, []byte(k))
			require.NoError(t, err)
			if round > 0 {
				assert.True(t, bytes.Equal(v, rec.Data), "round %d key %q", round, k)
			}
			require.NoError(t, rec.Store(ctx, v))
		}
	}
	rec, err := dbs[1].FetchLock(ctx, []byte("empty"))
	require.NoError(t, err)
	assert.True(t, rec.Exists(), "an empty value exists")
	assert.Empty(t, rec.Data)
	require.NoError(t, rec.Delete(ctx))
	rec, err = dbs[2].FetchLock(ctx, []byte("empty"))
	require.NoError(t, err)
	assert.False(t, rec.Exists(), "a deleted record does not")
	require.NoError(t, rec.Unlock())

	// A client that dies holding a lock: ctdb-db-test local-lock keeps
	// the lock in its own process.
	out := prog(t, c, 0, "ctdb-db-test", "local-lock", "edge.tdb", "plain")
	require.Zero(t, out.Exit, out.Stderr)
	var pid int
	_, err = fmt.Sscanf(out.Stdout, "OK %d", &pid)
	require.NoError(t, err)
	t.Cleanup(func() { killPID(pid) })
	blocked, bcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = dbs[0].FetchLock(blocked, []byte("plain"))
	bcancel()
	require.Error(t, err, "the key is locked")
	require.NoError(t, killPID(pid))
	start := time.Now()
	rec, err = dbs[0].FetchLock(ctx, []byte("plain"))
	require.NoError(t, err)
	took := time.Since(start)
	require.NoError(t, rec.Unlock())
	t.Logf("lock free %v after its holder was killed", took)
	assert.Less(t, took, time.Second)
}
