package database

import (
	"context"
	"errors"
	"sync"

	"gctdb/transportd/proto"
)

// errNodeGone cancels a call whose node disconnected.
var errNodeGone = errors.New("node went away")

// peerWatch keeps one context per other node that lives while the node
// is connected: a call to a node stops waiting the moment the node map
// says it is gone, without a goroutine per call.
type peerWatch struct {
	mu    sync.Mutex
	alive map[uint32]*peerLife
}

type peerLife struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (w *peerWatch) init() { w.alive = make(map[uint32]*peerLife) }

// alive returns the context of node pnn's current connection.
func (w *peerWatch) aliveCtx(pnn uint32) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.alive[pnn]
	if l == nil {
		l = newPeerLife()
		w.alive[pnn] = l
	}
	return l.ctx
}

func newPeerLife() *peerLife {
	ctx, cancel := context.WithCancel(context.Background())
	return &peerLife{ctx: ctx, cancel: cancel}
}

// update ends the contexts of the nodes nm shows disconnected, and keeps
// them ended, so that a call to a node already known to be gone gives up
// at once instead of waiting for its timeout; a node that connects again
// gets a new one.
func (w *peerWatch) update(nm *proto.NodeMap, self uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range nm.Nodes {
		if n.PNN == self {
			continue
		}
		l := w.alive[n.PNN]
		down := n.Flags&(proto.NodeFlagDisconnected|proto.NodeFlagDeleted) != 0
		switch {
		case down && l == nil:
			l = newPeerLife()
			l.cancel()
			w.alive[n.PNN] = l
		case down:
			l.cancel()
		case l != nil && l.ctx.Err() != nil:
			w.alive[n.PNN] = newPeerLife()
		}
	}
}
