package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"gctdb/transportd/proto"
)

// inboundConn is a peer's outgoing link, accepted here. Frames arrive on
// it; nothing is written back after the hello.
type inboundConn struct {
	pnn     uint32
	conn    net.Conn
	version uint16
}

// inboundVersion returns the protocol version of node pnn's link to us,
// if it is up.
func (t *Transport) inboundVersion(pnn uint32) (uint16, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ic := t.inbound[pnn]
	if ic == nil {
		return 0, false
	}
	return ic.version, true
}

// helloMaxFrame bounds the first frame of any connection.
const helloMaxFrame = 64 << 10

// readHello reads and decodes the first frame of a connection.
func readHello(conn net.Conn, timeout time.Duration) (*proto.Message, *proto.Hello, error) {
	conn.SetReadDeadline(time.Now().Add(timeout))
	m, err := proto.ReadFrame(conn, helloMaxFrame)
	if err != nil {
		return nil, nil, fmt.Errorf("read hello: %w", err)
	}
	if m.Opcode != proto.OpHello {
		return nil, nil, fmt.Errorf("first frame is %s, not hello", m.Opcode)
	}
	var h proto.Hello
	if err := proto.DecodePayload(m, &h); err != nil {
		return nil, nil, err
	}
	conn.SetReadDeadline(time.Time{})
	return m, &h, nil
}

// answerHello negotiates the version and writes the accept or reject.
// Node links use the configured range (which tests narrow); local
// connections always get this build's range, since both ends are the
// same installation.
func (t *Transport) answerHello(conn net.Conn, h *proto.Hello, connID uint64) (uint16, error) {
	lo, hi := proto.MinProtocolVersion, proto.MaxProtocolVersion
	if h.Role == proto.RoleNode {
		lo, hi = t.cfg.MinVersion, t.cfg.MaxVersion
	}
	v, ok := proto.NegotiateVersion(h.MinVersion, h.MaxVersion, lo, hi)
	conn.SetWriteDeadline(time.Now().Add(t.cfg.HelloTimeout))
	defer conn.SetWriteDeadline(time.Time{})
	if !ok {
		reason := fmt.Sprintf("no common protocol version: peer speaks %d..%d, node %d speaks %d..%d",
			h.MinVersion, h.MaxVersion, t.self, lo, hi)
		m := &proto.Message{
			Header:  proto.Header{ProtocolVersion: hi, Src: proto.Endpoint{PNN: t.self, Service: proto.ServiceTransport}, Opcode: proto.OpHelloReject},
			Payload: (&proto.HelloReject{MinVersion: lo, MaxVersion: hi, Reason: reason}).AppendTo(nil),
		}
		conn.Write(m.Encode())
		return 0, errors.New(reason)
	}
	m := &proto.Message{
		Header:  proto.Header{ProtocolVersion: v, Src: proto.Endpoint{PNN: t.self, Service: proto.ServiceTransport}, Opcode: proto.OpHelloAccept},
		Payload: (&proto.HelloAccept{Version: v, PNN: t.self, ConnID: connID, Name: t.cfg.Name}).AppendTo(nil),
	}
	if _, err := conn.Write(m.Encode()); err != nil {
		return 0, fmt.Errorf("write hello accept: %w", err)
	}
	return v, nil
}

func (t *Transport) rejectConn(conn net.Conn, kind string, err error) {
	t.badConnections.Add(1)
	t.log.Info("connection refused", "kind", kind, "remote", conn.RemoteAddr().String(), "reason", err)
	conn.Close()
}

// serveInbound handles a TCP connection from another node.
func (t *Transport) serveInbound(ctx context.Context, conn net.Conn) {
	_, h, err := readHello(conn, t.cfg.HelloTimeout)
	if err != nil {
		t.rejectConn(conn, "tcp", err)
		return
	}
	p, err := t.checkNodeHello(conn, h)
	if err != nil {
		t.rejectConn(conn, "tcp", err)
		return
	}
	version, err := t.answerHello(conn, h, 0)
	if err != nil {
		t.badConnections.Add(1)
		t.log.Error("node refused: incompatible protocol version", "pnn", h.PNN, "remote", conn.RemoteAddr().String(),
			"peer_versions", fmt.Sprintf("%d..%d", h.MinVersion, h.MaxVersion),
			"our_versions", fmt.Sprintf("%d..%d", t.cfg.MinVersion, t.cfg.MaxVersion))
		conn.Close()
		return
	}
	ic := &inboundConn{pnn: h.PNN, conn: conn, version: version}
	t.mu.Lock()
	old := t.inbound[h.PNN]
	t.inbound[h.PNN] = ic
	t.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
	if ctx.Err() != nil {
		// Registered after the shutdown closed every connection.
		conn.Close()
	}
	p.poke()
	reason := t.readNodeFrames(ctx, conn, p, version)
	t.mu.Lock()
	last := t.inbound[h.PNN] == ic
	if last {
		delete(t.inbound, h.PNN)
	}
	t.mu.Unlock()
	conn.Close()
	if last {
		p.dropWaiting()
	}
	if ctx.Err() == nil && reason != "" {
		t.log.Info("inbound link closed", "pnn", h.PNN, "reason", reason)
	}
}

// checkNodeHello accepts a node only from its own address in the nodes
// file, so nothing else can inject frames as that node.
func (t *Transport) checkNodeHello(conn net.Conn, h *proto.Hello) (*peer, error) {
	if h.Role != proto.RoleNode {
		return nil, fmt.Errorf("role %s on the node port", h.Role)
	}
	p := t.peers[h.PNN]
	if p == nil {
		return nil, fmt.Errorf("unknown or deleted pnn %d", h.PNN)
	}
	ra, ok := conn.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("remote address %v", conn.RemoteAddr())
	}
	want := t.cfg.node(h.PNN).Addr
	if !ra.IP.Equal(want) {
		return nil, fmt.Errorf("pnn %d must connect from %s, not %s", h.PNN, want, ra.IP)
	}
	return p, nil
}

func (t *Transport) readNodeFrames(ctx context.Context, conn net.Conn, p *peer, version uint16) string {
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		m, err := proto.ReadFrame(br, t.cfg.MaxFrame)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return ""
			}
			t.badConnections.Add(1)
			return fmt.Sprintf("bad frame: %v", err)
		}
		p.framesRecv.Add(1)
		p.bytesRecv.Add(uint64(m.Length))
		if m.ProtocolVersion != version {
			t.badConnections.Add(1)
			return fmt.Sprintf("frame of protocol version %d on a version %d link", m.ProtocolVersion, version)
		}
		if m.Src.PNN != p.pnn {
			t.badConnections.Add(1)
			return fmt.Sprintf("frame claims source pnn %d", m.Src.PNN)
		}
		switch {
		case m.Dst.PNN == t.self:
		case m.Dst.PNN == proto.PNNBroadcastAll || m.Dst.PNN == proto.PNNBroadcastConnected:
			m.Dst.PNN = t.self
		default:
			t.badConnections.Add(1)
			return fmt.Sprintf("frame for pnn %d arrived at pnn %d", m.Dst.PNN, t.self)
		}
		t.routeOrBounce(m)
	}
}

// serveLocal handles a unix socket connection from a client or a service
// process.
func (t *Transport) serveLocal(ctx context.Context, conn net.Conn) {
	_, h, err := readHello(conn, t.cfg.HelloTimeout)
	if err != nil {
		t.rejectConn(conn, "unix", err)
		return
	}
	if h.Role != proto.RoleClient && h.Role != proto.RoleService {
		t.rejectConn(conn, "unix", fmt.Errorf("role %s on the unix socket", h.Role))
		return
	}
	id := t.nextConn.Add(1)
	if _, err := t.answerHello(conn, h, id); err != nil {
		t.rejectConn(conn, "unix", err)
		return
	}
	c := newLocalConn(t, id, conn, h)
	t.mu.Lock()
	t.locals[id] = c
	t.mu.Unlock()
	if ctx.Err() != nil {
		// Registered after the shutdown closed every connection.
		c.close("transport shutting down")
	}
	for _, svc := range h.Services {
		if err := t.registerService(svc, c); err != nil {
			t.log.Warn("service process rejected", "service", svc, "err", err)
			c.close(err.Error())
			break
		}
	}
	if c.role == proto.RoleClient {
		t.publishClientCount()
	}
	c.serve(ctx)
}
