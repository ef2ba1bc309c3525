package transport

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

// newBenchCluster starts two transports on <prefix>.1 and .2, each with
// an echo service.
func newBenchCluster(b *testing.B, prefix string) *cluster {
	b.Helper()
	t := &testing.T{}
	cl := &cluster{t: t, dir: b.TempDir()}
	for i := 0; i < 2; i++ {
		cl.nodes = append(cl.nodes, Node{PNN: uint32(i), Addr: net.ParseIP(fmt.Sprintf("%s.%d", prefix, i+1))})
	}
	for i := 0; i < 2; i++ {
		tr, err := New(Config{PNN: uint32(i), Nodes: cl.nodes, Port: 14379, SocketPath: filepath.Join(cl.dir, fmt.Sprintf("n%d.sock", i))})
		if err != nil {
			b.Fatal(err)
		}
		cl.trs = append(cl.trs, tr)
		cl.cancel = append(cl.cancel, nil)
		cl.done = append(cl.done, nil)
		cl.ports = append(cl.ports, nil)
		cl.start(i)
	}
	b.Cleanup(func() {
		for i := range cl.trs {
			cl.ports[i].Close()
			cl.cancel[i]()
			<-cl.done[i]
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !cl.trs[0].peers[1].isUp() || !cl.trs[1].peers[0].isUp() {
		if time.Now().After(deadline) {
			b.Fatal("links did not come up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cl
}

// reportLatency adds p50 and p99 in microseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

var payloadSizes = []int{64, 64 << 10}

// BenchmarkRoundTripTCP measures a request/reply between two nodes over
// TCP loopback: a port on node 0 calls the echo service on node 1.
func BenchmarkRoundTripTCP(b *testing.B) {
	for i, size := range payloadSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			cl := newBenchCluster(b, fmt.Sprintf("127.42.%d", 10+i))
			ctx := context.Background()
			data := make([]byte, size)
			dst := proto.Endpoint{PNN: 1, Service: proto.ServiceNode}
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				start := time.Now()
				if err := rpc.CallTyped(ctx, cl.ports[0], dst, proto.OpPing, &proto.Blob{Data: data}, nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// BenchmarkRoundTripUnix measures a client's request/reply over the unix
// socket to a service on the same node.
func BenchmarkRoundTripUnix(b *testing.B) {
	for i, size := range payloadSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			cl := newBenchCluster(b, fmt.Sprintf("127.42.%d", 20+i))
			ctx := context.Background()
			c, err := client.Connect(ctx, cl.trs[0].cfg.SocketPath)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			data := make([]byte, size)
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				start := time.Now()
				if err := c.Control(ctx, client.Local, proto.ServiceNode, proto.OpPing, &proto.Blob{Data: data}, nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

// drain counts one-way messages delivered to a service.
func drain(ctx context.Context, p *Port, got *atomic.Int64) {
	for {
		if _, ok := p.Inbox().Next(ctx); !ok {
			return
		}
		got.Add(1)
	}
}

// BenchmarkOneWayTCP measures one-way messages per second from node 0 to
// a service on node 1.
func BenchmarkOneWayTCP(b *testing.B) {
	for i, size := range payloadSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			cl := newBenchCluster(b, fmt.Sprintf("127.42.%d", 30+i))
			recv, err := cl.trs[1].Attach(proto.ServiceDatabase)
			if err != nil {
				b.Fatal(err)
			}
			defer recv.Close()
			oneWay(b, size, func(m *proto.Message) error { return cl.ports[0].Send(m) }, proto.Endpoint{PNN: 1, Service: proto.ServiceDatabase}, recv)
		})
	}
}

// BenchmarkOneWayUnix measures one-way messages per second from a client
// over the unix socket to a local service.
func BenchmarkOneWayUnix(b *testing.B) {
	for i, size := range payloadSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			cl := newBenchCluster(b, fmt.Sprintf("127.42.%d", 40+i))
			recv, err := cl.trs[0].Attach(proto.ServiceDatabase)
			if err != nil {
				b.Fatal(err)
			}
			defer recv.Close()
			c, err := client.Connect(context.Background(), cl.trs[0].cfg.SocketPath)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			send := func(m *proto.Message) error { return c.Send(m.Dst, m.Opcode, &proto.Blob{Data: m.Payload}) }
			oneWay(b, size, send, proto.Endpoint{PNN: 0, Service: proto.ServiceDatabase}, recv)
		})
	}
}

func oneWay(b *testing.B, size int, send func(*proto.Message) error, dst proto.Endpoint, recv *Port) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got atomic.Int64
	go drain(ctx, recv, &got)
	data := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		m := &proto.Message{Header: proto.Header{Dst: dst, Opcode: proto.OpMessage}, Payload: data}
		for {
			err := send(m)
			if err == nil {
				break
			}
			if proto.StatusOf(err) != proto.StatusQueueFull {
				b.Fatal(err)
			}
			// The queue is full: let the receiver catch up.
			time.Sleep(time.Millisecond)
		}
	}
	for got.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
