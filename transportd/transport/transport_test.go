package transport

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is a set of transports on 127.<a>.<b>.x, one per node, each with
// an echo service attached.
type cluster struct {
	t      *testing.T
	nodes  []Node
	trs    []*Transport
	ports  []*Port
	cancel []context.CancelFunc
	done   []chan error
	dir    string
}

// testPrefix gives each test its own 127.x.y.0/24 so parallel tests never
// share addresses.
func newCluster(t *testing.T, prefix string, n int, mutate func(i int, c *Config)) *cluster {
	t.Helper()
	cl := &cluster{t: t, dir: t.TempDir()}
	for i := 0; i < n; i++ {
		cl.nodes = append(cl.nodes, Node{PNN: uint32(i), Addr: net.ParseIP(fmt.Sprintf("%s.%d", prefix, i+1))})
	}
	for i := 0; i < n; i++ {
		cfg := Config{
			PNN:          uint32(i),
			Nodes:        cl.nodes,
			Port:         14379,
			SocketPath:   filepath.Join(cl.dir, fmt.Sprintf("n%d.sock", i)),
			Name:         "test",
			ReconnectMax: 100 * time.Millisecond,
		}
		if mutate != nil {
			mutate(i, &cfg)
		}
		tr, err := New(cfg)
		require.NoError(t, err)
		cl.trs = append(cl.trs, tr)
		cl.cancel = append(cl.cancel, nil)
		cl.done = append(cl.done, nil)
		cl.ports = append(cl.ports, nil)
		cl.start(i)
	}
	t.Cleanup(func() {
		for i := range cl.trs {
			cl.stop(i)
		}
	})
	return cl
}

func (cl *cluster) start(i int) {
	tr := cl.trs[i]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	cl.cancel[i], cl.done[i] = cancel, done
	require.Eventually(cl.t, func() bool {
		c, err := net.Dial("unix", tr.cfg.SocketPath)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	port, err := tr.Attach(proto.ServiceNode)
	require.NoError(cl.t, err)
	cl.ports[i] = port
	go echoService(ctx, port)
}

// echoService answers every request with its own payload.
func echoService(ctx context.Context, p *Port) {
	for {
		m, ok := p.Inbox().Next(ctx)
		if !ok {
			return
		}
		if m.IsRequest() {
			p.Reply(m, proto.StatusOK, "", &proto.Blob{Data: m.Payload})
		}
	}
}

func (cl *cluster) stop(i int) {
	if cl.cancel[i] == nil {
		return
	}
	cl.ports[i].Close()
	cl.cancel[i]()
	require.NoError(cl.t, <-cl.done[i])
	cl.cancel[i] = nil
	// A restarted transport starts from scratch, as a restarted daemon.
	tr, err := New(cl.trs[i].cfg)
	require.NoError(cl.t, err)
	cl.trs[i] = tr
}

func (cl *cluster) waitConnected() {
	cl.t.Helper()
	require.Eventually(cl.t, func() bool {
		for i, tr := range cl.trs {
			if cl.cancel[i] == nil {
				continue
			}
			for j, p := range tr.peers {
				if cl.cancel[j] != nil && !p.isUp() {
					return false
				}
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
}

func TestRequestReplyAcrossNodes(t *testing.T) {
	cl := newCluster(t, "127.41.1", 3, nil)
	cl.waitConnected()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for from := range cl.ports {
		for to := range cl.ports {
			var got proto.Blob
			err := rpc.CallTyped(ctx, cl.ports[from], proto.Endpoint{PNN: uint32(to), Service: proto.ServiceNode}, proto.OpPing, &proto.Blob{Data: []byte(fmt.Sprintf("%d->%d", from, to))}, &got)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("%d->%d", from, to), string(got.Data))
		}
	}
}

func TestUnavailableNodeFailsFast(t *testing.T) {
	cl := newCluster(t, "127.41.2", 3, nil)
	cl.waitConnected()
	cl.stop(2)
	require.Eventually(t, func() bool { return !cl.trs[0].peers[2].isUp() }, 5*time.Second, 5*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := cl.ports[0].Call(ctx, proto.Endpoint{PNN: 2, Service: proto.ServiceNode}, proto.OpPing, nil, 0)
	// Refused at once, or (while node 2's own link to us is still being
	// torn down) queued and bounced with an error reply.
	st := proto.StatusOf(err)
	if err == nil {
		st = rep.Status
	}
	assert.Equal(t, proto.StatusUnavailable, st)
	assert.Less(t, time.Since(start), time.Second, "a request to a dead node must not wait for a timeout")

	// Unknown node and missing service are errors too.
	_, err = cl.ports[0].Call(ctx, proto.Endpoint{PNN: 9, Service: proto.ServiceNode}, proto.OpPing, nil, 0)
	assert.Equal(t, proto.StatusNotFound, proto.StatusOf(err))
	rep, err = cl.ports[0].Call(ctx, proto.Endpoint{PNN: 1, Service: proto.ServiceDatabase}, proto.OpPing, nil, 0)
	require.NoError(t, err, "the remote router answers for a missing service")
	assert.Equal(t, proto.StatusUnsupported, rep.Status)

	// The node comes back and the link with it.
	cl.start(2)
	cl.waitConnected()
	var got proto.Blob
	require.NoError(t, rpc.CallTyped(ctx, cl.ports[0], proto.Endpoint{PNN: 2, Service: proto.ServiceNode}, proto.OpPing, &proto.Blob{Data: []byte("back")}, &got))
	assert.Equal(t, "back", string(got.Data))
}

func TestLinkStatusPublished(t *testing.T) {
	cl := newCluster(t, "127.41.3", 2, nil)
	mport, err := cl.trs[0].Attach(proto.ServiceMembership)
	require.NoError(t, err)
	defer mport.Close()
	cl.waitConnected()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Registration replays the current state: node 1 is up.
	waitLink := func(up bool) {
		for {
			m, ok := mport.Inbox().Next(ctx)
			require.True(t, ok, "no link status with up=%v", up)
			var ls proto.LinkStatus
			require.NoError(t, proto.DecodePayload(m, &ls))
			if ls.PNN == 1 && ls.Up == up {
				return
			}
		}
	}
	waitLink(true)
	cl.stop(1)
	waitLink(false)
}

func TestClientOverUnixSocket(t *testing.T) {
	cl := newCluster(t, "127.41.4", 2, nil)
	cl.waitConnected()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.trs[0].cfg.SocketPath)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, uint32(0), c.PNN())

	var got proto.Blob
	require.NoError(t, c.Control(ctx, 1, proto.ServiceNode, proto.OpPing, &proto.Blob{Data: []byte("via unix")}, &got))
	assert.Equal(t, "via unix", string(got.Data))

	// Messages to a srvid reach every subscriber on the node, from any node.
	sub, err := c.Subscribe(ctx, 0xAE00000000000001)
	require.NoError(t, err)
	c2, err := client.Connect(ctx, cl.trs[1].cfg.SocketPath)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.SendMessage(0, 0xAE00000000000001, []byte("hello")))
	m, ok := sub.Next(ctx)
	require.True(t, ok)
	assert.Equal(t, "hello", string(m.Payload))

	// Echo is answered by the router itself, locally and remotely.
	require.NoError(t, c.Control(ctx, 1, proto.ServiceTransport, proto.OpEcho, &proto.Blob{Data: []byte("e")}, &got))
	assert.Equal(t, "e", string(got.Data))

	// The router knows the client's pid.
	st, _, err := c.ControlStatus(ctx, client.Local, proto.ServiceTransport, proto.OpProcessExists, &proto.ProcessExists{PID: uint32(osPID())})
	require.NoError(t, err)
	assert.Equal(t, proto.StatusOK, st)
	st, _, err = c.ControlStatus(ctx, client.Local, proto.ServiceTransport, proto.OpProcessExists, &proto.ProcessExists{PID: 1})
	require.NoError(t, err)
	assert.Equal(t, proto.Status(1), st)
}

func TestServiceProcess(t *testing.T) {
	cl := newCluster(t, "127.41.5", 2, nil)
	cl.waitConnected()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A separate "process" provides the database service on node 1.
	svc, err := client.Connect(ctx, cl.trs[1].cfg.SocketPath, client.Options{Role: proto.RoleService, Services: []proto.ServiceID{proto.ServiceDatabase}})
	require.NoError(t, err)
	defer svc.Close()
	port, ok := svc.ServicePort(proto.ServiceDatabase)
	require.True(t, ok)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, ok := port.Inbox().Next(ctx)
			if !ok {
				return
			}
			port.Reply(m, proto.StatusOK, "", &proto.Blob{Data: append([]byte("db:"), m.Payload...)})
		}
	}()

	var got proto.Blob
	require.NoError(t, rpc.CallTyped(ctx, cl.ports[0], proto.Endpoint{PNN: 1, Service: proto.ServiceDatabase}, proto.OpPing, &proto.Blob{Data: []byte("x")}, &got))
	assert.Equal(t, "db:x", string(got.Data))

	// And it can call other services itself.
	require.NoError(t, rpc.CallTyped(ctx, port, proto.Endpoint{PNN: 0, Service: proto.ServiceNode}, proto.OpPing, &proto.Blob{Data: []byte("y")}, &got))
	assert.Equal(t, "y", string(got.Data))

	// A second provider of the same service is refused.
	second, err := client.Connect(ctx, cl.trs[1].cfg.SocketPath, client.Options{Role: proto.RoleService, Services: []proto.ServiceID{proto.ServiceDatabase}})
	if err == nil {
		t.Log("connection accepted; the service registration must still have been refused")
		second.Close()
	}
	require.NoError(t, rpc.CallTyped(ctx, cl.ports[0], proto.Endpoint{PNN: 1, Service: proto.ServiceDatabase}, proto.OpPing, &proto.Blob{Data: []byte("z")}, &got))
	assert.Equal(t, "db:z", string(got.Data))
	svc.Close()
	cancel()
	wg.Wait()
}

// When the process providing the node service (ctdbd beside an external
// transportd) goes away, its clients see the socket close as they would
// with CTDB, instead of talking to a router that cannot answer for the node.
func TestNodeDaemonGoneClosesClients(t *testing.T) {
	cl := newCluster(t, "127.41.8", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, cl.ports[0].Close())
	daemon, err := client.Connect(ctx, cl.trs[0].cfg.SocketPath, client.Options{Role: proto.RoleService, Services: []proto.ServiceID{proto.ServiceNode}})
	require.NoError(t, err)
	other, err := client.Connect(ctx, cl.trs[0].cfg.SocketPath, client.Options{Role: proto.RoleService, Services: []proto.ServiceID{proto.ServiceDatabase}})
	require.NoError(t, err)
	defer other.Close()
	c, err := client.Connect(ctx, cl.trs[0].cfg.SocketPath, client.Options{})
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, daemon.Close())
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("a client stays connected after the node daemon went away")
	}
	select {
	case <-other.Done():
		t.Fatal("another service process was dropped with the node daemon")
	default:
	}
}

func TestVersionMismatchRefused(t *testing.T) {
	cl := newCluster(t, "127.41.6", 3, func(i int, c *Config) {
		if i == 2 {
			c.MinVersion, c.MaxVersion = 9, 9
		}
	})
	require.Eventually(t, func() bool { return cl.trs[0].peers[1].isUp() && cl.trs[1].peers[0].isUp() }, 5*time.Second, 10*time.Millisecond)
	// Node 2 never links up in either direction, and keeps being refused.
	require.Eventually(t, func() bool { return cl.trs[0].badConnections.Load() > 0 && cl.trs[2].badConnections.Load() > 0 }, 5*time.Second, 10*time.Millisecond)
	assert.False(t, cl.trs[0].peers[2].isUp())
	assert.False(t, cl.trs[2].peers[0].isUp())
}

func TestQueueOverflowBounces(t *testing.T) {
	fq := newFrameQueue(2, 1<<20)
	assert.True(t, fq.push(queued{frame: []byte("a")}, false))
	assert.True(t, fq.push(queued{frame: []byte("b")}, false))
	assert.False(t, fq.push(queued{frame: []byte("c")}, false), "data class full")
	assert.True(t, fq.push(queued{frame: []byte("p")}, true), "priority class has its own bound")
	got := fq.take(nil, 1<<20)
	require.Len(t, got, 3)
	assert.Equal(t, "p", string(got[0].frame), "priority frames go first")
	assert.Equal(t, "a", string(got[1].frame))

	// A byte bound: one oversized frame still fits into an empty queue.
	fq = newFrameQueue(100, 10)
	assert.True(t, fq.push(queued{frame: make([]byte, 50)}, false))
	assert.False(t, fq.push(queued{frame: make([]byte, 1)}, false))
}

func TestBadFramesDropConnection(t *testing.T) {
	cl := newCluster(t, "127.41.7", 1, nil)
	tr := cl.trs[0]
	cases := [][]byte{
		[]byte("GET / HTTP/1.0\r\n\r\n"),
		make([]byte, proto.HeaderSize),
		(&proto.Message{Header: proto.Header{Opcode: proto.OpPing}}).Encode(),
	}
	for _, raw := range cases {
		c, err := net.Dial("unix", tr.cfg.SocketPath)
		require.NoError(t, err)
		c.Write(raw)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1)
		_, err = c.Read(buf)
		assert.Error(t, err, "the transport must close a connection that starts with %q", raw)
		c.Close()
	}
	require.Eventually(t, func() bool { return tr.badConnections.Load() >= uint64(len(cases)) }, 5*time.Second, 10*time.Millisecond)
	// A node hello from an address that is not the node's is refused.
	c, err := net.Dial("tcp", "127.41.7.1:14379")
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, writeHello(c, &proto.Hello{MinVersion: 1, MaxVersion: 1, Role: proto.RoleNode, PNN: 0}, 0))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err)
}

// A node that has just connected to us may send a request before our own
// link to it is up: the answer waits for that link instead of being
// dropped (its sender would otherwise wait for its whole timeout).
func TestReplyWaitsForTheLinkBack(t *testing.T) {
	newCluster(t, "127.41.20", 1, func(i int, c *Config) {
		c.Nodes = append(c.Nodes, Node{PNN: 1, Addr: net.ParseIP("127.41.20.2")})
	})
	self := proto.Endpoint{PNN: 1, Service: proto.ServiceNode}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.41.20.2")}, Timeout: 5 * time.Second}
	in, err := d.Dial("tcp", "127.41.20.1:14379")
	require.NoError(t, err)
	defer in.Close()
	require.NoError(t, writeHello(in, &proto.Hello{MinVersion: proto.MinProtocolVersion, MaxVersion: proto.MaxProtocolVersion, Role: proto.RoleNode, PNN: 1, Name: "fake"}, 0))
	accept, err := proto.ReadFrame(in, helloMaxFrame)
	require.NoError(t, err)
	require.Equal(t, proto.OpHelloAccept, accept.Opcode)
	var a proto.HelloAccept
	require.NoError(t, proto.DecodePayload(accept, &a))

	req := &proto.Message{Header: proto.Header{ProtocolVersion: a.Version, Dst: proto.Endpoint{PNN: 0, Service: proto.ServiceNode}, Src: self,
		Flags: proto.FlagRequest, ReqID: 77, Opcode: proto.OpPing}, Payload: []byte("hello")}
	_, err = in.Write(req.Encode())
	require.NoError(t, err)

	// Only now does the fake node listen for node 0's link.
	l, err := net.Listen("tcp", "127.41.20.2:14379")
	require.NoError(t, err)
	defer l.Close()
	out, err := l.Accept()
	require.NoError(t, err)
	defer out.Close()
	out.SetDeadline(time.Now().Add(5 * time.Second))
	_, h, err := readHello(out, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, uint32(0), h.PNN)
	acc := &proto.Message{Header: proto.Header{ProtocolVersion: a.Version, Src: self, Opcode: proto.OpHelloAccept},
		Payload: (&proto.HelloAccept{Version: a.Version, PNN: 1, Name: "fake"}).AppendTo(nil)}
	_, err = out.Write(acc.Encode())
	require.NoError(t, err)
	for {
		m, err := proto.ReadFrame(out, proto.MaxFrameSize)
		require.NoError(t, err, "the reply must arrive once the link is up")
		if m.ReqID == 77 && !m.IsRequest() {
			assert.Contains(t, string(m.Payload), "hello", "the echo service's answer")
			return
		}
	}
}
