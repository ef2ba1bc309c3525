// Package smbconformance drives gctdb's smbd with Samba's own clients:
// smbclient for file transfers and smbtorture for protocol conformance.
// Every test runs against a real two-node gctdb cluster of local daemons
// (tests/local_daemons.sh: ctdbd and smbd per node, one shared share
// directory) and talks to node 0's smbd, so every open and lock goes
// through gctdb's databases. The tests skip when the Samba tools are not
// installed.
package smbconformance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

const (
	testUser = "tester"
	testPass = "Secret-42"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

// server is node 0's smbd of a running cluster.
type server struct {
	host, port string
	share      string // directory of [share] (and [tmpenc])
	cluster    *localdaemons.Cluster
}

// clusters numbers this package's clusters: each gets its own
// 127.107.(20+n) prefix, so a cluster never meets the previous one's
// sockets.
var clusters atomic.Int32

// startServer starts a two-node cluster whose smbds serve [share] and
// [tmpenc] (smb encrypt = required) from the shared share directory, with
// the user tester; extra lines go into every node's [global].
func startServer(t *testing.T, extraGlobal ...string) *server {
	t.Helper()
	n := clusters.Add(1)
	require.Less(t, n, int32(80), "out of address prefixes")
	c := localdaemons.New(t, localdaemons.Options{Nodes: 2, SMB: true, Prefix: fmt.Sprintf("127.107.%d", 20+n)})
	share := filepath.Join(c.Dir, "shared", "share")
	for i := 0; i < c.Nodes; i++ {
		path := filepath.Join(c.Base(i), "smb.conf")
		conf, err := os.ReadFile(path)
		require.NoError(t, err, "local_daemons.sh setup must write smb.conf")
		global := "[global]\n"
		for _, l := range extraGlobal {
			global += "\t" + l + "\n"
		}
		s := strings.Replace(string(conf), "[global]\n", global, 1)
		s += "\n[tmpenc]\n\tpath = " + share + "\n\tread only = no\n\tsmb encrypt = required\n"
		require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	}
	c.Start()
	t.Cleanup(func() {
		if t.Failed() {
			for i := 0; i < c.Nodes; i++ {
				log, _ := os.ReadFile(filepath.Join(c.Base(i), "log.smbd"))
				t.Logf("----- smbd log of node %d -----\n%s", i, log)
			}
		}
	})
	addUser(t, c, 0, testUser, testPass)
	return &server{host: c.Addr(0), port: "445", share: share, cluster: c}
}

// addUser runs `smbpasswd -s -a` on node i.
func addUser(t *testing.T, c *localdaemons.Cluster, i int, name, pass string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.Bin, "smbpasswd"), "-s", "-a", name)
	cmd.Env = c.NodeEnv(i)
	cmd.Stdin = strings.NewReader(pass + "\n" + pass + "\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "smbpasswd: %s", out)
}

func (s *server) unc(share string) string { return "//" + s.host + "/" + share }
