package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gctdb/transportd/proto"
)

// peer is this node's outgoing link to one other node. Frames for the
// peer are written only here; frames from the peer arrive on the peer's
// own outgoing link, which is our inbound connection (CTDB's model).
type peer struct {
	t    *Transport
	pnn  uint32
	addr string
	q    *frameQueue

	mu      sync.Mutex
	conn    net.Conn
	version uint16
	up      atomic.Bool
	kick    chan struct{}

	framesSent, bytesSent atomic.Uint64
	framesRecv, bytesRecv atomic.Uint64
	dropped, reconnects   atomic.Uint64
}

func newPeer(t *Transport, n Node) *peer {
	return &peer{
		t:    t,
		pnn:  n.PNN,
		addr: net.JoinHostPort(n.Addr.String(), strconv.Itoa(t.cfg.Port)),
		q:    newFrameQueue(t.cfg.PeerQueueFrames, t.cfg.PeerQueueBytes),
		kick: make(chan struct{}, 1),
	}
}

func (p *peer) isUp() bool { return p.up.Load() }

// poke asks the dialer to try again now instead of waiting out its
// backoff (the peer just connected to us, so it is back).
func (p *peer) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// send queues m for the peer. While our link to the peer is still being
// set up but the peer's link to us is already up (it has just connected
// and may already be sending requests), the frame waits in the queue for
// our link instead of being dropped: otherwise the answer to a request
// that arrived first would be lost and its sender would wait for its
// whole timeout.
func (p *peer) send(m *proto.Message) error {
	p.mu.Lock()
	up, version := p.up.Load(), p.version
	p.mu.Unlock()
	if !up {
		v, ok := p.t.inboundVersion(p.pnn)
		if !ok {
			p.dropped.Add(1)
			return &proto.StatusError{Op: m.Opcode, Status: proto.StatusUnavailable, Msg: fmt.Sprintf("node %d is not connected", p.pnn)}
		}
		version = v
		p.poke()
	}
	m.ProtocolVersion = version
	q := queued{frame: m.Encode()}
	if m.IsRequest() {
		q.req = m
	}
	if !p.q.push(q, m.Flags&proto.FlagPriority != 0) {
		p.dropped.Add(1)
		return &proto.StatusError{Op: m.Opcode, Status: proto.StatusQueueFull, Msg: fmt.Sprintf("queue to node %d is full", p.pnn)}
	}
	return nil
}

// drop closes the current connection (liveness says the peer is gone
// although TCP has not noticed yet); the dialer then reconnects.
func (p *peer) drop(reason string) {
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		p.t.log.Info("dropping link", "pnn", p.pnn, "reason", reason)
		c.Close()
	}
}

func (p *peer) run(ctx context.Context) {
	backoff := p.t.cfg.ReconnectMin
	failures := 0
	for ctx.Err() == nil {
		conn, version, err := p.connect(ctx)
		if err != nil {
			failures++
			// The first failure after a working link is news; repeats are not.
			if failures == 1 {
				p.t.log.Info("cannot connect to node", "pnn", p.pnn, "addr", p.addr, "err", err)
			} else {
				p.t.log.Debug("cannot connect to node", "pnn", p.pnn, "addr", p.addr, "err", err)
			}
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, p.t.cfg.ReconnectMax)
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			case <-time.After(wait):
			}
			continue
		}
		failures = 0
		backoff = p.t.cfg.ReconnectMin
		p.reconnects.Add(1)
		reason := p.serve(ctx, conn, version)
		if ctx.Err() != nil {
			return
		}
		p.t.log.Warn("node disconnected", "pnn", p.pnn, "reason", reason)
	}
}

// connect dials the peer from this node's own address (so the peer can
// check who we are) and performs the hello.
func (p *peer) connect(ctx context.Context) (net.Conn, uint16, error) {
	d := net.Dialer{
		Timeout:   p.t.cfg.DialTimeout,
		LocalAddr: &net.TCPAddr{IP: p.t.selfAddr()},
	}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, 0, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(5 * time.Second)
	}
	conn.SetDeadline(time.Now().Add(p.t.cfg.HelloTimeout))
	hello := &proto.Hello{
		MinVersion: p.t.cfg.MinVersion,
		MaxVersion: p.t.cfg.MaxVersion,
		Role:       proto.RoleNode,
		PNN:        p.t.self,
		Name:       p.t.cfg.Name,
	}
	if err := writeHello(conn, hello, p.pnn); err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("send hello: %w", err)
	}
	m, err := proto.ReadFrame(conn, 64<<10)
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("read hello reply: %w", err)
	}
	switch m.Opcode {
	case proto.OpHelloAccept:
		var a proto.HelloAccept
		if err := proto.DecodePayload(m, &a); err != nil {
			conn.Close()
			return nil, 0, err
		}
		if a.Version < p.t.cfg.MinVersion || a.Version > p.t.cfg.MaxVersion || a.PNN != p.pnn {
			conn.Close()
			return nil, 0, fmt.Errorf("peer accepted with version %d as pnn %d; we speak %d..%d and expected pnn %d",
				a.Version, a.PNN, p.t.cfg.MinVersion, p.t.cfg.MaxVersion, p.pnn)
		}
		conn.SetDeadline(time.Time{})
		return conn, a.Version, nil
	case proto.OpHelloReject:
		var r proto.HelloReject
		if err := proto.DecodePayload(m, &r); err != nil {
			conn.Close()
			return nil, 0, err
		}
		conn.Close()
		p.t.log.Error("node refused our protocol version",
			"pnn", p.pnn, "peer_versions", fmt.Sprintf("%d..%d", r.MinVersion, r.MaxVersion),
			"our_versions", fmt.Sprintf("%d..%d", p.t.cfg.MinVersion, p.t.cfg.MaxVersion), "reason", r.Reason)
		return nil, 0, fmt.Errorf("refused: %s", r.Reason)
	default:
		conn.Close()
		return nil, 0, fmt.Errorf("unexpected %s in answer to hello", m.Opcode)
	}
}

func writeHello(w io.Writer, h *proto.Hello, dst uint32) error {
	m := &proto.Message{
		Header: proto.Header{
			ProtocolVersion: h.MaxVersion,
			Dst:             proto.Endpoint{PNN: dst, Service: proto.ServiceTransport},
			Src:             proto.Endpoint{PNN: h.PNN, Service: proto.ServiceTransport},
			Opcode:          proto.OpHello,
		},
		Payload: h.AppendTo(nil),
	}
	_, err := w.Write(m.Encode())
	return err
}

// serve runs the link until it fails and returns why.
func (p *peer) serve(ctx context.Context, conn net.Conn, version uint16) string {
	p.mu.Lock()
	p.conn, p.version = conn, version
	p.up.Store(true)
	p.mu.Unlock()
	p.t.log.Info("node connected", "pnn", p.pnn, "addr", p.addr, "version", version)
	p.t.publishLink(p.pnn, true, "connected")

	done := make(chan string, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The peer never writes on our outgoing link; a read returns only
		// when the connection ends, which is how a dead peer is noticed.
		n, err := io.Copy(io.Discard, bufio.NewReader(conn))
		if err == nil {
			err = io.EOF
		}
		p.bytesRecv.Add(uint64(n))
		done <- fmt.Sprintf("read: %v", err)
	}()
	reason := p.writeLoop(ctx, conn, done)
	conn.Close()
	wg.Wait()

	p.mu.Lock()
	p.up.Store(false)
	p.conn = nil
	p.mu.Unlock()
	// Frames still queued will never be sent on this connection; requests
	// among them get an error reply now.
	p.bounceQueued("node %d disconnected")
	p.t.publishLink(p.pnn, false, reason)
	return reason
}

// bounceQueued drops every queued frame, answering requests with an
// error reply.
func (p *peer) bounceQueued(format string) {
	for _, q := range p.q.drain() {
		p.dropped.Add(1)
		if q.req != nil {
			p.t.bounce(q.req, &proto.StatusError{Op: q.req.Opcode, Status: proto.StatusUnavailable, Msg: fmt.Sprintf(format, p.pnn)})
		}
	}
}

// dropWaiting drops the frames that waited for our link to a peer whose
// own link to us has closed before ours came up.
func (p *peer) dropWaiting() {
	if !p.isUp() {
		p.bounceQueued("node %d went away before the link to it was up")
	}
}

func (p *peer) writeLoop(ctx context.Context, conn net.Conn, done <-chan string) string {
	var batch []queued
	var bufs net.Buffers
	for {
		select {
		case <-ctx.Done():
			return "shutting down"
		case r := <-done:
			return r
		case <-p.q.wake:
		}
		for {
			batch = p.q.take(batch[:0], 1<<20)
			if len(batch) == 0 {
				break
			}
			bufs = bufs[:0]
			n := 0
			for _, q := range batch {
				bufs = append(bufs, q.frame)
				n += len(q.frame)
			}
			conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
			wb := bufs // WriteTo consumes its receiver; keep bufs' capacity
			if _, err := wb.WriteTo(conn); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return "link dropped"
				}
				return fmt.Sprintf("write: %v", err)
			}
			p.framesSent.Add(uint64(len(batch)))
			p.bytesSent.Add(uint64(n))
		}
	}
}

func (p *peer) stats() proto.PeerStats {
	return proto.PeerStats{
		PNN:        p.pnn,
		Addr:       p.addr,
		Up:         p.isUp(),
		FramesSent: p.framesSent.Load(),
		FramesRecv: p.framesRecv.Load(),
		BytesSent:  p.bytesSent.Load(),
		BytesRecv:  p.bytesRecv.Load(),
		Dropped:    p.dropped.Load(),
		Queued:     uint32(p.q.len()),
		Reconnects: p.reconnects.Load(),
	}
}
