// Command leaderfailover measures how long a 3-node cluster is without a
// leader when its leader dies (kill -9 of ctdbd) or stalls (SIGSTOP),
// for gctdb and for Debian's CTDB 4.17 in the same run. Both are started
// by tests/local_daemons.sh with their defaults: a cluster lock file on
// the shared directory and a 5 s leader timeout. A run ends when every
// surviving node's `ctdb leader` names the same other node, or at -cap.
//
//	tests/bench/leader_failover.sh -runs 20
//
// CTDB is skipped when /usr/sbin/ctdbd is missing (apt-get install ctdb).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gctdb/tests/bench/internal/benchkit"
)

// impl is one implementation under test.
type impl struct {
	name string
	// env is added to the harness's and the CLI's environment.
	env []string
	// cli is the ctdb binary.
	cli string
}

func main() {
	runs := flag.Int("runs", 20, "failovers of each kind per implementation")
	limit := flag.Duration("cap", 30*time.Second, "give a run up after this long without a new leader")
	prefix := flag.String("prefix", "127.103.90", "address prefix of the bench cluster (127.x.y)")
	only := flag.String("only", "", "run only this implementation (gctdb or ctdb)")
	flag.Parse()

	repo, err := benchkit.RepoDir()
	if err != nil {
		fail(err)
	}
	bin := filepath.Join(repo, "bin")
	impls := []impl{{name: "gctdb", env: []string{"GCTDB_BINDIR=" + bin}, cli: filepath.Join(bin, "ctdb")}}
	if _, err := os.Stat("/usr/sbin/ctdbd"); err == nil {
		impls = append(impls, impl{name: "ctdb 4.17", cli: "/usr/bin/ctdb",
			env: []string{"LOCAL_DAEMONS_USE_PATH=1", "PATH=/usr/sbin:/usr/bin:" + os.Getenv("PATH")}})
	}
	fmt.Printf("| implementation | failure | new leader after (median) | max | runs without a new leader within %v |\n", *limit)
	fmt.Println("|---|---|---|---|---|")
	for _, im := range impls {
		if *only != "" && !strings.HasPrefix(im.name, *only) {
			continue
		}
		for _, kind := range []string{"kill -9", "SIGSTOP"} {
			took, capped, err := measure(repo, im, *prefix, kind, *runs, *limit)
			if err != nil {
				fail(fmt.Errorf("%s, %s: %w", im.name, kind, err))
			}
			fmt.Printf("| %s | %s of the leader | %s | %s | %d of %d |\n", im.name, kind, benchkit.FmtDur(benchkit.Median(took)), benchkit.FmtDur(slices.Max(took)), capped, *runs)
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "leaderfailover: %v\n", err)
	os.Exit(1)
}

// cluster is one set of local daemons.
type cluster struct {
	dir, script string
	im          impl
}

func (c *cluster) harness(args ...string) error {
	return benchkit.Harness(c.script, c.dir, c.im.env, args...)
}

// ctdb runs the CLI as node n.
func (c *cluster) ctdb(n int, args ...string) (string, error) {
	cmd := exec.Command(c.im.cli, append([]string{"-t", "1"}, args...)...)
	cmd.Env = append(os.Environ(), c.im.env...)
	cmd.Env = append(cmd.Env, "CTDB_TEST_MODE=yes", fmt.Sprintf("CTDB_BASE=%s/node.%d", c.dir, n))
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// agreedLeader returns the leader the given nodes all name, or -1.
func (c *cluster) agreedLeader(nodes []int) int {
	leader := -1
	for i, n := range nodes {
		out, err := c.ctdb(n, "leader")
		l, perr := strconv.Atoi(out)
		if err != nil || perr != nil || i > 0 && l != leader {
			return -1
		}
		leader = l
	}
	return leader
}

// healthy waits until every node is OK and all agree on a leader.
func (c *cluster) healthy(within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := c.ctdb(0, "nodestatus", "all")
		if err == nil && strings.Count(out, " OK") == 3 {
			if l := c.agreedLeader([]int{0, 1, 2}); l >= 0 {
				return l, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, fmt.Errorf("cluster not healthy with an agreed leader within %v", within)
}

// measure makes the leader fail runs times and returns how long each
// time the survivors took to agree on a new leader, and how many runs
// hit the cap.
func measure(repo string, im impl, prefix, kind string, runs int, limit time.Duration) ([]time.Duration, int, error) {
	dir, err := os.MkdirTemp("", "lf")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	nodes := filepath.Join(dir, "nodes.in")
	if err := os.WriteFile(nodes, []byte(fmt.Sprintf("%s.1\n%s.2\n%s.3\n", prefix, prefix, prefix)), 0o644); err != nil {
		return nil, 0, err
	}
	c := &cluster{dir: dir, script: filepath.Join(repo, "tests", "local_daemons.sh"), im: im}
	if err := c.harness("setup", "-N", nodes); err != nil {
		return nil, 0, err
	}
	if err := c.harness("start", "all"); err != nil {
		return nil, 0, err
	}
	defer c.harness("stop", "all")

	var took []time.Duration
	capped := 0
	for r := 0; r < runs; r++ {
		leader, err := c.healthy(2 * time.Minute)
		if err != nil {
			return nil, 0, fmt.Errorf("run %d: %w", r, err)
		}
		out, err := c.ctdb(leader, "getpid")
		if err != nil {
			return nil, 0, fmt.Errorf("getpid of node %d: %w", leader, err)
		}
		pid, err := strconv.Atoi(out)
		if err != nil {
			return nil, 0, fmt.Errorf("getpid of node %d: %q", leader, out)
		}
		var rest []int
		for n := 0; n < 3; n++ {
			if n != leader {
				rest = append(rest, n)
			}
		}
		sig := syscall.SIGKILL
		if kind == "SIGSTOP" {
			sig = syscall.SIGSTOP
		}
		start := time.Now()
		if err := syscall.Kill(pid, sig); err != nil {
			return nil, 0, err
		}
		d := limit
		for time.Since(start) < limit {
			if l := c.agreedLeader(rest); l >= 0 && l != leader {
				d = time.Since(start)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if d == limit {
			capped++
		}
		took = append(took, d)
		fmt.Fprintf(os.Stderr, "%s, %s run %d: node %d -> %v\n", im.name, kind, r, leader, d.Round(time.Millisecond))
		if kind == "SIGSTOP" {
			syscall.Kill(pid, syscall.SIGCONT)
			continue
		}
		if err := benchkit.WaitGone(pid, 10*time.Second); err != nil {
			return nil, 0, err
		}
		if err := c.harness("start", strconv.Itoa(leader)); err != nil {
			return nil, 0, err
		}
	}
	return took, capped, nil
}
