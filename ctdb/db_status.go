package main

import (
	"context"
	"fmt"
	"io"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// dbStatusSections are the parts of `ctdb status` the database service
// answers: the vnnmap with its generation, and the recovery mode.
func dbStatusSections() []statusSection {
	return []statusSection{
		{name: "vnnmap", fetch: fetchVNNMap},
		{name: "recovery_mode", fetch: fetchRecMode},
	}
}

// vnnmapView is the vnnmap as `ctdb status` prints it.
type vnnmapView struct {
	Generation uint32     `json:"generation"`
	Size       int        `json:"size"`
	Map        []vnnEntry `json:"map"`
}

type vnnEntry struct {
	Hash    int    `json:"hash"`
	LMaster uint32 `json:"lmaster"`
}

// invalidGeneration is CTDB's INVALID_GENERATION.
const invalidGeneration = 1

func (v *vnnmapView) writeText(w io.Writer) {
	if v.Generation == invalidGeneration {
		fmt.Fprintln(w, "Generation:INVALID")
	} else {
		fmt.Fprintf(w, "Generation:%d\n", v.Generation)
	}
	fmt.Fprintf(w, "Size:%d\n", v.Size)
	for _, e := range v.Map {
		fmt.Fprintf(w, "hash:%d lmaster:%d\n", e.Hash, e.LMaster)
	}
}

func fetchVNNMap(ctx context.Context, c *client.Client, pnn uint32) (view, error) {
	m, err := c.VNNMap(ctx, pnn)
	if err != nil {
		return nil, err
	}
	v := &vnnmapView{Generation: m.Generation, Size: len(m.Map), Map: []vnnEntry{}}
	for i, p := range m.Map {
		v.Map = append(v.Map, vnnEntry{Hash: i, LMaster: p})
	}
	return v, nil
}

// recmodeView is the recovery mode line.
type recmodeView struct {
	Mode  string `json:"mode"`
	Value uint32 `json:"value"`
}

func (v *recmodeView) writeText(w io.Writer) {
	fmt.Fprintf(w, "Recovery mode:%s (%d)\n", v.Mode, v.Value)
}

func fetchRecMode(ctx context.Context, c *client.Client, pnn uint32) (view, error) {
	mode, err := c.RecoveryMode(ctx, pnn)
	if err != nil {
		return nil, err
	}
	name := "NORMAL"
	if mode == proto.RecModeActive {
		name = "RECOVERY"
	}
	return &recmodeView{Mode: name, Value: mode}, nil
}
