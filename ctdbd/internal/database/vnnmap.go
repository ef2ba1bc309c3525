package database

import (
	"context"
	"slices"

	"gctdb/ctdbd/internal/config"
	"gctdb/transportd/proto"
)

// initialVNNMap is the vnnmap a node starts with before any recovery:
// every node of the nodes file that is not deleted, in PNN order. Every
// node computes the same map from the same nodes file, so a cluster whose
// nodes all run agrees on record locations without a leader; recovery
// replaces it (OpSetVNNMap) with the connected lmaster-capable nodes. The
// generation is derived from the map so that it is the same everywhere
// too, and is never 0 or CTDB's INVALID_GENERATION (1).
func initialVNNMap(nodes []config.Node) *proto.VNNMap {
	v := &proto.VNNMap{}
	for _, n := range nodes {
		if !n.Deleted {
			v.Map = append(v.Map, n.PNN)
		}
	}
	slices.Sort(v.Map)
	v.Generation = proto.Hash(v.AppendTo(nil))
	if v.Generation < 2 {
		v.Generation += 2
	}
	return v
}

// vnnmap returns the current vnnmap; it is never changed in place.
func (s *Service) vnnmap() *proto.VNNMap { return s.vnn.Load() }

// generation returns the current generation.
func (s *Service) generation() uint32 { return s.vnnmap().Generation }

func (s *Service) handleGetVNNMap(_ context.Context, r request) {
	r.reply(s.vnnmap())
}

// handleSetVNNMap installs a new vnnmap and generation. Requests of the
// old generation are refused from now on, so their senders retry against
// the new map.
func (s *Service) handleSetVNNMap(_ context.Context, r request) {
	var v proto.VNNMap
	if !r.decode(&v) {
		return
	}
	if len(v.Map) == 0 {
		r.status(proto.StatusInvalid, "empty vnnmap")
		return
	}
	old := s.vnn.Swap(&v)
	s.log.Info("vnnmap changed", "generation", v.Generation, "map", v.Map, "old_generation", old.Generation)
	s.txGenerationChanged()
	r.reply(nil)
}

func (s *Service) handleGetRecMode(_ context.Context, r request) {
	r.reply(&proto.U32{V: s.recmode.Load()})
}
