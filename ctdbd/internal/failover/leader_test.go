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

func TestClusterLeaderVerifyOnlyOnTheLeader(t *testing.T) {
	l := newClusterLeader(1, nil)
	l.handle(leaderMsg(proto.Leader{PNN: 0, Term: 3}))
	_, err := l.verify(context.Background())
	assert.ErrorIs(t, err, errNotLeader)
}
