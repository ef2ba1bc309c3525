//go:build integration

// Package smb tests gctdb's smbd as a cluster: smbd processes on two
// nodes of local daemons serving one share directory must see each
// other's opens, share modes, byte-range locks and oplocks through
// gctdb. Clients are this package's SMB 2.1 client, one per node.
package smb

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

const (
	user = "alice"
	pass = "Alice-Pw-1"
)

// twoNodes starts a two-node cluster with smbd on both nodes and the
// user alice, added through node 1.
func twoNodes(t *testing.T, prefix string) *localdaemons.Cluster {
	t.Helper()
	c := localdaemons.New(t, localdaemons.Options{Nodes: 2, SMB: true, Prefix: prefix})
	c.StartAll()
	cmd := exec.Command(filepath.Join(c.Bin, "smbpasswd"), "-s", "-a", user)
	cmd.Env = c.NodeEnv(1)
	cmd.Stdin = strings.NewReader(pass + "\n" + pass + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "smbpasswd: %s", out)
	t.Cleanup(func() {
		if t.Failed() {
			for i := 0; i < c.Nodes; i++ {
				log, _ := os.ReadFile(filepath.Join(c.Base(i), "log.smbd"))
				t.Logf("----- smbd log of node %d -----\n%s", i, log)
			}
		}
	})
	return c
}

// TestDenyWriteOpenOnOneNodeRefusesWritersOnTheOther is the issue's
// share-mode check: an open that denies writing on node 0 makes a write
// open of the same file on node 1 fail with SHARING_VIOLATION, while a
// reader that shares writing gets in; once node 0 closes, the writer
// does.
func TestDenyWriteOpenOnOneNodeRefusesWritersOnTheOther(t *testing.T) {
	c := twoNodes(t, "127.107.50")
	a := dialSMB(t, c.Addr(0), "share", user, pass)
	b := dialSMB(t, c.Addr(1), "share", user, pass)

	fa, _, st := a.create("doc.txt", accessRead|accessWrite, shareRead, oplockNone)
	require.Equal(t, statusOK, st)

	_, _, st = b.create("doc.txt", accessWrite, shareRead|shareWrite, oplockNone)
	assert.Equal(t, statusSharingViolation, st, "node 1 opened for writing a file node 0 holds deny-write")
	fb, _, st := b.create("doc.txt", accessRead, shareRead|shareWrite, oplockNone)
	require.Equal(t, statusOK, st, "a reader that lets node 0 write must get in")
	assert.Equal(t, statusOK, b.close(fb))

	require.Equal(t, statusOK, a.close(fa))
	fb, _, st = b.create("doc.txt", accessWrite, shareRead|shareWrite, oplockNone)
	require.Equal(t, statusOK, st, "node 0 closed: node 1 may write")
	assert.Equal(t, statusOK, b.close(fb))
}

// TestByteRangeLockOnOneNodeBlocksTheOther is the byte-range
// lock check: node 0's exclusive lock makes node 1's conflicting lock
// fail at once or wait, and the waiting one is granted as soon as node 0
// unlocks.
func TestByteRangeLockOnOneNodeBlocksTheOther(t *testing.T) {
	c := twoNodes(t, "127.107.51")
	a := dialSMB(t, c.Addr(0), "share", user, pass)
	b := dialSMB(t, c.Addr(1), "share", user, pass)
	fa, _, st := a.create("locked.dat", accessRead|accessWrite, shareRead|shareWrite, oplockNone)
	require.Equal(t, statusOK, st)
	fb, _, st := b.create("locked.dat", accessRead|accessWrite, shareRead|shareWrite, oplockNone)
	require.Equal(t, statusOK, st)

	require.Equal(t, statusOK, a.lock(fa, 0, 100, lockExclusive|lockFailNow))
	assert.Equal(t, statusLockNotGranted, b.lock(fb, 50, 10, lockShared|lockFailNow),
		"node 1 got a lock overlapping node 0's")
	assert.Equal(t, statusOK, b.lock(fb, 100, 10, lockExclusive|lockFailNow), "ranges that do not overlap")
	require.Equal(t, statusOK, b.lock(fb, 100, 10, lockUnlock))

	mid := b.sendLock(fb, 0, 10, lockExclusive)
	if m, err := b.wait(mid, 300*time.Millisecond); err == nil {
		t.Fatalf("node 1's blocking lock was answered (%#x) while node 0 holds the range", m.status)
	}
	unlocked := time.Now()
	require.Equal(t, statusOK, a.lock(fa, 0, 100, lockUnlock))
	m, err := b.wait(mid, 10*time.Second)
	require.NoError(t, err)
	took := time.Since(unlocked)
	assert.Equal(t, statusOK, m.status, "node 1's blocking lock after node 0 unlocked")
	t.Logf("node 1's blocking lock granted %v after node 0 unlocked", took)
	assert.Less(t, took, time.Second)

	assert.Equal(t, statusLockNotGranted, a.lock(fa, 5, 1, lockShared|lockFailNow), "node 1 now holds the range")
	assert.Equal(t, statusOK, a.close(fa))
	assert.Equal(t, statusOK, b.close(fb))
}

// TestOplockBreakCrossesNodes: a batch oplock held through node 0 is
// broken when node 1 opens the file, and node 1's open completes once
// node 0's client closes.
func TestOplockBreakCrossesNodes(t *testing.T) {
	c := twoNodes(t, "127.107.52")
	a := dialSMB(t, c.Addr(0), "share", user, pass)
	b := dialSMB(t, c.Addr(1), "share", user, pass)
	fa, level, st := a.create("cached.dat", accessRead|accessWrite, shareRead|shareWrite|shareDelete, oplockBatch)
	require.Equal(t, statusOK, st)
	require.Equal(t, byte(oplockBatch), level, "a lone open gets the batch oplock it asks for")

	mid := b.sendCreate("cached.dat", accessRead, shareRead|shareWrite|shareDelete, oplockNone)
	id, to, err := a.waitBreak(10 * time.Second)
	require.NoError(t, err, "node 0's client got no oplock break for node 1's open")
	assert.Equal(t, fa, id)
	assert.LessOrEqual(t, to, byte(1), "the break goes to level II or none")
	require.Equal(t, statusOK, a.close(fa))
	m, err := b.wait(mid, 10*time.Second)
	require.NoError(t, err)
	fb, _, st := createResult(m)
	require.Equal(t, statusOK, st, "node 1's open after the break")
	assert.Equal(t, statusOK, b.close(fb))
}

// TestOpensAndLocksOfAKilledSmbdAreDropped: when node 1's smbd dies
// holding a deny-write open and a byte-range lock, node 0 does not stay
// locked out: the entries of the dead process are dropped.
func TestOpensAndLocksOfAKilledSmbdAreDropped(t *testing.T) {
	c := twoNodes(t, "127.107.53")
	a := dialSMB(t, c.Addr(0), "share", user, pass)
	b := dialSMB(t, c.Addr(1), "share", user, pass)
	fb, _, st := b.create("orphan.dat", accessRead|accessWrite, shareRead, oplockNone)
	require.Equal(t, statusOK, st)
	require.Equal(t, statusOK, b.lock(fb, 0, 10, lockExclusive|lockFailNow))
	_, _, st = a.create("orphan.dat", accessWrite, shareRead|shareWrite, oplockNone)
	require.Equal(t, statusSharingViolation, st)

	pid := readPID(t, filepath.Join(c.Base(1), "run", "smbd.pid"))
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 10*time.Second, 10*time.Millisecond)

	// Node 0 believes a process it found alive for half a second.
	killed := time.Now()
	var fa fileID
	require.Eventually(t, func() bool {
		fa, _, st = a.create("orphan.dat", accessRead|accessWrite, shareRead|shareWrite, oplockNone)
		return st == statusOK
	}, 5*time.Second, 50*time.Millisecond, "the dead smbd's deny-write open still refuses node 0")
	t.Logf("node 0 opened the file %v after node 1's smbd died", time.Since(killed))
	assert.Equal(t, statusOK, a.lock(fa, 0, 10, lockExclusive|lockFailNow), "the dead smbd's lock is still held")
	assert.Equal(t, statusOK, a.close(fa))
}

// TestSmbdStopsWithItsCtdbd: without its ctdbd an smbd could neither
// check share modes nor lock, so it must not go on serving.
func TestSmbdStopsWithItsCtdbd(t *testing.T) {
	c := twoNodes(t, "127.107.54")
	pid := readPID(t, filepath.Join(c.Base(1), "run", "smbd.pid"))
	c.Signal(1, syscall.SIGKILL) // ctdbd only
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 10*time.Second, 10*time.Millisecond,
		"node 1's smbd kept running after its ctdbd died")
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	return pid
}
