// Command failoverbench measures how long a killed node's public
// addresses stay unhosted, for gctdb and for Debian's CTDB 4.17 in the
// same run, both started by tests/local_daemons.sh with the same event
// scripts (addresses are bookkeeping only, as in CTDB's local daemons).
//
// Each run kills (SIGKILL) a node that hosts addresses and is not the
// leader, and polls `ctdb -X ip` on the other nodes until every address
// is hosted by one of them; the node is then restarted. Runs come in two
// series: "immediate" kills the next node as soon as the addresses are
// placed again after the restart, "settled" waits -settle first (CTDB's
// RerecoveryTimeout is 10 s).
//
//	make build && go run ./tests/bench/failoverbench -runs 20
//
// CTDB is skipped when /usr/sbin/ctdbd is missing (apt-get install ctdb).
package main

import (
	"errors"
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

type impl struct {
	name string
	env  []string
}

type config struct {
	repo   string
	prefix string
	runs   int
	settle time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 20, "kills per series and implementation")
	flag.StringVar(&cfg.prefix, "prefix", "127.106.96", "address prefix of the bench cluster (127.x.y)")
	flag.DurationVar(&cfg.settle, "settle", 12*time.Second, "wait before a kill in the settled series")
	only := flag.String("only", "", "run only this implementation (gctdb or ctdb)")
	which := flag.String("series", "immediate,settled", "the series to run")
	flag.Parse()
	repo, err := benchkit.RepoDir()
	if err != nil {
		fail(err)
	}
	cfg.repo = repo
	impls := []impl{{name: "gctdb", env: []string{"GCTDB_BINDIR=" + filepath.Join(repo, "bin"), "PATH=" + filepath.Join(repo, "bin") + ":" + os.Getenv("PATH")}}}
	if _, err := os.Stat("/usr/sbin/ctdbd"); err == nil {
		impls = append(impls, impl{name: "ctdb 4.17", env: []string{"LOCAL_DAEMONS_USE_PATH=1", "PATH=/usr/sbin:/usr/bin:" + os.Getenv("PATH")}})
	}
	fmt.Printf("| implementation | series | kill -9 -> addresses hosted elsewhere: median | max | runs |\n|---|---|---|---|---|\n")
	for _, im := range impls {
		if *only != "" && !strings.HasPrefix(im.name, *only) {
			continue
		}
		for _, settled := range []bool{false, true} {
			if !strings.Contains(*which, map[bool]string{false: "immediate", true: "settled"}[settled]) {
				continue
			}
			times, err := series(cfg, im, settled)
			if err != nil {
				fail(fmt.Errorf("%s: %w", im.name, err))
			}
			name := "immediate"
			if settled {
				name = "settled"
			}
			fmt.Printf("| %s | %s | %s | %s | %d |\n", im.name, name, benchkit.FmtDur(benchkit.Median(times)), benchkit.FmtDur(slices.Max(times)), len(times))
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "failoverbench: %v\n", err)
	os.Exit(1)
}

// bench is one cluster of the bench.
type bench struct {
	cfg config
	im  impl
	dir string
}

func (b *bench) harness(args ...string) error {
	return benchkit.Harness(filepath.Join(b.cfg.repo, "tests", "local_daemons.sh"), b.dir, b.im.env, args...)
}

func (b *bench) ctdb(node int, args ...string) (string, error) {
	cmd := exec.Command("ctdb", args...)
	cmd.Env = append(os.Environ(), b.im.env...)
	cmd.Env = append(cmd.Env, "CTDB_TEST_MODE=yes", fmt.Sprintf("CTDB_BASE=%s/node.%d", b.dir, node))
	if p, err := lookPath(cmd.Env); err == nil {
		cmd.Path = p
	}
	out, err := cmd.Output()
	return string(out), err
}

// lookPath finds ctdb on the PATH of env, not of this process.
func lookPath(env []string) (string, error) {
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, "ctdb")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// series starts a cluster, kills runs nodes one after the other and
// returns the failover times.
func series(cfg config, im impl, settled bool) ([]time.Duration, error) {
	dir, err := os.MkdirTemp("", "fb")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, im: im, dir: dir}
	nodes := filepath.Join(dir, "nodes.in")
	if err := os.WriteFile(nodes, []byte(fmt.Sprintf("%s.1\n%s.2\n%s.3\n", cfg.prefix, cfg.prefix, cfg.prefix)), 0o644); err != nil {
		return nil, err
	}
	// Every node gets the same four addresses, so any survivor can take
	// the victim's.
	pub := filepath.Join(dir, "public_addresses.in")
	if err := os.WriteFile(pub, []byte("192.168.100.1/24 lo\n192.168.100.2/24 lo\n192.168.200.1/24 lo\n192.168.200.2/24 lo\n"), 0o644); err != nil {
		return nil, err
	}
	if err := b.harness("setup", "-N", nodes, "-P", pub); err != nil {
		return nil, err
	}
	defer b.stopAll()
	if err := b.harness("start", "all"); err != nil {
		return nil, err
	}
	all := []int{0, 1, 2}
	if _, err := b.waitPlaced(all, time.Minute); err != nil {
		return nil, err
	}
	var times []time.Duration
	for r := 0; r < cfg.runs; r++ {
		if settled {
			time.Sleep(cfg.settle)
		}
		victim, err := b.victim(all)
		for wait := time.Now(); err != nil && time.Since(wait) < 30*time.Second; {
			time.Sleep(100 * time.Millisecond)
			victim, err = b.victim(all)
		}
		if err != nil {
			return nil, err
		}
		pid := benchkit.ReadPID(filepath.Join(dir, fmt.Sprintf("node.%d", victim), "run", "ctdbd.pid"))
		if pid == 0 {
			return nil, fmt.Errorf("node %d has no pid", victim)
		}
		survivors := slices.DeleteFunc(slices.Clone(all), func(n int) bool { return n == victim })
		start := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return nil, err
		}
		if _, err := b.waitPlaced(survivors, time.Minute); err != nil {
			// Counted at the limit: CTDB sometimes bans its nodes
			// after a kill during a recovery.
			fmt.Fprintf(os.Stderr, "%s run %d: %v\n", im.name, r, err)
		}
		took := time.Since(start)
		times = append(times, took)
		fmt.Fprintf(os.Stderr, "%s %v run %d: node %d -> %v\n", im.name, map[bool]string{false: "immediate", true: "settled"}[settled], r, victim, took)
		benchkit.WaitGone(pid, 5*time.Second)
		// CTDB's event daemon outlives a killed ctdbd for a moment and a
		// new ctdbd cannot start while it holds its socket.
		for _, helper := range []string{"eventd.pid", "transportd.pid"} {
			if hp := benchkit.ReadPID(filepath.Join(dir, fmt.Sprintf("node.%d", victim), "run", helper)); hp > 0 {
				benchkit.WaitGone(hp, 5*time.Second)
			}
		}
		if err := b.harness("start", strconv.Itoa(victim)); err != nil {
			return nil, err
		}
		// The returning node gets addresses back; should it not (CTDB
		// sometimes keeps it empty), any node hosting them will do.
		if _, err := b.waitPlaced(all, 30*time.Second); err != nil {
			if _, err := b.waitHosted(all, 5*time.Minute); err != nil {
				return nil, err
			}
		}
	}
	return times, nil
}

func (b *bench) stopAll() {
	for n := 0; n < 3; n++ {
		if pid := benchkit.ReadPID(filepath.Join(b.dir, fmt.Sprintf("node.%d", n), "run", "ctdbd.pid")); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			benchkit.WaitGone(pid, 5*time.Second)
		}
	}
}

// waitPlaced polls `ctdb -X ip` on every node of up until every address
// is hosted by one of them by its own account (with all three nodes up,
// each hosting some), and returns the time it took. Each node is asked
// about itself only, so a dying node cannot hold a poll up.
func (b *bench) waitPlaced(up []int, limit time.Duration) (time.Duration, error) {
	return b.wait(up, len(up) == 3, limit)
}

// waitHosted is waitPlaced without asking every node to host some.
func (b *bench) waitHosted(up []int, limit time.Duration) (time.Duration, error) {
	return b.wait(up, false, limit)
}

func (b *bench) wait(up []int, everyNode bool, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		hosted := map[string]bool{}
		hosts := 0
		for _, n := range up {
			out, err := b.ctdb(n, "-X", "ip")
			if err != nil {
				continue
			}
			own := false
			for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
				if f := strings.Split(l, "|"); len(f) >= 3 && f[2] == strconv.Itoa(n) {
					hosted[f[1]] = true
					own = true
				}
			}
			if own {
				hosts++
			}
		}
		if len(hosted) == 4 && (!everyNode || hosts == len(up)) {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("addresses not placed in time: %v", hosted)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// victim picks a node that hosts addresses and does not lead, asking
// each node about itself.
func (b *bench) victim(up []int) (int, error) {
	leader := -1
	if out, err := b.ctdb(up[0], "leader"); err == nil {
		leader, _ = strconv.Atoi(strings.TrimSpace(out))
	} else {
		// gctdb before the cluster service: the lowest connected node.
		leader = 0
	}
	for _, n := range up {
		if n == leader {
			continue
		}
		out, err := b.ctdb(n, "-X", "ip")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if f := strings.Split(l, "|"); len(f) >= 3 && f[2] == strconv.Itoa(n) {
				return n, nil
			}
		}
	}
	return 0, errors.New("no node but the leader hosts addresses")
}
