package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/wire"
)

// logSink collects log output so tests can assert no handler panicked.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	addr string
	logs *logSink
	srv  *Server
	stop func() // cancels the server and waits for it
}

// serveTestServer starts a server on 127.0.0.1 with one share.
func serveTestServer(t testing.TB) *testServer {
	t.Helper()
	users := auth.NewMemoryUsers()
	users.Add("alice", "pw")
	logs := &logSink{}
	srv, err := New(Config{
		ServerGUID: [16]byte{1, 2, 3},
		Shares:     []ShareConfig{{Name: "share", Path: t.TempDir(), Browseable: true}},
		Users:      users,
		Store:      state.NewMemoryStore(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeListeners(ctx, ln)
	}()
	return &testServer{addr: ln.Addr().String(), logs: logs, srv: srv, stop: func() {
		cancel()
		<-done
	}}
}

func startTestServer(t testing.TB) *testServer {
	t.Helper()
	s := serveTestServer(t)
	t.Cleanup(func() {
		s.stop()
		assert.NotContains(t, s.logs.String(), "panicked")
	})
	return s
}

func frame(msg []byte) []byte {
	p := wire.FramePrefix(len(msg))
	return append(p[:], msg...)
}

func negotiateMsg(mid uint64, dialects ...uint16) []byte {
	h := wire.Header{Command: wire.CmdNegotiate, MessageID: mid, Credit: 1}
	b := wire.AppendHeader(nil, &h)
	body := make([]byte, 36)
	binary.LittleEndian.PutUint16(body, 36)
	binary.LittleEndian.PutUint16(body[2:], uint16(len(dialects)))
	for _, d := range dialects {
		body = binary.LittleEndian.AppendUint16(body, d)
	}
	return append(b, body...)
}

// exchange sends frames and returns the first response, or nil when the
// server closed the connection.
func exchange(t testing.TB, c net.Conn, msgs ...[]byte) []byte {
	t.Helper()
	for _, m := range msgs {
		if _, err := c.Write(frame(m)); err != nil {
			return nil
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := wire.ReadFrame(c, 1<<24)
	if err != nil {
		return nil
	}
	return resp
}

func status(t testing.TB, resp []byte) wire.Status {
	t.Helper()
	h, err := wire.DecodeHeader(resp)
	require.NoError(t, err)
	return wire.Status(h.Status)
}

func dial(t testing.TB, s *testServer) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNegotiateChoosesHighestCommonDialect(t *testing.T) {
	s := startTestServer(t)
	resp := exchange(t, dial(t, s), negotiateMsg(0, wire.Dialect202, wire.Dialect210, wire.Dialect300))
	require.NotNil(t, resp)
	assert.Equal(t, wire.StatusOK, status(t, resp))
	assert.Equal(t, wire.Dialect300, binary.LittleEndian.Uint16(resp[wire.HeaderSize+4:]))

	resp = exchange(t, dial(t, s), negotiateMsg(0, 0x0100))
	assert.Equal(t, wire.StatusNotSupported, status(t, resp))
	resp = exchange(t, dial(t, s), negotiateMsg(0))
	assert.Equal(t, wire.StatusInvalidParameter, status(t, resp))
	// 3.1.1 without the mandatory preauth context.
	resp = exchange(t, dial(t, s), negotiateMsg(0, wire.Dialect311))
	assert.Equal(t, wire.StatusInvalidParameter, status(t, resp))
}

func TestHostileFramesDropTheConnection(t *testing.T) {
	s := startTestServer(t)
	neg := negotiateMsg(0, wire.Dialect210)
	for name, msgs := range map[string][][]byte{
		"not smb": {[]byte("GET / HTTP/1.1\r\n\r\n")},
		"request before negprot": {func() []byte {
			h := wire.Header{Command: wire.CmdEcho}
			return append(wire.AppendHeader(nil, &h), 4, 0, 0, 0)
		}()},
		"short header":      {neg[:40]},
		"second negotiate":  {neg, negotiateMsg(1, wire.Dialect210)},
		"reused message id": {neg, neg},
		"response flag":     {func() []byte { m := append([]byte{}, neg...); wire.SetFlags(m, wire.FlagResponse); return m }()},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s)
			for _, m := range msgs {
				c.Write(frame(m))
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			// Whatever answers come first, the server must close.
			for {
				if _, err := wire.ReadFrame(c, 1<<24); err != nil {
					assert.False(t, isTimeout(err), "server kept the connection open: %v", err)
					return
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestOversizedFrameIsRefused(t *testing.T) {
	s := startTestServer(t)
	c := dial(t, s)
	c.Write([]byte{0, 0xFF, 0xFF, 0xFF})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := wire.ReadFrame(c, 1<<24)
	require.Error(t, err)
	assert.False(t, isTimeout(err), "server must drop an oversized frame at once")
}

func TestMalformedRequestsGetErrors(t *testing.T) {
	s := startTestServer(t)
	c := dial(t, s)
	require.Equal(t, wire.StatusOK, status(t, exchange(t, c, negotiateMsg(0, wire.Dialect210))))
	mid := uint64(1)
	send := func(cmd wire.Command, sessionID uint64, body []byte) wire.Status {
		h := wire.Header{Command: cmd, MessageID: mid, SessionID: sessionID, Credit: 1}
		mid++
		resp := exchange(t, c, append(wire.AppendHeader(nil, &h), body...))
		require.NotNil(t, resp, "server dropped the connection for command %d", cmd)
		return status(t, resp)
	}
	assert.Equal(t, wire.StatusOK, send(wire.CmdEcho, 0, []byte{4, 0, 0, 0}), "echo needs no session")
	assert.Equal(t, wire.StatusInvalidParameter, send(wire.CmdEcho, 0, []byte{5, 0, 0, 0}), "wrong StructureSize")
	assert.Equal(t, wire.StatusInvalidParameter, send(0x77, 0, []byte{4, 0, 0, 0}), "unknown command")
	assert.Equal(t, wire.StatusUserSessionDeleted, send(wire.CmdCreate, 42, make([]byte, 57)))
	// A session setup whose security buffer points past the message.
	body := make([]byte, 25)
	binary.LittleEndian.PutUint16(body, 25)
	binary.LittleEndian.PutUint16(body[12:], 88)
	binary.LittleEndian.PutUint16(body[14:], 500)
	assert.Equal(t, wire.StatusInvalidParameter, send(wire.CmdSessionSetup, 0, body))
	// Garbage SPNEGO.
	binary.LittleEndian.PutUint16(body[14:], 1)
	assert.Equal(t, wire.StatusInvalidParameter, send(wire.CmdSessionSetup, 0, body))
}

// FuzzRequest sends arbitrary bytes as the second message of a negotiated
// connection: the server may answer or hang up, but must never panic.
func FuzzRequest(f *testing.F) {
	s := startTestServer(f)
	h := wire.Header{Command: wire.CmdEcho, MessageID: 1, Credit: 1}
	f.Add(append(wire.AppendHeader(nil, &h), 4, 0, 0, 0))
	h.Command = wire.CmdSessionSetup
	ss := make([]byte, 25)
	binary.LittleEndian.PutUint16(ss, 25)
	f.Add(append(wire.AppendHeader(nil, &h), ss...))
	h.Command = wire.CmdTreeConnect
	f.Add(append(wire.AppendHeader(nil, &h), 9, 0, 0, 0, 72, 0, 4, 0, 'a', 0, 'b', 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := net.Dial("tcp", s.addr)
		require.NoError(t, err)
		defer c.Close()
		if exchange(t, c, negotiateMsg(0, wire.Dialect202, wire.Dialect210)) == nil {
			t.Fatal("negotiate failed")
		}
		c.Write(frame(msg))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		wire.ReadFrame(c, 1<<24)
		if strings.Contains(s.logs.String(), "panicked") {
			t.Fatalf("server panicked:\n%s", s.logs.String())
		}
	})
}

// TestShutdownWithNotifyWatch: a server with a live inotify reader must
// stop when its context ends.
func TestShutdownWithNotifyWatch(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := serveTestServer(t)
	_, err := s.srv.getNotifier()
	require.NoError(t, err)
	c := dial(t, s)
	require.NotNil(t, exchange(t, c, negotiateMsg(0, wire.Dialect210)))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.stop()
	}()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

// TestRefusedStreamedWriteKeepsTheConnection: a large WRITE is served while
// its data arrives; when it is refused, its data must still be consumed so
// the next request is read from the right place.
func TestRefusedStreamedWriteKeepsTheConnection(t *testing.T) {
	s := startTestServer(t)
	c := dial(t, s)
	require.Equal(t, wire.StatusOK, status(t, exchange(t, c, negotiateMsg(0, wire.Dialect210))))

	n := streamWriteMin + 12345
	body := make([]byte, 48)
	binary.LittleEndian.PutUint16(body, 49)
	binary.LittleEndian.PutUint16(body[2:], wire.WriteHeadSize)
	binary.LittleEndian.PutUint32(body[4:], uint32(n))
	h := wire.Header{Command: wire.CmdWrite, MessageID: 1, SessionID: 42, Credit: 1}
	msg := append(wire.AppendHeader(nil, &h), body...)
	msg = append(msg, bytes.Repeat([]byte{0xFE}, n)...) // data that looks like a header if misread
	head := frame(msg)
	_, ok := wire.StreamableWrite(head[:4+wire.WriteHeadSize])
	require.True(t, ok, "the test must exercise the streamed path")

	echo := wire.Header{Command: wire.CmdEcho, MessageID: 2, Credit: 1}
	resp := exchange(t, c, msg, append(wire.AppendHeader(nil, &echo), 4, 0, 0, 0))
	require.NotNil(t, resp)
	assert.Equal(t, wire.StatusUserSessionDeleted, status(t, resp))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := wire.ReadFrame(c, 1<<24)
	require.NoError(t, err, "the connection must survive the refused WRITE")
	eh, err := wire.DecodeHeader(resp)
	require.NoError(t, err)
	assert.Equal(t, wire.CmdEcho, eh.Command)
	assert.Equal(t, wire.StatusOK, wire.Status(eh.Status))
}
