// Command recoverybench measures how long a recovery of a 3-node cluster
// takes with N records in each of D volatile databases, for gctdb and for
// Debian's CTDB 4.17 in the same run, both started by
// tests/local_daemons.sh with their defaults. For each size it loads the
// records scattered over the nodes (each record on one node, as after
// clients worked on every node), then runs `ctdb recover` -runs times and
// reports, for the first recovery and as medians of the others:
//
//   - the daemon's own duration of the recovery (`ctdb uptime`, "Duration
//     of last recovery/failover");
//   - the wall time of `ctdb recover`;
//   - the wall time from `ctdb recover` until `ctdb status` shows
//     "Recovery mode:NORMAL" on every node.
//
// Both are loaded the same way: every record written into one node's
// copy with that node as data master and RSN 1 (node i mod 3), so the
// first recovery moves two thirds of the records to their lmasters and
// the next ones find them in place. gctdb is loaded with UPDATE_RECORD
// through its client, CTDB by writing its local TDB files with Python's
// tdb module (python3-tdb), as CTDB's own clients write records. The
// report gives the first recovery after the load and the median of the
// following ones.
//
//	tests/bench/recovery.sh -records 10000,100000 -runs 4
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
	"strconv"
	"strings"
	"sync"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/bench/internal/benchkit"
	"gctdb/transportd/proto"
)

type impl struct {
	name string
	env  []string
	cli  string
}

func main() {
	sizes := flag.String("records", "10000,100000", "records per database, comma-separated sizes")
	dbs := flag.Int("dbs", 3, "volatile databases")
	runs := flag.Int("runs", 4, "recoveries per size (the first after the load, then the others)")
	prefix := flag.String("prefix", "127.103.91", "address prefix of the bench cluster (127.x.y)")
	only := flag.String("only", "", "run only this implementation (gctdb or ctdb)")
	flag.BoolVar(&showSteps, "steps", false, "print gctdb's per-database step times from the leader's log")
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
	fmt.Printf("| implementation | records | recovery | in the daemon | `ctdb recover` | until status NORMAL everywhere |\n")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(fmt.Errorf("bad size %q", s))
		}
		for _, im := range impls {
			if *only != "" && !strings.HasPrefix(im.name, *only) {
				continue
			}
			r, err := measure(repo, im, *prefix, n, *dbs, *runs)
			if err != nil {
				fail(fmt.Errorf("%s, %d records: %w", im.name, n, err))
			}
			fmt.Printf("| %s | %d x %d volatile | first (moves 2/3) | %s | %s | %s |\n", im.name, *dbs, n,
				benchkit.FmtDur(r.daemon[0]), benchkit.FmtDur(r.command[0]), benchkit.FmtDur(r.normal[0]))
			if len(r.daemon) > 1 {
				fmt.Printf("| %s | %d x %d volatile | next (median of %d) | %s | %s | %s |\n", im.name, *dbs, n, len(r.daemon)-1,
					benchkit.FmtDur(benchkit.Median(r.daemon[1:])), benchkit.FmtDur(benchkit.Median(r.command[1:])), benchkit.FmtDur(benchkit.Median(r.normal[1:])))
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "recoverybench: %v\n", err)
	os.Exit(1)
}

type cluster struct {
	dir, script string
	im          impl
}

func (c *cluster) harness(args ...string) error {
	return benchkit.Harness(c.script, c.dir, c.im.env, args...)
}

func (c *cluster) env(n int) []string {
	env := append(os.Environ(), c.im.env...)
	return append(env, "CTDB_TEST_MODE=yes", fmt.Sprintf("CTDB_BASE=%s/node.%d", c.dir, n))
}

func (c *cluster) ctdb(n int, args ...string) (string, error) {
	cmd := exec.Command(c.im.cli, args...)
	cmd.Env = c.env(n)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctdb %v on node %d: %w: %s", args, n, err, out)
	}
	return string(out), nil
}

var modeRE = regexp.MustCompile(`Recovery mode:(\w+)`)

// normal reports whether every node shows recovery mode NORMAL.
func (c *cluster) normal() bool {
	for n := 0; n < 3; n++ {
		out, err := c.ctdb(n, "status")
		m := modeRE.FindStringSubmatch(out)
		if err != nil || m == nil || m[1] != "NORMAL" {
			return false
		}
	}
	return true
}

func (c *cluster) healthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := c.ctdb(0, "nodestatus", "all")
		if err == nil && strings.Count(out, " OK") == 3 && c.normal() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("cluster not healthy within %v", within)
}

var durationRE = regexp.MustCompile(`Duration of last recovery/failover: ([0-9.]+) seconds`)

func (c *cluster) lastDuration() (time.Duration, error) {
	out, err := c.ctdb(0, "uptime")
	if err != nil {
		return 0, err
	}
	m := durationRE.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no recovery duration in %q", out)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	return time.Duration(f * float64(time.Second)), err
}

type results struct{ daemon, command, normal []time.Duration }

// showSteps prints gctdb's "database recovered" log lines.
var showSteps bool

func (c *cluster) printSteps() {
	cmd := exec.Command(c.script, c.dir, "print-log", "all")
	cmd.Env = append(os.Environ(), c.im.env...)
	out, _ := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "database recovered") && strings.Contains(l, "service=recovery") {
			fmt.Fprintln(os.Stderr, l)
		}
	}
}

func measure(repo string, im impl, prefix string, n, dbs, runs int) (*results, error) {
	dir, err := os.MkdirTemp("", "rb")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	nodes := filepath.Join(dir, "nodes.in")
	if err := os.WriteFile(nodes, []byte(fmt.Sprintf("%s.1\n%s.2\n%s.3\n", prefix, prefix, prefix)), 0o644); err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, script: filepath.Join(repo, "tests", "local_daemons.sh"), im: im}
	if err := c.harness("setup", "-N", nodes); err != nil {
		return nil, err
	}
	if err := c.harness("start", "all"); err != nil {
		return nil, err
	}
	defer c.harness("stop", "all")
	if err := c.healthy(2 * time.Minute); err != nil {
		return nil, err
	}
	for d := 0; d < dbs; d++ {
		name := fmt.Sprintf("recbench_%d.tdb", d)
		if _, err := c.ctdb(0, "attach", name); err != nil {
			return nil, err
		}
		if err := c.load(name, n); err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
	}
	// Settle: the attach may itself have started a recovery.
	if err := c.healthy(2 * time.Minute); err != nil {
		return nil, err
	}
	r := &results{}
	for i := 0; i < runs; i++ {
		start := time.Now()
		if _, err := c.ctdb(1, "recover"); err != nil {
			return nil, err
		}
		r.command = append(r.command, time.Since(start))
		for !c.normal() {
			if time.Since(start) > 5*time.Minute {
				return nil, errors.New("status never NORMAL after recover")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.normal = append(r.normal, time.Since(start))
		d, err := c.lastDuration()
		if err != nil {
			return nil, err
		}
		r.daemon = append(r.daemon, d)
		fmt.Fprintf(os.Stderr, "%s, %d records, run %d: daemon %v, recover %v, normal %v\n", im.name, n, i,
			d.Round(time.Millisecond), r.command[i].Round(time.Millisecond), r.normal[i].Round(time.Millisecond))
	}
	if showSteps && im.name == "gctdb" {
		c.printSteps()
	}
	if err := c.check(n, dbs); err != nil {
		return nil, err
	}
	return r, nil
}

// load puts n records into a volatile database, each on one node.
func (c *cluster) load(name string, n int) error {
	if c.im.name == "gctdb" {
		return c.loadGctdb(name, n)
	}
	return c.loadCTDB(name, n)
}

func key(i int) []byte   { return []byte(fmt.Sprintf("key-%08d", i)) }
func value(i int) []byte { return []byte(fmt.Sprintf("value-%08d-%s", i, strings.Repeat("x", 80))) }

// loadGctdb writes each record straight into one node's copy with that
// node as data master (UPDATE_RECORD), as loadCTDB does for CTDB, so the
// first recovery has to move two thirds of them.
func (c *cluster) loadGctdb(name string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3*loadWorkers)
	for node := 0; node < 3; node++ {
		cl, err := client.Connect(ctx, filepath.Join(c.dir, fmt.Sprintf("node.%d", node), "run", "ctdbd.socket"), client.Options{Name: "recoverybench"})
		if err != nil {
			return err
		}
		defer cl.Close()
		db, err := cl.Attach(ctx, name, client.Volatile)
		if err != nil {
			return err
		}
		for w := 0; w < loadWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := node + 3*w; i < n; i += 3 * loadWorkers {
					h := proto.RecordHeader{RSN: 1, DMaster: uint32(node)}
					if err := db.UpdateRecord(ctx, key(i), h, value(i)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// loadWorkers is the number of concurrent writers per node.
const loadWorkers = 8

// tdbMutexLocking is TDB_MUTEX_LOCKING: CTDB opens volatile databases
// with it, and every opener must then use it too.
const tdbMutexLocking = 4096

// loadScript stores records i = start, start+step, ... < n into a CTDB
// volatile database file with a CTDB record header (rsn 1, dmaster).
const loadScript = `
import struct, sys, tdb
path, start, step, n, dmaster, flags = sys.argv[1], *map(int, sys.argv[2:7])
t = tdb.Tdb(path, 0, flags, 2)
hdr = struct.pack('<QIIII', 1, dmaster, 0, 0, 0)
t.transaction_start()
for i in range(start, n, step):
    t.store(b'key-%08d' % i, hdr + b'value-%08d-' % i + b'x' * 80, tdb.REPLACE)
t.transaction_commit()
t.close()
`

var pathRE = regexp.MustCompile(`name:(\S+) path:(\S+)`)

func (c *cluster) loadCTDB(name string, n int) error {
	for node := 0; node < 3; node++ {
		out, err := c.ctdb(node, "getdbmap")
		if err != nil {
			return err
		}
		path := ""
		for _, m := range pathRE.FindAllStringSubmatch(out, -1) {
			if m[1] == name {
				path = m[2]
			}
		}
		if path == "" {
			return fmt.Errorf("%s not attached on node %d", name, node)
		}
		cmd := exec.Command("/usr/bin/python3", "-c", loadScript, path, strconv.Itoa(node), "3", strconv.Itoa(n),
			strconv.Itoa(node), strconv.Itoa(tdbMutexLocking))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("fill %s on node %d: %w: %s", path, node, err, out)
		}
	}
	return nil
}

var countRE = regexp.MustCompile(`Dumped (\d+) records`)

// check counts every database's records after the recoveries.
func (c *cluster) check(n, dbs int) error {
	for d := 0; d < dbs; d++ {
		out, err := c.ctdb(2, "catdb", fmt.Sprintf("recbench_%d.tdb", d))
		if err != nil {
			return err
		}
		m := countRE.FindStringSubmatch(out)
		if m == nil || m[1] != strconv.Itoa(n) {
			return fmt.Errorf("recbench_%d.tdb: %d records expected after recovery, catdb says %q", d, n, m)
		}
	}
	return nil
}
