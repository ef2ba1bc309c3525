//go:build integration

package cluster

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// debianHelper is CTDB 4.17's cluster lock helper (Debian package ctdb).
const debianHelper = "/usr/libexec/ctdb/ctdb_mutex_fcntl_helper"

// nodes returns 0..n-1.
func nodes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func without(all []int, not int) []int {
	var out []int
	for _, n := range all {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// call connects to node i for one question; a node that is down or
// stalled answers with an error within a second.
func call(c *localdaemons.Cluster, i int, f func(ctx context.Context, cl *client.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Socket(i))
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(ctx, cl)
}

// leaderOf returns node i's view of the leader.
func leaderOf(c *localdaemons.Cluster, i int) (*proto.Leader, error) {
	var l *proto.Leader
	err := call(c, i, func(ctx context.Context, cl *client.Client) error {
		var err error
		l, err = cl.Leader(ctx, client.Local)
		return err
	})
	return l, err
}

// verify asks node i whether it leads and holds the cluster lock now.
func verify(c *localdaemons.Cluster, i int) (*proto.LeaderVerdict, error) {
	var v proto.LeaderVerdict
	err := call(c, i, func(ctx context.Context, cl *client.Client) error {
		return cl.Control(ctx, client.Local, proto.ServiceCluster, proto.OpVerifyLeader, &proto.LeaderCheck{}, &v)
	})
	return &v, err
}

// verifiedLeaders returns the nodes among among that confirm they lead.
func verifiedLeaders(c *localdaemons.Cluster, among []int) []int {
	var out []int
	for _, i := range among {
		if _, err := verify(c, i); err == nil {
			out = append(out, i)
		}
	}
	return out
}

// agreed returns the leader every node in among sees, if they agree on
// one other than not (-1: any).
func agreed(c *localdaemons.Cluster, among []int, not int) (*proto.Leader, bool) {
	var first *proto.Leader
	for _, i := range among {
		l, err := leaderOf(c, i)
		if err != nil || !l.Known() || int(l.PNN) == not {
			return nil, false
		}
		if first == nil {
			first = l
		} else if l.PNN != first.PNN || l.Term != first.Term {
			return nil, false
		}
	}
	return first, first != nil
}

// waitAgreed waits until the nodes in among agree on a leader other than
// not, and returns it with how long that took.
func waitAgreed(t *testing.T, c *localdaemons.Cluster, among []int, not int, within time.Duration) (*proto.Leader, time.Duration) {
	t.Helper()
	start := time.Now()
	var l *proto.Leader
	require.Eventually(t, func() bool {
		var ok bool
		l, ok = agreed(c, among, not)
		return ok
	}, within, 10*time.Millisecond, "nodes %v agree on no leader (other than %d) within %v", among, not, within)
	return l, time.Since(start)
}

// editConf changes every node's ctdb.conf: each key (in its section) is
// set to its value, added after the section header when missing.
func editConf(t *testing.T, c *localdaemons.Cluster, section string, kv map[string]string) {
	t.Helper()
	editNodeConf(t, c, nodes(c.Nodes), section, kv)
}

// editNodeConf is editConf for some nodes only.
func editNodeConf(t *testing.T, c *localdaemons.Cluster, which []int, section string, kv map[string]string) {
	t.Helper()
	for _, i := range which {
		path := filepath.Join(c.Base(i), "ctdb.conf")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		s := string(b)
		for k, v := range kv {
			re := regexp.MustCompile(`(?m)^[ \t#]*` + regexp.QuoteMeta(k) + `[ \t]*=.*$`)
			line := "\t" + k + " = " + v
			if re.MatchString(s) {
				s = re.ReplaceAllString(s, line)
			} else {
				s = strings.Replace(s, "["+section+"]\n", "["+section+"]\n"+line+"\n", 1)
			}
		}
		require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	}
}

// logOf returns node i's log.
func logOf(t *testing.T, c *localdaemons.Cluster, i int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Base(i), "log.ctdb"))
	require.NoError(t, err)
	return string(b)
}

// lockFile is the cluster lock file local_daemons.sh sets up.
func lockFile(c *localdaemons.Cluster) string {
	return filepath.Join(c.Dir, "shared", ".ctdb", "cluster.lock")
}
