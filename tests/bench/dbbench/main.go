// Command dbbench measures the database side of a cluster for gctdb and
// for Debian's CTDB 4.17 in the same run, both started as 3-node clusters
// by tests/local_daemons.sh:
//
//   - the wall time of the CLI's readkey, writekey, pstore and pfetch
//     (median of -calls), and of ptrans of -records records (median of
//     -ptrans-runs);
//
//   - gctdb only, the client library's FetchLock + Store round trips/s
//     from 1 and 8 connections to a node that is the records' dmaster;
//
//   - gctdb only, with the test programs of tests/src (CTDB's C test
//     programs are not packaged by Debian): record migrations/s between
//     two nodes (fetch_ring -n 2), messages/s (message_ring on 3 nodes),
//     and persistent transactions committed/s on 3 nodes
//     (transaction_loop), each for -ring seconds.
//
//     make build && go run ./tests/bench/dbbench -calls 20 -ring 10
//
// CTDB is skipped when /usr/sbin/ctdbd is missing (apt-get install ctdb).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/bench/internal/benchkit"
)

type impl struct {
	name  string
	gctdb bool
	env   []string // extra environment for the harness and the CLI
}

type cluster struct {
	repo, dir string
	im        impl
}

func main() {
	calls := flag.Int("calls", 20, "CLI calls per command")
	records := flag.Int("records", 10000, "records of one ptrans")
	ptransRuns := flag.Int("ptrans-runs", 3, "ptrans runs")
	ring := flag.Int("ring", 10, "seconds of each test program run")
	prefix := flag.String("prefix", "127.104.9", "address prefix of the bench cluster (127.x.y)")
	only := flag.String("only", "", "run one implementation only: gctdb or ctdb")
	flag.Parse()

	repo, err := benchkit.RepoDir()
	if err != nil {
		fail(err)
	}
	var impls []impl
	if *only != "ctdb" {
		impls = append(impls, impl{name: "gctdb", gctdb: true, env: []string{"GCTDB_BINDIR=" + filepath.Join(repo, "bin")}})
	}
	if _, err := os.Stat("/usr/sbin/ctdbd"); err == nil && *only != "gctdb" {
		impls = append(impls, impl{name: "ctdb 4.17", env: []string{"LOCAL_DAEMONS_USE_PATH=1", "PATH=/usr/sbin:/usr/bin:" + os.Getenv("PATH")}})
	}

	type cliRow struct {
		name                          string
		readkey, writekey, pstore, pf time.Duration
		ptrans                        time.Duration
	}
	var rows []cliRow
	var progs []string
	for _, im := range impls {
		c, err := start(repo, im, *prefix)
		if err != nil {
			fail(fmt.Errorf("%s: %w", im.name, err))
		}
		r := cliRow{name: im.name}
		err = func() error {
			if _, err := c.ctdb(0, "attach", "bench_vol.tdb"); err != nil {
				return err
			}
			if _, err := c.ctdb(0, "attach", "bench_pers.tdb", "persistent"); err != nil {
				return err
			}
			var errs []error
			timeCLI := func(args ...string) time.Duration {
				var ds []time.Duration
				for i := 0; i < *calls; i++ {
					a := slices.Clone(args)
					for j := range a {
						a[j] = strings.ReplaceAll(a[j], "%d", strconv.Itoa(i))
					}
					t0 := time.Now()
					if _, err := c.ctdb(0, a...); err != nil {
						errs = append(errs, err)
					}
					ds = append(ds, time.Since(t0))
				}
				return benchkit.Median(ds)
			}
			r.writekey = timeCLI("writekey", "bench_vol.tdb", "key%d", "value%d")
			r.readkey = timeCLI("readkey", "bench_vol.tdb", "key%d")
			r.pstore = timeCLI("pstore", "bench_pers.tdb", "key%d", "value%d")
			r.pf = timeCLI("pfetch", "bench_pers.tdb", "key%d")
			// Every run changes every record: CTDB skips unchanged ones.
			var ds []time.Duration
			for run := 0; run < *ptransRuns; run++ {
				file := filepath.Join(c.dir, "ptrans.in")
				var b strings.Builder
				for i := 0; i < *records; i++ {
					fmt.Fprintf(&b, "\"ptrans-key-%06d\" \"value %d of record %06d\"\n", i, run, i)
				}
				if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
					return err
				}
				t0 := time.Now()
				if _, err := c.ctdb(0, "ptrans", "bench_pers.tdb", file); err != nil {
					return err
				}
				ds = append(ds, time.Since(t0))
			}
			r.ptrans = benchkit.Median(ds)
			if out, err := c.ctdb(1, "pfetch", "bench_pers.tdb", fmt.Sprintf("ptrans-key-%06d", *records-1)); err != nil || !strings.Contains(out, fmt.Sprintf("value %d of record %06d", *ptransRuns-1, *records-1)) {
				return fmt.Errorf("ptrans result not on node 1: %q %v", out, err)
			}
			if im.gctdb {
				p, err := c.programs(*ring)
				if err != nil {
					return err
				}
				progs = p
			}
			return errors.Join(errs...)
		}()
		c.stop()
		if err != nil {
			fail(fmt.Errorf("%s: %w", im.name, err))
		}
		rows = append(rows, r)
	}
	fmt.Printf("| implementation | readkey | writekey | pstore | pfetch | ptrans of %d records |\n", *records)
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.name, benchkit.FmtDur(r.readkey), benchkit.FmtDur(r.writekey), benchkit.FmtDur(r.pstore), benchkit.FmtDur(r.pf), benchkit.FmtDur(r.ptrans))
	}
	if progs != nil {
		fmt.Println()
		fmt.Printf("| gctdb test program (%d s) | result |\n", *ring)
		fmt.Println("|---|---|")
		for _, p := range progs {
			fmt.Println(p)
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "dbbench: %v\n", err)
	os.Exit(1)
}

// start sets up and starts a 3-node cluster and waits until every node
// is OK and out of recovery.
func start(repo string, im impl, prefix string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "dbbench")
	if err != nil {
		return nil, err
	}
	c := &cluster{repo: repo, dir: dir, im: im}
	nodes := filepath.Join(dir, "nodes.in")
	os.WriteFile(nodes, []byte(fmt.Sprintf("%s.1\n%s.2\n%s.3\n", prefix, prefix, prefix)), 0o644)
	if err := c.harness("setup", "-N", nodes); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.harness("start", "all"); err != nil {
		c.stop()
		return nil, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := c.ctdb(0, "-X", "status")
		if err == nil && allOK(out) {
			if st, err := c.ctdb(0, "status"); err == nil && strings.Contains(st, "Recovery mode:NORMAL") {
				break
			}
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, errors.New("cluster not OK after 90 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c, nil
}

func (c *cluster) stop() {
	c.harness("stop", "all")
	os.RemoveAll(c.dir)
}

func (c *cluster) harness(args ...string) error {
	return benchkit.Harness(filepath.Join(c.repo, "tests", "local_daemons.sh"), c.dir, c.im.env, args...)
}

// command returns a command of the implementation run "on" node pnn.
func (c *cluster) command(pnn int, name string, args ...string) *exec.Cmd {
	path := filepath.Join("/usr/bin", name)
	if c.im.gctdb {
		path = filepath.Join(c.repo, "bin", name)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), c.im.env...)
	cmd.Env = append(cmd.Env, "CTDB_TEST_MODE=yes", "CTDB_BASE="+filepath.Join(c.dir, fmt.Sprintf("node.%d", pnn)))
	return cmd
}

func (c *cluster) ctdb(pnn int, args ...string) (string, error) {
	cmd := c.command(pnn, "ctdb", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctdb %v: %v: %s", args, err, stderr.String())
	}
	return string(out), nil
}

// onNodes runs a test program on nodes 0..n-1 at once and returns their
// outputs.
func (c *cluster) onNodes(n int, name string, args ...string) ([]string, error) {
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := c.command(i, name, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			outs[i] = string(out)
			if err != nil {
				errs[i] = fmt.Errorf("%s on node %d: %v: %s%s", name, i, err, out, stderr.String())
			}
		}()
	}
	wg.Wait()
	return outs, errors.Join(errs...)
}

var (
	fetchRE = regexp.MustCompile(`Fetch\[\d+\]: ([0-9.]+) msgs/sec`)
	ringRE  = regexp.MustCompile(`(?m)^Ring: ([0-9.]+) msgs/sec`)
	txRE    = regexp.MustCompile(`(?m)^Transaction\[(\d+)\]:((?: +\d+)+) *$`)
)

// programs runs the gctdb test programs and returns table rows.
func (c *cluster) programs(seconds int) ([]string, error) {
	t := strconv.Itoa(seconds)
	var rows []string
	for _, n := range []int{1, 8} {
		d0, s0 := c.daemonCPU(), selfCPU()
		rate, err := c.fetchLockRate(n, seconds)
		if err != nil {
			return nil, err
		}
		d1, s1 := c.daemonCPU(), selfCPU()
		ops := rate * float64(seconds)
		rows = append(rows, fmt.Sprintf("| client library, %d client(s) on node 0: FetchLock + Store, node 0 dmaster | %.0f round trips/s (CPU per round trip: daemon %.1f µs, client %.1f µs) |",
			n, rate, float64((d1-d0).Microseconds())/ops, float64((s1-s0).Microseconds())/ops))
	}
	outs, err := c.onNodes(2, "fetch_ring", "-n", "2", "-t", t, "-D", "bench_ring.tdb", "-k", "ring")
	if err != nil {
		return nil, err
	}
	var migr float64
	for _, o := range outs {
		m := fetchRE.FindStringSubmatch(o)
		if m == nil {
			return nil, fmt.Errorf("fetch_ring output: %q", o)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		migr += v
	}
	rows = append(rows, fmt.Sprintf("| fetch_ring -n 2 (record migrations between 2 nodes) | %.0f migrations/s |", migr))

	outs, err = c.onNodes(3, "message_ring", "-n", "3", "-t", t)
	if err != nil {
		return nil, err
	}
	var msgs float64
	for _, o := range outs {
		m := ringRE.FindStringSubmatch(o)
		if m == nil {
			return nil, fmt.Errorf("message_ring output: %q", o)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		msgs += v
	}
	rows = append(rows, fmt.Sprintf("| message_ring -n 3 | %.0f msgs/s (sum of 3 nodes) |", msgs))

	t0 := time.Now()
	outs, err = c.onNodes(3, "transaction_loop", "-n", "3", "-t", t, "-D", "bench_tx.tdb", "-T", "persistent", "-k", "tx")
	if err != nil {
		return nil, err
	}
	took := time.Since(t0)
	total := 0
	for _, o := range outs {
		ms := txRE.FindAllStringSubmatch(o, -1)
		if ms == nil {
			return nil, fmt.Errorf("transaction_loop output: %q", o)
		}
		last := ms[len(ms)-1]
		pnn, _ := strconv.Atoi(last[1])
		f := strings.Fields(last[2])
		n, _ := strconv.Atoi(f[pnn])
		total += n
	}
	_ = took
	rows = append(rows, fmt.Sprintf("| transaction_loop -n 3 -T persistent | %.0f transactions/s (%d in %d s) |", float64(total)/float64(seconds), total, seconds))
	return rows, nil
}

// fetchLockRate runs clients client connections to node 0, each doing
// FetchLock and Store of its own 64 keys in a loop, and returns the
// fetch-locks per second of them all.
func (c *cluster) fetchLockRate(clients, seconds int) (float64, error) {
	socket := client.SocketPath(func(k string) (string, bool) {
		switch k {
		case "CTDB_TEST_MODE":
			return "yes", true
		case "CTDB_BASE":
			return filepath.Join(c.dir, "node.0"), true
		}
		return "", false
	})
	ctx := context.Background()
	var total atomic.Int64
	errs := make([]error, clients)
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				cl, err := client.Connect(ctx, socket)
				if err != nil {
					return err
				}
				defer cl.Close()
				db, err := cl.Attach(ctx, "bench_fetchlock.tdb", client.Volatile)
				if err != nil {
					return err
				}
				data := make([]byte, 200)
				n := 0
				for ; time.Now().Before(deadline); n++ {
					rec, err := db.FetchLock(ctx, fmt.Appendf(nil, "c%d-k%d", i, n%64))
					if err != nil {
						return err
					}
					if err := rec.Store(ctx, data); err != nil {
						return err
					}
				}
				total.Add(int64(n))
				return nil
			}()
		}()
	}
	wg.Wait()
	return float64(total.Load()) / float64(seconds), errors.Join(errs...)
}

// daemonCPU returns the CPU time node 0's ctdbd has used.
func (c *cluster) daemonCPU() time.Duration {
	b, err := os.ReadFile(filepath.Join(c.dir, "node.0", "run", "ctdbd.pid"))
	if err != nil {
		return 0
	}
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return 0
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
