package ipalloc

import (
	"fmt"
	"net/netip"
	"testing"
)

// benchCluster is nodes healthy nodes sharing addrs addresses spread over
// /24 subnets of 64 addresses each.
func benchCluster(nodes, addrs int) Input {
	list := make([]netip.Addr, addrs)
	for i := range list {
		list[i] = netip.AddrFrom4([4]byte{10, 1, byte(i / 64), byte(1 + i%64)})
	}
	return uniformCluster(nodes, list)
}

// settled returns the cluster after a first takeover run, with one node
// failed: the common "node died" takeover run.
func settled(b *testing.B, nodes, addrs int, algo Algorithm) Input {
	in := benchCluster(nodes, addrs)
	in.Tunables.Algorithm = algo
	out, err := Allocate(in)
	if err != nil {
		b.Fatal(err)
	}
	held := byAddr(out)
	for i := range in.IPs {
		in.IPs[i].Holder = held[in.IPs[i].Addr]
	}
	in.Nodes[nodes/2].Flags = Unhealthy
	return in
}

func BenchmarkAllocate(b *testing.B) {
	sizes := []struct{ nodes, addrs int }{{3, 64}, {16, 64}, {64, 1024}}
	for _, algo := range []Algorithm{LCP2, NonDeterministic, Deterministic} {
		for _, sz := range sizes {
			fresh := benchCluster(sz.nodes, sz.addrs)
			fresh.Tunables.Algorithm = algo
			b.Run(fmt.Sprintf("%s/%dx%d/fresh", algo, sz.nodes, sz.addrs), func(b *testing.B) {
				for b.Loop() {
					if _, err := Allocate(fresh); err != nil {
						b.Fatal(err)
					}
				}
			})
			failed := settled(b, sz.nodes, sz.addrs, algo)
			b.Run(fmt.Sprintf("%s/%dx%d/node-failed", algo, sz.nodes, sz.addrs), func(b *testing.B) {
				for b.Loop() {
					if _, err := Allocate(failed); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
