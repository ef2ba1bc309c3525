package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client/dbtest"
	"gctdb/transportd/proto"
)

// startDBCluster starts three nodes with the database service
// (127.104.210.x) and returns the tool's environment for node 0 and a
// normalizer of the cluster's paths.
func startDBCluster(t *testing.T) (*dbtest.Cluster, map[string]string, func(string) string) {
	t.Helper()
	cl := dbtest.Start(t, dbtest.Options{Addrs: []string{"127.104.210.1", "127.104.210.2", "127.104.210.3"}, Port: 15700, LivenessPort: 15701})
	env := map[string]string{"CTDB_SOCKET": cl.Socket(0)}
	dirs := strings.NewReplacer(cl.Dir(0), "<dir>/node.0", cl.Dir(1), "<dir>/node.1", cl.Dir(2), "<dir>/node.2")
	return cl, env, dirs.Replace
}

var backupTimeRE = regexp.MustCompile(`@ \d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)

// TestDBCommandsGolden runs the database commands in a scenario and pins
// their transcripts.
func TestDBCommandsGolden(t *testing.T) {
	cl, env, dirs := startDBCluster(t)
	tmp := t.TempDir()
	ptrans := filepath.Join(tmp, "ptrans.txt")
	require.NoError(t, os.WriteFile(ptrans, []byte("\"k1\" \"v1\"\n\"0x6b02\" \"0x00ff\"\nno quotes\n\"k3\" \"with \\\\ backslash\"\n"), 0o644))
	backup := filepath.Join(tmp, "test1.bak")
	script := []string{
		"attach test1.tdb",
		"attach test1.tdb persistent",
		"attach ptest.tdb persistent",
		"attach rtest.tdb replicated",
		"attach x.tdb bogus",
		"getdbmap", "-X getdbmap", "-j getdbmap", "-n all getdbmap",
		"writekey test1.tdb key1 value1",
		"writekey test1.tdb 0x6b6579ff 0x00",
		"readkey test1.tdb key1", "readkey test1.tdb nokey", "readkey test1.tdb key1 readonly", "-j readkey test1.tdb key1",
		"deletekey test1.tdb key1", "readkey test1.tdb key1",
		"catdb test1.tdb", "-j catdb test1.tdb",
		"getdbstatus test1.tdb", "getdbstatus 0xbc283589", "getdbstatus nosuch.tdb", "getdbstatus ptest.tdb",
		"getdbseqnum ptest.tdb",
		"pstore ptest.tdb pkey1 pvalue1", "getdbseqnum ptest.tdb", "pfetch ptest.tdb pkey1", "pfetch ptest.tdb nokey",
		"pdelete ptest.tdb pkey1", "pfetch ptest.tdb pkey1", "getdbseqnum ptest.tdb",
		"ptrans ptest.tdb " + ptrans, "catdb ptest.tdb",
		"pstore test1.tdb k v", "readkey ptest.tdb k1",
		"setdbreadonly ptest.tdb", "setdbsticky ptest.tdb", "setdbreadonly test1.tdb", "setdbsticky test1.tdb",
		"getdbmap", "getdbstatus test1.tdb",
		"detach test1.tdb",
		"backupdb test1.tdb " + backup, "dumpdbbackup " + backup, "wipedb test1.tdb", "catdb test1.tdb",
		"restoredb " + backup, "catdb test1.tdb", "restoredb " + filepath.Join(tmp, "missing.bak"),
		"process-exists 1", "process-exists 1 0x1234",
		"status", "-j status",
	}
	var all strings.Builder
	for _, line := range script {
		args := strings.Fields(line)
		got := ctdb(t, env, args...).transcript(args)
		got = strings.ReplaceAll(got, tmp, "<tmp>")
		got = backupTimeRE.ReplaceAllString(normalize(dirs(got)), "@ <TIME>")
		all.WriteString(got)
	}
	golden(t, "db-scenario.txt", all.String())
	_ = cl
}

func TestDetachWithAllowClientDBAttachOff(t *testing.T) {
	_, env, _ := startDBCluster(t)
	require.Zero(t, ctdb(t, env, "attach", "detach1.tdb").code)
	r := ctdb(t, env, "detach", "detach1.tdb")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "Database access is still active on node 0. Set AllowclientDBAttach=0 on all nodes.\n", r.stderr)
	require.Zero(t, ctdb(t, env, "-n", "all", "setvar", "AllowClientDBAttach", "0").code)
	r = ctdb(t, env, "detach", "detach1.tdb", "nosuch.tdb")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "No database matching 'nosuch.tdb' found\n", r.stderr)
	for _, pnn := range []string{"0", "1", "2"} {
		assert.NotContains(t, ctdb(t, env, "-n", pnn, "getdbmap").stdout, "detach1.tdb")
	}
	assert.Equal(t, 1, ctdb(t, env, "attach", "again.tdb").code, "AllowClientDBAttach=0 refuses attaching")
}

func TestTfetchTstore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.tdb.0")
	r := ctdb(t, nil, "tstore", file, "k", "v")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "Failed to open TDB file "+file+"\n", r.stderr)
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	// An empty file is a new database for bbolt.
	r = ctdb(t, nil, "tstore", file, "k8", "v8", "5", "2", "0x10000")
	require.Zero(t, r.code, r.stderr)
	out := filepath.Join(t.TempDir(), "rec")
	r = ctdb(t, nil, "tfetch", file, "k8", out)
	require.Zero(t, r.code, r.stderr)
	assert.Equal(t, "dmaster: 2\nrsn: 5\nflags: 0x00010000 MIGRATED_WITH_DATA\ndata(2) = \"v8\"\n", r.stdout)
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.True(t, bytes.HasSuffix(raw, []byte("v8")))
	r = ctdb(t, nil, "tfetch", file, "nokey")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "No record for key nokey\n", r.stderr)
}

func TestPtransParsing(t *testing.T) {
	var stderr bytes.Buffer
	pairs, err := parsePtrans(strings.NewReader("\"a\" \"1\"\n  \"0x6262\"\t\"0x00\"\nbad line\n\"unterminated\n\"\" \"empty key ignored\"\n\"c\" \"\"\n"), &stderr)
	require.NoError(t, err)
	require.Len(t, pairs, 3)
	assert.Equal(t, [2][]byte{[]byte("a"), []byte("1")}, pairs[0])
	assert.Equal(t, [2][]byte{[]byte("bb"), {0}}, pairs[1])
	assert.Equal(t, [2][]byte{[]byte("c"), {}}, pairs[2])
	assert.Contains(t, stderr.String(), "Unsupported input format in bad line")
	assert.Contains(t, stderr.String(), "Unmatched \" in input")
}

func TestBackupFileRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	h := backupHeader{Flags: proto.DBFlagPersistent, Name: "p.tdb"}
	bw, err := newBackupWriter(&buf, h)
	require.NoError(t, err)
	var recs []proto.Record
	for i := 0; i < 2500; i++ {
		recs = append(recs, proto.Record{Key: []byte{byte(i), byte(i >> 8)}, Header: proto.RecordHeader{RSN: uint64(i), DMaster: 1}, Data: bytes.Repeat([]byte{'x'}, i%7)})
	}
	require.NoError(t, bw.add(recs))
	require.NoError(t, bw.close())
	gh, got, err := readBackup(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, h.Name, gh.Name)
	assert.Equal(t, h.Flags, gh.Flags)
	require.Len(t, got, len(recs))
	assert.Equal(t, recs[2499], got[2499])
	for _, cut := range []int{0, 10, len(buf.Bytes()) / 2, len(buf.Bytes()) - 1} {
		_, _, err := readBackup(bytes.NewReader(buf.Bytes()[:cut]))
		assert.ErrorIs(t, err, errBadBackup, "truncated to %d bytes", cut)
	}
}

// FuzzReadBackup feeds arbitrary bytes to the backup file reader.
func FuzzReadBackup(f *testing.F) {
	var buf bytes.Buffer
	bw, _ := newBackupWriter(&buf, backupHeader{Name: "x.tdb"})
	bw.add([]proto.Record{{Key: []byte("k"), Data: []byte("v")}})
	bw.close()
	f.Add(buf.Bytes())
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, recs, err := readBackup(bytes.NewReader(b))
		if err == nil && recs == nil && !bytes.Contains(b, []byte(backupMagic)) {
			t.Fatal("accepted a file without the magic")
		}
	})
}

func FuzzParsePtrans(f *testing.F) {
	f.Add([]byte("\"key\" \"value\"\n\"0x01\" \"\"\n"))
	f.Add([]byte("\"a\\\"b\" \"c\n"))
	f.Add([]byte("\"\" \"x\"\n\"k\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := parsePtrans(bytes.NewReader(b), io.Discard)
		if err != nil {
			return
		}
		for _, p := range pairs {
			if len(p[0]) == 0 {
				t.Fatal("accepted an empty key")
			}
		}
	})
}
