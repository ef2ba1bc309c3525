//go:build integration

package database

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTransaction001Ptrans is transaction.001: ptrans stores a file's
// key/value pairs in one transaction (and from stdin), visible on every
// node; pdelete and pstore change them.
func TestTransaction001Ptrans(t *testing.T) {
	t.Parallel()
	c := cluster(t, 30, 3)
	c.CtdbOK(t, 0, "attach", "ptrans_test.tdb", "persistent")
	file := writeFile(t, "ptrans", "\"key1\" \"value1\"\n\"key2\" \"value2\"\n\"0x6b33\" \"0x0001ff\"\n\"key4\" \"\"\n")
	before := c.CtdbOK(t, 1, "getdbseqnum", "ptrans_test.tdb")
	c.CtdbOK(t, 1, "ptrans", "ptrans_test.tdb", file)
	after := c.CtdbOK(t, 2, "getdbseqnum", "ptrans_test.tdb")
	assert.Equal(t, "0x0\n", before)
	assert.Equal(t, "0x1\n", after, "one transaction")
	for i := 0; i < 3; i++ {
		recs := catdb(t, c, i, "catdb", "ptrans_test.tdb")
		assert.Equal(t, "value1", string(recs["key1"].data()), "node %d", i)
		assert.Equal(t, []byte{0, 1, 0xff}, recs["k3"].data())
		assert.Contains(t, recs, "key4")
		assert.Contains(t, recs, "__db_sequence_number__\x00")
	}
	assert.Equal(t, "value2\n", c.CtdbOK(t, 2, "pfetch", "ptrans_test.tdb", "key2"))
	c.CtdbOK(t, 0, "pdelete", "ptrans_test.tdb", "key2")
	assert.Equal(t, "\n", c.CtdbOK(t, 1, "pfetch", "ptrans_test.tdb", "key2"))
	r := c.Ctdb(0, "ptrans", "ptrans_test.tdb", "/nonexistent")
	assert.Equal(t, 1, r.Exit)
	assert.Equal(t, "Failed to open file /nonexistent\n", r.Stderr)
}

var transactionLine = regexp.MustCompile(`(?m)^Transaction\[(\d+)\]: ((\s*\d+ )+)$`)

// TestTransaction002Loop is transaction.002: transaction_loop on every
// node for 30 s; every node ends with identical persistent data whose
// counters are each node's committed transactions.
func TestTransaction002Loop(t *testing.T) {
	t.Parallel()
	c := cluster(t, 31, 3)
	c.CtdbOK(t, 0, "attach", "persistent_trans.tdb", "persistent")
	c.CtdbOK(t, 0, "wipedb", "persistent_trans.tdb")
	res := onAll(t, c, "transaction_loop", "-n", "3", "-t", ringTime(), "-D", "persistent_trans.tdb", "-T", "persistent", "-k", "testkey")
	final := make([]int, 3)
	for i, r := range res {
		require.Zero(t, r.Exit, "node %d: %s%s", i, r.Stdout, r.Stderr)
		m := transactionLine.FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, "node %d: %s", i, r.Stdout)
		counts := strings.Fields(m[2])
		require.Len(t, counts, 3)
		final[i], _ = strconv.Atoi(counts[i])
		t.Logf("node %d: %s", i, strings.TrimSpace(m[0]))
	}
	total := 0
	var want map[string]record
	for i := 0; i < 3; i++ {
		recs := catdb(t, c, i, "cattdb", "persistent_trans.tdb")
		if want == nil {
			want = recs
			data := recs["testkey"].data()
			require.Len(t, data, 12)
			for n := 0; n < 3; n++ {
				v := int(binary.LittleEndian.Uint32(data[4*n:]))
				assert.Equal(t, final[n], v, "node %d's counter is its last commit", n)
				assert.Greater(t, v, 10)
				total += v
			}
			continue
		}
		assert.Equal(t, want, recs, "node %d has the same persistent data", i)
	}
	assert.Equal(t, fmt.Sprintf("0x%x\n", total), c.CtdbOK(t, 2, "getdbseqnum", "persistent_trans.tdb"), "one sequence number per transaction")
}

// TestTransaction004UpdateRecord is transaction.004: UPDATE_RECORD
// creates and then updates a record of a persistent database.
func TestTransaction004UpdateRecord(t *testing.T) {
	t.Parallel()
	c := cluster(t, 32, 3)
	c.CtdbOK(t, 0, "attach", "persistent_test.tdb", "persistent")
	c.CtdbOK(t, 0, "wipedb", "persistent_test.tdb")
	assert.Empty(t, catdb(t, c, 1, "cattdb", "persistent_test.tdb"))
	r := prog(t, c, 0, "update_record_persistent", "-D", "persistent_test.tdb", "-k", "Update_Record_Persistent", "-v", "FirstValue")
	require.Zero(t, r.Exit, r.Stderr)
	out := c.CtdbOK(t, 0, "cattdb", "persistent_test.tdb")
	assert.Equal(t, 1, strings.Count(out, "FirstValue"))
	r = prog(t, c, 0, "update_record_persistent", "-D", "persistent_test.tdb", "-k", "Update_Record_Persistent", "-v", "SecondValue")
	require.Zero(t, r.Exit, r.Stderr)
	out = c.CtdbOK(t, 0, "cattdb", "persistent_test.tdb")
	assert.Zero(t, strings.Count(out, "FirstValue"))
	assert.Equal(t, 1, strings.Count(out, "SecondValue"))
	assert.Contains(t, out, "rsn: 2\n")
}
