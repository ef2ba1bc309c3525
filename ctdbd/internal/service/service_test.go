package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/transportd/proto"
	"gctdb/transportd/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakePort is an in-memory rpc.Port: sent frames are recorded.
type fakePort struct {
	ep    proto.Endpoint
	inbox *rpc.Mailbox
	mu    sync.Mutex
	sent  []*proto.Message
	srv   []uint64
}

func newFakePort(svc proto.ServiceID) *fakePort {
	return &fakePort{ep: proto.Endpoint{PNN: 0, Service: svc}, inbox: rpc.NewMailbox()}
}

func (p *fakePort) Endpoint() proto.Endpoint { return p.ep }
func (p *fakePort) Inbox() *rpc.Mailbox      { return p.inbox }
func (p *fakePort) Send(m *proto.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	return nil
}
func (p *fakePort) Call(context.Context, proto.Endpoint, proto.Opcode, proto.Payload, uint32) (*proto.Reply, error) {
	return nil, errors.New("not implemented")
}
func (p *fakePort) Reply(req *proto.Message, status proto.Status, msg string, body proto.Payload) error {
	return p.Send(rpc.ReplyFrame(req, status, msg, body))
}
func (p *fakePort) RegisterSrvID(_ context.Context, srvid uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.srv = append(p.srv, srvid)
	return nil
}
func (p *fakePort) DeregisterSrvID(context.Context, uint64) error { return nil }
func (p *fakePort) Close() error                                  { p.inbox.Close(); return nil }

func (p *fakePort) replies() []*proto.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*proto.Message(nil), p.sent...)
}

// recorder is a service that records what the host calls, in order.
type recorder struct {
	id      proto.ServiceID
	mu      sync.Mutex
	calls   []string
	panicOn proto.Opcode
	env     *Env
}

func (r *recorder) ID() proto.ServiceID { return r.id }
func (r *recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}
func (r *recorder) Init(_ context.Context, env *Env) error { r.env = env; r.record("init"); return nil }
func (r *recorder) Reconfigure(context.Context, *Env) error {
	r.record("reconfigure")
	return nil
}
func (r *recorder) Activate(context.Context) error   { r.record("activate"); return nil }
func (r *recorder) Deactivate(context.Context) error { r.record("deactivate"); return nil }
func (r *recorder) Dispatch(_ context.Context, m *proto.Message) {
	if m.Opcode == r.panicOn {
		panic("boom")
	}
	r.record("dispatch " + m.Opcode.String())
}
func (r *recorder) Run(ctx context.Context) error {
	r.record("run")
	<-ctx.Done()
	return nil
}

func flagsMsg(pnn, flags uint32) *proto.Message {
	return &proto.Message{
		Header:  proto.Header{Dst: proto.Endpoint{Service: proto.ServiceMessage, ID: proto.SrvIDNodeFlags}, Opcode: proto.OpNodeFlags},
		Payload: (&proto.NodeFlags{PNN: pnn, Flags: flags}).AppendTo(nil),
	}
}

func startHost(t *testing.T, svcs ...Service) (*Host, map[proto.ServiceID]*fakePort, context.CancelFunc, chan error) {
	t.Helper()
	ports := make(map[proto.ServiceID]*fakePort)
	attach := func(svc proto.ServiceID) (rpc.Port, error) {
		p := newFakePort(svc)
		ports[svc] = p
		return p, nil
	}
	h := NewHost(attach, Env{Logger: slog.New(slog.DiscardHandler), PNN: 0}, svcs...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("host failed: %v", err)
	}
	return h, ports, cancel, done
}

func TestHostLifecycle(t *testing.T) {
	r := &recorder{id: proto.ServiceCluster}
	h, ports, cancel, done := startHost(t, r)
	p := ports[proto.ServiceCluster]
	assert.Contains(t, p.srv, proto.SrvIDNodeFlags, "every service follows the node's flags")

	// Another node's flags do not change this node's activity.
	p.inbox.Put(flagsMsg(1, proto.NodeFlagBanned))
	p.inbox.Put(flagsMsg(0, 0))
	p.inbox.Put(flagsMsg(0, proto.NodeFlagStopped))
	p.inbox.Put(flagsMsg(0, proto.NodeFlagStopped|proto.NodeFlagBanned))
	p.inbox.Put(flagsMsg(0, proto.NodeFlagPermanentlyDisabled))
	h.Reconfigure(nil, nil)
	require.Eventually(t, func() bool { return len(r.Calls()) >= 10 }, 5*time.Second, time.Millisecond)
	calls := r.Calls()
	assert.Equal(t, "init", calls[0])
	assert.Equal(t, []string{
		"dispatch node_flags",
		"activate", "dispatch node_flags",
		"deactivate", "dispatch node_flags",
		"dispatch node_flags",
		"activate", "dispatch node_flags",
		"reconfigure",
	}, filter(calls, "run", "init"), "a disabled node is still active; stopped or banned is not")

	cancel()
	require.NoError(t, <-done)
}

func filter(calls []string, drop ...string) []string {
	var out []string
	for _, c := range calls {
		keep := true
		for _, d := range drop {
			if c == d {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}

func TestHostSurvivesHandlerPanic(t *testing.T) {
	r := &recorder{id: proto.ServiceCluster, panicOn: proto.OpPing}
	_, ports, cancel, done := startHost(t, r)
	p := ports[proto.ServiceCluster]
	p.inbox.Put(&proto.Message{Header: proto.Header{Flags: proto.FlagRequest, ReqID: 5, Opcode: proto.OpPing}})
	p.inbox.Put(&proto.Message{Header: proto.Header{Opcode: proto.OpGetPNN}})
	require.Eventually(t, func() bool { return len(filter(r.Calls(), "run", "init")) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"dispatch get_pnn"}, filter(r.Calls(), "run", "init"), "the service keeps dispatching")
	var rep proto.Reply
	require.NotEmpty(t, p.replies())
	require.NoError(t, proto.Unmarshal(p.replies()[0].Payload, &rep))
	assert.Equal(t, proto.StatusFailed, rep.Status, "the panicking request is answered with an error")
	cancel()
	require.NoError(t, <-done)
}

// failing is a service whose Run fails.
type failing struct{ recorder }

func (f *failing) Run(context.Context) error { return errors.New("cannot start") }

func TestHostStopsWhenAServiceFails(t *testing.T) {
	ok := &recorder{id: proto.ServiceCluster}
	bad := &failing{recorder{id: proto.ServiceEvent}}
	ports := make(map[proto.ServiceID]*fakePort)
	attach := func(svc proto.ServiceID) (rpc.Port, error) { p := newFakePort(svc); ports[svc] = p; return p, nil }
	h := NewHost(attach, Env{Logger: slog.New(slog.DiscardHandler)}, ok, bad)
	err := h.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot start")
	assert.Contains(t, err.Error(), "service event")
}
