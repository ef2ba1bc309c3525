// Command clusterbench measures what an operator feels of a cluster's
// foundation, for gctdb and for Debian's CTDB 4.17 in the same run, both
// started by tests/local_daemons.sh: start until every node is OK, the
// wall time of `ctdb ping` and `ctdb status`, and the idle RSS of all of
// a node's processes.
//
//	go run ./tests/bench/clusterbench -runs 5 -calls 20
//
// CTDB is skipped when /usr/sbin/ctdbd is missing (apt-get install ctdb).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gctdb/tests/bench/internal/benchkit"
)

type impl struct {
	name string
	env  []string // extra environment for the harness and the CLI
}

func main() {
	runs := flag.Int("runs", 5, "cluster starts per implementation")
	calls := flag.Int("calls", 20, "ctdb ping/status calls per start")
	prefix := flag.String("prefix", "127.0.95", "address prefix of the bench cluster (127.x.y)")
	flag.Parse()

	repo, err := benchkit.RepoDir()
	if err != nil {
		fail(err)
	}
	impls := []impl{{name: "gctdb", env: []string{"GCTDB_BINDIR=" + filepath.Join(repo, "bin")}}}
	if _, err := os.Stat("/usr/sbin/ctdbd"); err == nil {
		impls = append(impls, impl{name: "ctdb 4.17", env: []string{"LOCAL_DAEMONS_USE_PATH=1", "PATH=/usr/sbin:/usr/bin:" + os.Getenv("PATH")}})
	}
	fmt.Printf("| implementation | start -> all OK (median, max of %d) | ctdb ping (median) | ctdb status (median) | idle RSS of node 0 |\n", *runs)
	fmt.Println("|---|---|---|---|---|")
	for _, im := range impls {
		var starts, pings, statuses []time.Duration
		var rss int
		for r := 0; r < *runs; r++ {
			s, p, st, m, err := once(repo, im, *prefix, *calls)
			if err != nil {
				fail(fmt.Errorf("%s run %d: %w", im.name, r, err))
			}
			starts = append(starts, s)
			pings = append(pings, p...)
			statuses = append(statuses, st...)
			rss = max(rss, m)
		}
		fmt.Printf("| %s | %s, %s | %s | %s | %.1f MB |\n", im.name, benchkit.FmtDur(benchkit.Median(starts)), benchkit.FmtDur(slices.Max(starts)),
			benchkit.FmtDur(benchkit.Median(pings)), benchkit.FmtDur(benchkit.Median(statuses)), float64(rss)/1024)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "clusterbench: %v\n", err)
	os.Exit(1)
}

// once sets up and starts a 3-node cluster, measures, and stops it.
func once(repo string, im impl, prefix string, calls int) (time.Duration, []time.Duration, []time.Duration, int, error) {
	dir, err := os.MkdirTemp("", "cb")
	if err != nil {
		return 0, nil, nil, 0, err
	}
	defer os.RemoveAll(dir)
	nodes := filepath.Join(dir, "nodes.in")
	os.WriteFile(nodes, []byte(fmt.Sprintf("%s.1\n%s.2\n%s.3\n", prefix, prefix, prefix)), 0o644)
	script := filepath.Join(repo, "tests", "local_daemons.sh")
	harness := func(args ...string) error { return benchkit.Harness(script, dir, im.env, args...) }
	if err := harness("setup", "-N", nodes); err != nil {
		return 0, nil, nil, 0, err
	}
	defer benchkit.StopAll(script, dir, im.env, 3)
	ctdb := func(args ...string) (string, error) {
		cmd := exec.Command("ctdb", args...)
		cmd.Env = append(os.Environ(), im.env...)
		cmd.Env = append(cmd.Env, "CTDB_TEST_MODE=yes", "CTDB_BASE="+filepath.Join(dir, "node.0"))
		if p := lookup(cmd.Env, "PATH"); p != "" {
			if lp, err := lookPath("ctdb", p, im); err == nil {
				cmd.Path = lp
			}
		}
		out, err := cmd.Output()
		return string(out), err
	}

	start := time.Now()
	if err := harness("start", "all"); err != nil {
		return 0, nil, nil, 0, err
	}
	for {
		out, err := ctdb("-X", "status")
		if err == nil && allOK(out) {
			break
		}
		if time.Since(start) > 60*time.Second {
			return 0, nil, nil, 0, errors.New("cluster not OK after 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)

	var pings, statuses []time.Duration
	for i := 0; i < calls; i++ {
		t0 := time.Now()
		if _, err := ctdb("ping"); err != nil {
			return 0, nil, nil, 0, fmt.Errorf("ctdb ping: %w", err)
		}
		pings = append(pings, time.Since(t0))
		t0 = time.Now()
		if _, err := ctdb("status"); err != nil {
			return 0, nil, nil, 0, fmt.Errorf("ctdb status: %w", err)
		}
		statuses = append(statuses, time.Since(t0))
	}
	// Idle RSS once the cluster has settled.
	time.Sleep(3 * time.Second)
	rss, err := nodeRSS(filepath.Join(dir, "node.0", "run"))
	return took, pings, statuses, rss, err
}

func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// lookPath finds the CLI of the implementation: gctdb's bin/ or PATH.
func lookPath(name, path string, im impl) (string, error) {
	if d := lookup(im.env, "GCTDB_BINDIR"); d != "" {
		return filepath.Join(d, name), nil
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// allOK reports whether `ctdb -X status` shows every node without flags.
func allOK(out string) bool {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return false
	}
	for _, l := range lines[1:] {
		f := strings.Split(strings.Trim(l, "|"), "|")
		if len(f) < 11 {
			return false
		}
		for _, v := range f[2:10] {
			if v != "0" {
				return false
			}
		}
	}
	return true
}

// nodeRSS sums VmRSS (kB) of the node's daemons (pid files in run/) and
// all their descendants.
func nodeRSS(runDir string) (int, error) {
	children := map[int][]int{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if pp := ppid(pid); pp > 0 {
			children[pp] = append(children[pp], pid)
		}
	}
	var roots []int
	for _, f := range []string{"ctdbd.pid", "transportd.pid"} {
		b, err := os.ReadFile(filepath.Join(runDir, f))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			roots = append(roots, pid)
		}
	}
	if len(roots) == 0 {
		return 0, fmt.Errorf("no pid file in %s", runDir)
	}
	total := 0
	seen := map[int]bool{}
	for len(roots) > 0 {
		pid := roots[0]
		roots = roots[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		total += rssKB(pid)
		roots = append(roots, children[pid]...)
	}
	return total, nil
}

func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.Atoi(f[1])
	return v
}

func rssKB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}
