//go:build integration

package recovery

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// TestRecovery001VolatileNewestSurvive is recovery.001: records written
// on several nodes, some written again elsewhere, are all present with
// their newest values on every node after a recovery.
func TestRecovery001VolatileNewestSurvive(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, 3)
	c.CtdbOK(t, 0, "attach", "rec001.tdb")
	want := map[string]string{}
	for k := 0; k < 12; k++ {
		key := fmt.Sprintf("key%d", k)
		c.CtdbOK(t, k%3, "writekey", "rec001.tdb", key, "v1-"+key)
		want[key] = "v1-" + key
	}
	for k := 0; k < 12; k += 2 {
		key := fmt.Sprintf("key%d", k)
		c.CtdbOK(t, (k+1)%3, "writekey", "rec001.tdb", key, "v2-"+key)
		want[key] = "v2-" + key
	}
	recoverNow(t, c, 1, c.All())
	for i := 0; i < 3; i++ {
		assert.Regexp(t, `(?m)^ num_recoveries\s+[2-9]\d*$`, c.CtdbOK(t, i, "statistics"), "node %d", i)
		assert.Regexp(t, `Duration of last recovery/failover: 0\.\d*[1-9]\d* seconds`, c.CtdbOK(t, i, "uptime"), "node %d", i)
		assert.Regexp(t, `(?m)^Recovery mode:NORMAL \(0\)$`, c.CtdbOK(t, i, "status"), "node %d", i)
		for key, val := range want {
			out := c.CtdbOK(t, i, "readkey", "rec001.tdb", key)
			assert.Equal(t, fmt.Sprintf("Data: size:%d ptr:[%s]\n", len(val), val), out, "node %d key %s", i, key)
		}
	}
}

// TestRecovery002ManyRecords is recovery.002: 100,000 records in each of
// three volatile databases survive a recovery, on every node.
func TestRecovery002ManyRecords(t *testing.T) {
	t.Parallel()
	c := cluster(t, 2, 3)
	cl := c.Client(0)
	const n = 100000
	ctx := ctx(t)
	for d := 0; d < 3; d++ {
		db, err := cl.Attach(ctx, fmt.Sprintf("rec002_%d.tdb", d), client.Volatile)
		require.NoError(t, err)
		recs := make([]proto.Record, n)
		for i := range recs {
			recs[i] = proto.Record{Key: []byte(fmt.Sprintf("k%06d", i)), Data: []byte(fmt.Sprintf("db%d-v%06d", d, i))}
		}
		require.NoError(t, db.Restore(ctx, recs, nil))
	}
	recoverNow(t, c, 2, c.All())
	for d := 0; d < 3; d++ {
		for _, node := range []int{0, 2} {
			db, err := c.Client(node).Attach(ctx, fmt.Sprintf("rec002_%d.tdb", d), client.Volatile)
			require.NoError(t, err)
			count := 0
			err = db.Traverse(ctx, client.TraverseOptions{}, func(r proto.Record) error {
				count++
				var i int
				_, err := fmt.Sscanf(string(r.Key), "k%06d", &i)
				require.NoError(t, err)
				require.Equal(t, fmt.Sprintf("db%d-v%06d", d, i), string(r.Data))
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, n, count, "db %d from node %d", d, node)
		}
	}
}

// TestRecovery003NoResurrection is recovery.003 (CTDB bug 14294): a
// record deleted while the node that held it is stopped does not come
// back when that node continues.
func TestRecovery003NoResurrection(t *testing.T) {
	t.Parallel()
	c := cluster(t, 3, 3)
	c.CtdbOK(t, 0, "attach", "rec003.tdb")
	// Node 1 keeps a copy of "doomed" after it migrates to node 0.
	c.CtdbOK(t, 1, "writekey", "rec003.tdb", "doomed", "old-value")
	c.CtdbOK(t, 0, "writekey", "rec003.tdb", "doomed", "mid-value")
	c.CtdbOK(t, 0, "writekey", "rec003.tdb", "kept", "kept-value")
	before, _, _ := generation(c, 0)
	c.CtdbOK(t, 0, "stop", "-n", "1")
	waitRecovered(t, c, []int{0, 2}, before)
	c.CtdbOK(t, 0, "deletekey", "rec003.tdb", "doomed")
	before = recoverNow(t, c, 2, []int{0, 2})
	c.CtdbOK(t, 0, "continue", "-n", "1")
	waitRecovered(t, c, c.All(), before)
	for i := 0; i < 3; i++ {
		out := c.CtdbOK(t, i, "readkey", "rec003.tdb", "doomed")
		assert.Equal(t, "Data: size:0 ptr:[]\n", out, "node %d resurrected a deleted record", i)
		assert.Equal(t, "Data: size:10 ptr:[kept-value]\n", c.CtdbOK(t, i, "readkey", "rec003.tdb", "kept"), "node %d", i)
	}
}

// TestRecovery010PersistentCatchUp is recovery.010/011: a node stopped
// while transactions commit catches up with the highest sequence number
// when it continues, and every node ends with the same copy.
func TestRecovery010PersistentCatchUp(t *testing.T) {
	t.Parallel()
	c := cluster(t, 4, 3)
	c.CtdbOK(t, 0, "attach", "rec010.tdb", "persistent")
	c.CtdbOK(t, 0, "pstore", "rec010.tdb", "k", "v1")
	before, _, _ := generation(c, 0)
	c.CtdbOK(t, 0, "stop", "-n", "2")
	before = waitRecovered(t, c, []int{0, 1}, before)
	for i := 2; i <= 5; i++ {
		c.CtdbOK(t, 1, "pstore", "rec010.tdb", "k", fmt.Sprintf("v%d", i))
	}
	c.CtdbOK(t, 0, "continue", "-n", "2")
	waitRecovered(t, c, c.All(), before)
	seq := c.CtdbOK(t, 0, "getdbseqnum", "rec010.tdb")
	for i := 0; i < 3; i++ {
		assert.Equal(t, "v5\n", c.CtdbOK(t, i, "pfetch", "rec010.tdb", "k"), "node %d", i)
		assert.Equal(t, seq, c.CtdbOK(t, i, "getdbseqnum", "rec010.tdb"), "node %d", i)
	}
}

// TestRecoveryLateJoiner: a node started after databases were attached
// and written elsewhere gets every database from the recovery that takes
// it in, with their records, and is not banned.
func TestRecoveryLateJoiner(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Nodes: 3, Prefix: "127.105.5"})
	c.Start(0, 1)
	_, err := c.WaitFlags([]int{0, 1}, 1, 30*time.Second, func(f uint32) bool { return f == 0 })
	require.NoError(t, err)
	waitRecovered(t, c, []int{0, 1}, 0)
	c.CtdbOK(t, 0, "attach", "late_v.tdb")
	c.CtdbOK(t, 0, "attach", "late_p.tdb", "persistent")
	c.CtdbOK(t, 1, "writekey", "late_v.tdb", "vk", "vv")
	c.CtdbOK(t, 1, "pstore", "late_p.tdb", "pk", "pv")
	c.Start(2)
	_, err = c.WaitAllOK(30 * time.Second)
	require.NoError(t, err)
	waitRecovered(t, c, c.All(), 0)
	out := c.CtdbOK(t, 2, "getdbmap")
	assert.Contains(t, out, "name:late_v.tdb")
	assert.Contains(t, out, "name:late_p.tdb")
	assert.Equal(t, "pv\n", c.CtdbOK(t, 2, "pfetch", "late_p.tdb", "pk"))
	assert.Equal(t, "Data: size:2 ptr:[vv]\n", c.CtdbOK(t, 2, "readkey", "late_v.tdb", "vk"))
	assert.NotContains(t, c.CtdbOK(t, 0, "status"), "BANNED")
}

// TestTransaction003LoopDuringRecoveries is transaction.003:
// transaction_loop keeps running correctly on every node while `ctdb
// recover` is issued repeatedly; every node ends with the same data.
func TestTransaction003LoopDuringRecoveries(t *testing.T) {
	t.Parallel()
	c := cluster(t, 6, 3)
	c.CtdbOK(t, 0, "attach", "rec_trans.tdb", "persistent")
	done := transactionLoops(c, "rec_trans.tdb", []int{0, 1, 2})
	var res []localdaemons.Result
	recoveries := 0
loop:
	for {
		select {
		case res = <-done:
			break loop
		default:
		}
		if r := c.Ctdb(recoveries%3, "recover"); r.Exit == 0 {
			recoveries++
		}
	}
	t.Logf("%d recoveries during the loop", recoveries)
	assert.Greater(t, recoveries, 2)
	requireLoopsConsistent(t, c, "rec_trans.tdb", res)
}

// TestTransaction010LoopWhileANodeDies is transaction.010:
// transaction_loop keeps running correctly on two nodes while the third
// is killed (kill -9) and restarted; afterwards every node, the
// restarted one included, has the same data.
func TestTransaction010LoopWhileANodeDies(t *testing.T) {
	t.Parallel()
	c := cluster(t, 7, 3)
	c.CtdbOK(t, 0, "attach", "rec_trans10.tdb", "persistent")
	done := transactionLoops(c, "rec_trans10.tdb", []int{0, 1})
	seqnum := func() uint64 {
		r := c.Ctdb(0, "getdbseqnum", "rec_trans10.tdb")
		n, _ := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(r.Stdout), "0x"), 16, 64)
		return n
	}
	// progressed waits until the loops have committed a few more
	// transactions, or have ended.
	var res []localdaemons.Result
	progressed := func() bool {
		from := seqnum()
		for {
			select {
			case res = <-done:
				return false
			case <-time.After(20 * time.Millisecond):
			}
			if seqnum() >= from+5 {
				return true
			}
		}
	}
	kills := 0
	for progressed() {
		before, _, _ := generation(c, 0)
		c.Kill(2)
		kills++
		before = waitRecovered(t, c, []int{0, 1}, before)
		c.Start(2)
		waitRecovered(t, c, c.All(), before)
	}
	t.Logf("node 2 killed %d times during the loop", kills)
	assert.GreaterOrEqual(t, kills, 2)
	waitRecovered(t, c, c.All(), 0)
	requireLoopsConsistent(t, c, "rec_trans10.tdb", res)
}

// TestRecoveryDatabasesIndependent: a client holding a record of one
// database holds up that database's recovery only; another database is
// recovered and usable meanwhile, and the recovery finishes once the
// record is released.
func TestRecoveryDatabasesIndependent(t *testing.T) {
	t.Parallel()
	c := cluster(t, 8, 3)
	ctx := ctx(t)
	held, err := c.Client(0).Attach(ctx, "held.tdb", client.Volatile)
	require.NoError(t, err)
	c.CtdbOK(t, 0, "attach", "free.tdb")
	c.CtdbOK(t, 1, "writekey", "free.tdb", "k", "before")
	lock, err := held.FetchLock(ctx, []byte("busy"))
	require.NoError(t, err)

	done := make(chan localdaemons.Result, 1)
	go func() { done <- c.Ctdb(1, "recover") }()
	require.Eventually(t, func() bool {
		_, mode, ok := generation(c, 2)
		return ok && mode == "RECOVERY"
	}, 30*time.Second, 20*time.Millisecond, "the recovery starts")
	// free.tdb is recovered and usable while held.tdb waits for its lock.
	require.Eventually(t, func() bool {
		r := c.Ctdb(2, "writekey", "free.tdb", "k", "during")
		return r.Exit == 0
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, "Data: size:6 ptr:[during]\n", c.CtdbOK(t, 0, "readkey", "free.tdb", "k"))
	select {
	case r := <-done:
		t.Fatalf("recovery finished while a record of held.tdb was locked: %+v", r)
	default:
	}
	require.NoError(t, lock.Store(ctx, []byte("released")))
	r := <-done
	require.Zero(t, r.Exit, "%s%s", r.Stdout, r.Stderr)
	waitRecovered(t, c, c.All(), 0)
	assert.Equal(t, "Data: size:8 ptr:[released]\n", c.CtdbOK(t, 2, "readkey", "held.tdb", "busy"))
}
