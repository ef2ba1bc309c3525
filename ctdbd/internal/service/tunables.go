package service

import (
	"sync"

	"gctdb/ctdbd/internal/config"
	"gctdb/transportd/proto"
)

// Tunables is a service's copy of the node's tunables, kept current from
// the values at start, reloaded configurations and the changes the node
// service publishes on proto.SrvIDTunables (which the service must
// register for). Safe for concurrent use.
type Tunables struct {
	mu sync.Mutex
	t  config.Tunables
}

// Reset takes the tunables of env, or the defaults when it has none.
func (t *Tunables) Reset(env *Env) {
	v := config.DefaultTunables()
	if env.Tunables != nil {
		v = *env.Tunables
	}
	t.mu.Lock()
	t.t = v
	t.mu.Unlock()
}

// Apply takes the changes a SrvIDTunables message carries and reports
// whether m was one.
func (t *Tunables) Apply(m *proto.Message) bool {
	if m.Dst.Service != proto.ServiceMessage || m.Dst.ID != proto.SrvIDTunables {
		return false
	}
	var l proto.TunableList
	if proto.DecodePayload(m, &l) != nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range l.Tunables {
		t.t.Set(v.Name, v.Value)
	}
	return true
}

// Get returns the current tunables.
func (t *Tunables) Get() config.Tunables {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}
