//go:build integration

package simple

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/tests/localdaemons"
	"gctdb/transportd/proto"
)

// readOnly are the requests a mutated frame may still carry: anything
// that changes state (shutdown, flags, tunables) is legitimate from a
// client, so a mutation that happens to produce one is not sent.
var readOnly = map[proto.Opcode]bool{
	proto.OpPing: true, proto.OpGetPNN: true, proto.OpGetPID: true, proto.OpGetRunstate: true,
	proto.OpUptime: true, proto.OpGetNodeMap: true, proto.OpGetTunable: true, proto.OpListTunables: true,
	proto.OpGetDebug: true, proto.OpGetCapabilities: true, proto.OpStatistics: true,
	proto.OpEcho: true, proto.OpTransportStats: true, proto.OpProcessExists: true,
	proto.OpMessage: true, proto.OpGetConnectivity: true, proto.OpHello: true,
}

func seedFrames(pnn uint32) [][]byte {
	mk := func(dst proto.Endpoint, op proto.Opcode, p proto.Payload, flags uint32) []byte {
		m := &proto.Message{Header: proto.Header{ProtocolVersion: 1, Dst: dst, Src: proto.Endpoint{PNN: pnn, Service: proto.ServiceClient}, Flags: flags, ReqID: 7, Opcode: op}}
		if p != nil {
			m.Payload = p.AppendTo(nil)
		}
		return m.Encode()
	}
	node := proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceNode}
	return [][]byte{
		mk(node, proto.OpPing, nil, proto.FlagRequest),
		mk(node, proto.OpGetNodeMap, nil, proto.FlagRequest),
		mk(node, proto.OpGetTunable, &proto.Name{Name: "MonitorInterval"}, proto.FlagRequest),
		mk(node, proto.OpStatistics, nil, proto.FlagRequest),
		mk(proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceTransport}, proto.OpEcho, &proto.Blob{Data: []byte("echo")}, proto.FlagRequest),
		mk(proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceTransport}, proto.OpProcessExists, &proto.ProcessExists{PID: 1, SrvID: 2}, proto.FlagRequest),
		mk(proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceMessage, ID: 0xAE00000000000042}, proto.OpMessage, &proto.Blob{Data: []byte("m")}, 0),
		mk(proto.Endpoint{PNN: proto.PNNLocal, Service: proto.ServiceMembership}, proto.OpGetConnectivity, nil, proto.FlagRequest),
	}
}

// mutate returns a corrupted copy of f, or random garbage.
func mutate(r *rand.Rand, f []byte) []byte {
	b := append([]byte(nil), f...)
	switch r.IntN(6) {
	case 0: // flip bits
		for i := 0; i < 1+r.IntN(4); i++ {
			b[r.IntN(len(b))] ^= 1 << r.IntN(8)
		}
	case 1: // random bytes in place
		for i := 0; i < 1+r.IntN(8); i++ {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
	case 2: // truncate (the length field then lies)
		b = b[:r.IntN(len(b))]
	case 3: // corrupt the length field
		v := r.Uint32()
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	case 4: // corrupt the payload only
		if len(b) > proto.HeaderSize {
			b[proto.HeaderSize+r.IntN(len(b)-proto.HeaderSize)] ^= 0xFF
		}
	default: // garbage
		b = make([]byte, r.IntN(200))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	return b
}

// sendable reports whether a mutated frame may be sent: it is not a valid
// state-changing request.
func sendable(b []byte) bool {
	if len(b) < proto.HeaderSize {
		return true
	}
	var h proto.Header
	h.DecodeFrom(proto.NewDecoder(b[:proto.HeaderSize], true))
	if h.Validate(proto.MaxFrameSize) != nil {
		return true
	}
	return readOnly[h.Opcode]
}

// daemonSockets counts the daemons' open sockets: what a connection leak
// would grow. Pipes and files come and go with the event scripts.
func daemonSockets(t *testing.T, pids []int) int {
	n := 0
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				n++
			}
		}
	}
	return n
}

func transportStats(t *testing.T, c *localdaemons.Cluster, node int) proto.TransportStats {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Socket(node))
	require.NoError(t, err)
	defer cl.Close()
	var s proto.TransportStats
	require.NoError(t, cl.Control(ctx, client.Local, proto.ServiceTransport, proto.OpTransportStats, nil, &s))
	return s
}

// TestHostileFrames sends 100,000 random and mutated frames to a node's
// TCP port (as a phantom node from its own address, so frames get past
// the hello) and to its unix socket: the daemon must not crash, must drop
// each bad connection with a logged reason, and must not leak goroutines
// or file descriptors.
func TestHostileFrames(t *testing.T) {
	t.Parallel()
	c := localdaemons.New(t, localdaemons.Options{Prefix: "127.101.5", Nodes: 4})
	for i := 0; i < 3; i++ {
		c.Start(i)
	}
	for of := 0; of < 3; of++ {
		_, err := c.WaitFlags([]int{0, 1, 2}, of, 5*time.Second, ok)
		require.NoError(t, err)
	}
	var pids []int
	for _, app := range []string{"ctdbd", "transportd"} {
		if pid := readPIDFile(filepath.Join(c.Base(0), "run", app+".pid")); pid > 0 {
			pids = append(pids, pid)
		}
	}
	require.NotEmpty(t, pids)
	baseStats := transportStats(t, c, 0)
	baseSockets := daemonSockets(t, pids)

	r := rand.New(rand.NewPCG(1, 2))
	tcpAddr := net.JoinHostPort(c.Addr(0), "4379")
	phantom := &net.TCPAddr{IP: net.ParseIP(c.Addr(3))}
	const total = 100000
	sent, conns := 0, 0
	for sent < total {
		useTCP := r.IntN(2) == 0
		var conn net.Conn
		var err error
		var seeds [][]byte
		if useTCP {
			d := net.Dialer{LocalAddr: phantom, Timeout: time.Second}
			conn, err = d.Dial("tcp", tcpAddr)
			seeds = seedFrames(3)
		} else {
			conn, err = net.Dial("unix", c.Socket(0))
			seeds = seedFrames(0)
		}
		require.NoError(t, err)
		conns++
		hello := &proto.Hello{MinVersion: 1, MaxVersion: 1, Role: proto.RoleClient, PNN: proto.PNNUnknown, Name: "fuzz"}
		if useTCP {
			hello.Role, hello.PNN = proto.RoleNode, 3
		}
		hm := &proto.Message{Header: proto.Header{ProtocolVersion: 1, Dst: proto.Endpoint{PNN: 0, Service: proto.ServiceTransport}, Src: proto.Endpoint{PNN: hello.PNN, Service: proto.ServiceTransport}, Opcode: proto.OpHello}, Payload: hello.AppendTo(nil)}
		frame := hm.Encode()
		if r.IntN(4) == 0 {
			frame = mutate(r, frame)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		conn.Write(frame)
		sent++
		// Then a burst of frames, mostly mutated, until the daemon hangs up.
		for i := 0; i < 1+r.IntN(20) && sent < total; i++ {
			f := seeds[r.IntN(len(seeds))]
			if r.IntN(5) != 0 {
				f = mutate(r, f)
				if !sendable(f) {
					continue
				}
			}
			if _, err := conn.Write(f); err != nil {
				break
			}
			sent++
		}
		conn.Close()
	}
	t.Logf("sent %d frames over %d connections", sent, conns)

	// The node is still up, still OK with the others, and gave everything
	// back once the connections closed.
	for of := 0; of < 3; of++ {
		_, err := c.WaitFlags([]int{0, 1, 2}, of, 5*time.Second, ok)
		require.NoError(t, err)
	}
	var last proto.TransportStats
	require.Eventually(t, func() bool {
		last = transportStats(t, c, 0)
		return last.Goroutines <= baseStats.Goroutines+2 && daemonSockets(t, pids) <= baseSockets+2
	}, 20*time.Second, 100*time.Millisecond, "goroutines %d -> %d, sockets %d -> %d", baseStats.Goroutines, last.Goroutines, baseSockets, daemonSockets(t, pids))
	assert.Greater(t, last.BadConnections, baseStats.BadConnections+uint64(conns/4), "bad connections must be counted")
	log, err := os.ReadFile(filepath.Join(c.Base(0), "log.ctdb"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "connection refused")
	assert.Contains(t, string(log), "reason=")
	for _, pid := range pids {
		assert.NoError(t, syscallKill0(pid), "daemon process %d died", pid)
	}
	assert.NotContains(t, string(log), "panic")
}
