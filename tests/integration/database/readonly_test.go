//go:build integration

package database

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// roFlags counts the read-only flags in node i's local copies.
func roFlags(t *testing.T, c *localdaemons.Cluster, i int, db string) (readonly, delegations int) {
	t.Helper()
	out := c.CtdbOK(t, i, "cattdb", db)
	return strings.Count(out, "RO_HAVE_READONLY"), strings.Count(out, "RO_HAVE_DELEGATIONS")
}

func checkNoReadonly(t *testing.T, c *localdaemons.Cluster, db string) {
	t.Helper()
	for i := 0; i < c.Nodes; i++ {
		ro, del := roFlags(t, c, i, db)
		assert.Zero(t, ro+del, "node %d has read-only flags", i)
	}
}

func checkReadonly(t *testing.T, c *localdaemons.Cluster, db string, dmaster int, others ...int) {
	t.Helper()
	ro, del := roFlags(t, c, dmaster, db)
	assert.Equal(t, 1, del, "dmaster %d has the delegations", dmaster)
	assert.Zero(t, ro, "dmaster %d has no read-only copy", dmaster)
	for _, o := range others {
		ro, del := roFlags(t, c, o, db)
		assert.Equal(t, 1, ro, "node %d has a read-only copy", o)
		assert.Zero(t, del, "node %d has no delegations", o)
	}
}

func run(t *testing.T, c *localdaemons.Cluster, i int, name string, args ...string) {
	t.Helper()
	r := prog(t, c, i, name, args...)
	require.Zero(t, r.Exit, "%s on node %d: %s%s", name, i, r.Stdout, r.Stderr)
}

// TestReadonly001Basic is readonly.001: read-only fetches are full
// fetch-locks until read-only records are enabled; then they create
// delegations, a fetch-lock revokes them all, and a read never returns
// a value older than the last write.
func TestReadonly001Basic(t *testing.T) {
	t.Parallel()
	c := cluster(t, 35, 3)
	const db = "test.tdb"
	c.CtdbOK(t, 0, "attach", db)
	for i := 0; i < 3; i++ {
		run(t, c, i, "update_record", "-D", db, "-k", "testkey")
	}
	for i := 0; i < 3; i++ {
		run(t, c, i, "fetch_readonly", "-D", db, "-k", "testkey")
	}
	checkNoReadonly(t, c, db)

	c.CtdbOK(t, 0, "-n", "all", "setdbreadonly", db)
	assert.Regexp(t, `name:test.tdb path:\S+ READONLY\n`, c.CtdbOK(t, 0, "getdbmap"))

	// One delegation: node 1 is dmaster, node 0 reads.
	run(t, c, 1, "update_record", "-D", db, "-k", "testkey")
	run(t, c, 0, "fetch_readonly", "-D", db, "-k", "testkey")
	checkReadonly(t, c, db, 1, 0)

	// A fetch-lock revokes it.
	run(t, c, 1, "update_record", "-D", db, "-k", "testkey")
	checkNoReadonly(t, c, db)

	// Delegations to every other node; each read sees the last write.
	run(t, c, 1, "update_record", "-D", db, "-k", "testkey")
	want := c.CtdbOK(t, 1, "readkey", db, "testkey")
	for _, i := range []int{0, 2} {
		run(t, c, i, "fetch_readonly", "-D", db, "-k", "testkey")
		assert.Equal(t, want, c.CtdbOK(t, i, "readkey", db, "testkey", "readonly"), "node %d", i)
	}
	checkReadonly(t, c, db, 1, 0, 2)

	// A write on another node revokes every copy before it happens; the
	// next read-only fetch sees the new value.
	c.CtdbOK(t, 2, "writekey", db, "testkey", "newvalue")
	checkNoReadonly(t, c, db)
	for _, i := range []int{0, 1} {
		assert.Equal(t, "Data: size:8 ptr:[newvalue]\n", c.CtdbOK(t, i, "readkey", db, "testkey", "readonly"), "node %d", i)
	}
	st := c.CtdbOK(t, 2, "dbstatistics", db)
	assert.Regexp(t, `db_ro_delegations\s+[1-9]`, st)
}
