//go:build integration

package cluster

import (
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkClusterFailover measures, in the namespace cluster, the time
// from a node's failure to its public addresses answering TCP from
// another node: "kill" powers the node off (kill -9 of ctdbd, then its
// link goes), "cut" drops all its traffic while it keeps running. Each
// operation is one failure of a node hosting addresses that does not
// lead, followed by its return; the metrics are the median and maximum
// over all operations. The ctdb runs do the same with Debian's CTDB 4.17
// (skipped when it is not installed).
//
//	go test -tags integration -run '^$' -bench ClusterFailover -benchtime 20x ./tests/cluster/
//
// The time of a b.Loop operation includes the node's return; the
// failover times are the metrics.
func BenchmarkClusterFailover(b *testing.B) {
	for k, run := range []struct {
		name string
		ctdb bool
		mode string
	}{{"gctdb/kill", false, "kill"}, {"gctdb/cut", false, "cut"}, {"ctdb/kill", true, "kill"}, {"ctdb/cut", true, "cut"}} {
		mode := run.mode
		b.Run(run.name, func(b *testing.B) {
			c := New(b, Options{Net: byte(20 + k), Tunables: fastTunables, CTDB: run.ctdb})
			c.StartServers()
			c.Start()
			if err := c.WaitHealthy(c.All(), 30*time.Second); err != nil {
				b.Fatal(err)
			}
			waitSettled(b, c, c.All())
			// GCTDB_BENCH_SETTLE waits that long before each failure (CTDB
			// waits RerecoveryTimeout, 10 s, after a recovery before it
			// moves addresses again).
			pause, _ := time.ParseDuration(os.Getenv("GCTDB_BENCH_SETTLE"))
			var times []time.Duration
			round := 0
			for b.Loop() {
				time.Sleep(pause)
				victim := 1 + round%(len(c.Nodes)-1)
				round++
				moved := hostedOn(c, victim)
				if len(moved) == 0 {
					b.Fatalf("node %d hosts nothing: %v", victim, c.HoldersAll())
				}
				up := slices.DeleteFunc(c.All(), func(i int) bool { return i == victim })
				start := time.Now()
				if mode == "kill" {
					c.PowerOff(victim)
				} else {
					c.Cut(victim, CutDrop)
				}
				times = append(times, waitReachable(b, c, moved, up, start, 3*time.Minute))
				if mode == "kill" {
					c.PowerOn(victim)
				} else {
					c.Restore(victim, CutDrop)
				}
				if err := c.WaitHealthy(c.All(), 30*time.Second); err != nil {
					b.Fatal(err)
				}
				waitSettled(b, c, c.All())
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/float64(time.Millisecond), "median-ms")
			b.ReportMetric(float64(times[len(times)-1])/float64(time.Millisecond), "max-ms")
			b.Logf("%s: %v", mode, times)
		})
	}
}
