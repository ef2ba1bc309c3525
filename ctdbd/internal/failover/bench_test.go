package failover_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/clienttest"
	"gctdb/ctdbd/internal/cluster"
	"gctdb/ctdbd/internal/eventd"
	"gctdb/ctdbd/internal/failover"
	"gctdb/ctdbd/internal/node"
	"gctdb/ctdbd/internal/service"
	"gctdb/transportd/proto"
)

// BenchmarkTakeoverRun measures takeover runs on in-process nodes with
// 64 public addresses: each operation disables (or enables again) one
// node and waits for `ctdb ipreallocate`, so it is one run that moves the
// node's share of the addresses, and its events (no scripts).
func BenchmarkTakeoverRun(b *testing.B) {
	for _, nodes := range []int{3, 16} {
		b.Run(fmt.Sprintf("%dnodes-64addrs", nodes), func(b *testing.B) {
			benchTakeover(b, nodes, 64)
		})
	}
}

func benchTakeover(b *testing.B, nodes, addrs int) {
	var pa strings.Builder
	for i := 0; i < addrs; i++ {
		fmt.Fprintf(&pa, "10.77.%d.%d/16 eth0\n", i/200, 1+i%200)
	}
	dirs := make([]string, nodes)
	var hosts []string
	for i := range dirs {
		dirs[i] = b.TempDir()
		if err := os.WriteFile(filepath.Join(dirs[i], "public_addresses"), []byte(pa.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, fmt.Sprintf("127.106.%d.%d", 60+nodes, i+1))
	}
	cl := clienttest.Start(b, clienttest.Options{
		Addrs: hosts, Port: 14679, LivenessPort: 14680,
		Gates: []string{node.GateSetup, node.GateStartup},
		Services: func(pnn uint32) []service.Service {
			return []service.Service{
				eventd.New(eventd.Options{Dir: filepath.Join(dirs[pnn], "legacy")}),
				cluster.New(cluster.Options{}),
				failover.New(failover.Options{PublicAddressesFile: filepath.Join(dirs[pnn], "public_addresses"), Network: &fakeNet{present: map[netip.Addr]string{}}}),
			}
		},
	})
	ctx := context.Background()
	c, err := client.Connect(ctx, cl.Socket(0))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Settled: every node RUNNING and hosting its share.
	deadline := time.Now().Add(time.Minute)
	for {
		if err := c.IPReallocate(ctx); err == nil && everyNodeHosts(ctx, c, nodes) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("cluster did not settle")
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim := uint32(nodes - 1)
	disabled := false
	b.ResetTimer()
	for b.Loop() {
		set, clr := proto.NodeFlagPermanentlyDisabled, uint32(0)
		if disabled {
			set, clr = 0, proto.NodeFlagPermanentlyDisabled
		}
		if err := c.ModifyFlags(ctx, victim, set, clr); err != nil {
			b.Fatal(err)
		}
		if err := c.IPReallocate(ctx); err != nil {
			b.Fatal(err)
		}
		disabled = !disabled
	}
}

func everyNodeHosts(ctx context.Context, c *client.Client, nodes int) bool {
	l, err := c.PublicIPs(ctx, client.Local)
	if err != nil {
		return false
	}
	hosting := make(map[uint32]bool)
	for _, ip := range l.IPs {
		if ip.PNN == proto.PNNUnknown {
			return false
		}
		hosting[ip.PNN] = true
	}
	return len(hosting) == nodes
}
