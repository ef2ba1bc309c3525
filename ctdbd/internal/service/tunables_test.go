package service

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"gctdb/ctdbd/internal/config"
	"gctdb/transportd/proto"
)

func TestTunablesFollowEnvAndPublications(t *testing.T) {
	var tun Tunables
	tun.Reset(&Env{})
	assert.Equal(t, config.DefaultTunables(), tun.Get(), "defaults without a configuration")

	custom := config.DefaultTunables()
	custom.RecoverTimeout = 7
	tun.Reset(&Env{Tunables: &custom})
	assert.Equal(t, uint32(7), tun.Get().RecoverTimeout)

	l := proto.TunableList{Tunables: []proto.Tunable{{Name: "VacuumInterval", Value: 3}}}
	m := &proto.Message{Header: proto.Header{Dst: proto.Endpoint{Service: proto.ServiceMessage, ID: proto.SrvIDTunables}}, Payload: l.AppendTo(nil)}
	assert.True(t, tun.Apply(m))
	assert.Equal(t, uint32(3), tun.Get().VacuumInterval)
	assert.Equal(t, uint32(7), tun.Get().RecoverTimeout, "other tunables stay")

	other := &proto.Message{Header: proto.Header{Dst: proto.Endpoint{Service: proto.ServiceMessage, ID: proto.SrvIDNodeMap}}}
	assert.False(t, tun.Apply(other))
}
