package failover

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"gctdb/transportd/proto"
)

func leaderMsg(v proto.Leader) *proto.Message {
	return &proto.Message{
		Header:  proto.Header{Opcode: proto.OpLeader, Dst: proto.Endpoint{Service: proto.ServiceMessage, ID: proto.SrvIDLeader}},
		Payload: v.AppendTo(nil),
	}
}

func TestClusterLeaderFollowsPublications(t *testing.T) {
	l := newClusterLeader(1, nil)
	_, ok := l.leader()
	assert.False(t, ok, "no leader before the first publication")
	assert.Positive(t, l.leaderless())

	steps := []struct {
		name    string
		msg     *proto.Message
		changed bool
		leader  uint32
		known   bool
	}{
		{"node 0 leads", leaderMsg(proto.Leader{PNN: 0, Term: 3}), true, 0, true},
		{"same view again", leaderMsg(proto.Leader{PNN: 0, Term: 3}), false, 0, true},
		{"an older term arrives late", leaderMsg(proto.Leader{PNN: 2, Term: 2}), false, 0, true},
		{"another srvid", &proto.Message{Header: proto.Header{Opcode: proto.OpLeader, Dst: proto.Endpoint{ID: proto.SrvIDNodeMap}}}, false, 0, true},
		{"garbage payload", &proto.Message{Header: proto.Header{Opcode: proto.OpLeader, Dst: proto.Endpoint{ID: proto.SrvIDLeader}}, Payload: []byte{1}}, false, 0, true},
		{"the leader is lost", leaderMsg(proto.Leader{PNN: proto.PNNUnknown}), true, proto.PNNUnknown, false},
		{"this node leads", leaderMsg(proto.Leader{PNN: 1, Term: 4}), true, 1, true},
	}
	for _, s := range steps {
		assert.Equal(t, s.changed, l.handle(s.msg), s.name)
		pnn, known := l.leader()
		assert.Equal(t, s.known, known, s.name)
		if known {
			assert.Equal(t, s.leader, pnn, s.name)
			assert.Zero(t, l.leaderless(), s.name)
		} else {
			assert.Positive(t, l.leaderless(), s.name)
		}
	}
}

// The answer to start's question can be older than a publication that
// overtook it; it must not undo it.
func TestClusterLeaderStartAnswerAfterPublication(t *testing.T) {
	l := newClusterLeader(0, nil)
	assert.True(t, l.update(proto.Leader{PNN: 2, Term: 1}, false), "before any publication the answer counts")
	assert.True(t, l.handle(leaderMsg(proto.Leader{PNN: 0, Term: 2})))
	assert.False(t, l.update(proto.Leader{PNN: proto.PNNUnknown}, false))
	pnn, ok := l.leader()
	assert.True(t, ok)
	assert.Equal(t, uint32(0), pnn)
}

func TestClusterLeaderVerifyOnlyOnTheLeader(t *testing.T) {
	l := newClusterLeader(1, nil)
	l.handle(leaderMsg(proto.Leader{PNN: 0, Term: 3}))
	_, err := l.verify(context.Background())
	assert.ErrorIs(t, err, errNotLeader)
}
