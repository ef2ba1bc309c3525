package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gctdb/ctdbd/client"
	"gctdb/transportd/proto"
)

// statusHooks let the services that own the rest of `ctdb status` add
// their parts without this file knowing their protocol.
type statusHooks struct {
	// sections follow the node list, in order. CTDB 4.17 prints the
	// vnnmap (Generation, Size, hash lines) and the recovery mode, owned
	// here by the database service, and the leader, owned by the cluster
	// service. A section whose service is not running on the node
	// (StatusUnsupported) is left out.
	sections []statusSection
	// partiallyOnline reports whether a node without flags has a public
	// interface down (failover service); nil means never. Errors count
	// as not partially online, as in CTDB.
	partiallyOnline func(ctx context.Context, c *client.Client, pnn uint32) (bool, error)
}

// statusSection is one part of `ctdb status` after the node list.
type statusSection struct {
	// name is the section's key in the JSON output.
	name string
	// fetch gets the section from node pnn; its view prints the CTDB
	// lines and marshals as the JSON value.
	fetch func(ctx context.Context, c *client.Client, pnn uint32) (view, error)
}

// defaultStatusHooks are the status parts of the services gctdb has.
func defaultStatusHooks() statusHooks {
	return statusHooks{sections: append(dbStatusSections(), leaderSection(), bansSection()), partiallyOnline: ifacesPartiallyOnline}
}

func statusCommands() []*command {
	return []*command{
		{name: "status", help: "show node status", run: runStatus},
		{name: "nodestatus", args: "[all|<pnn-list>]", help: "show and return node status", maxArgs: 1,
			check: checkNodestatus, run: runNodestatus},
		{name: "listnodes", help: "list nodes in the cluster", daemonless: true, run: runListnodes},
	}
}

// nodeView is one node of a node map, as status and nodestatus show it.
type nodeView struct {
	PNN             uint32 `json:"pnn"`
	Address         string `json:"address"`
	Status          string `json:"status"`
	Flags           uint32 `json:"flags"`
	Disconnected    bool   `json:"disconnected"`
	Banned          bool   `json:"banned"`
	Disabled        bool   `json:"disabled"`
	Unhealthy       bool   `json:"unhealthy"`
	Stopped         bool   `json:"stopped"`
	Inactive        bool   `json:"inactive"`
	Deleted         bool   `json:"deleted"`
	PartiallyOnline bool   `json:"partially_online"`
	ThisNode        bool   `json:"this_node"`
}

func newNodeView(n proto.NodeInfo, self uint32, partial bool) nodeView {
	v := nodeView{
		PNN: n.PNN, Address: n.Addr, Flags: n.Flags, Status: proto.NodeFlagsString(n.Flags),
		Disconnected:    n.Flags&proto.NodeFlagDisconnected != 0,
		Banned:          n.Flags&proto.NodeFlagBanned != 0,
		Disabled:        n.Flags&proto.NodeFlagPermanentlyDisabled != 0,
		Unhealthy:       n.Flags&proto.NodeFlagUnhealthy != 0,
		Stopped:         n.Flags&proto.NodeFlagStopped != 0,
		Inactive:        n.Flags&proto.NodeFlagsInactive != 0,
		Deleted:         n.Flags&proto.NodeFlagDeleted != 0,
		PartiallyOnline: partial,
		ThisNode:        n.PNN == self,
	}
	if partial {
		v.Status = "PARTIALLYONLINE"
	}
	return v
}

// nodeList is a node map as one node sees it.
type nodeList struct {
	Self            uint32     `json:"pnn"`
	NumNodes        int        `json:"num_nodes"`
	NumDeletedNodes int        `json:"num_deleted_nodes"`
	Nodes           []nodeView `json:"nodes"`
	// header prints "Number of nodes" (status, nodestatus all).
	header bool
}

func (l *nodeList) writeText(w io.Writer) {
	if l.header {
		if l.NumDeletedNodes == 0 {
			fmt.Fprintf(w, "Number of nodes:%d\n", l.NumNodes)
		} else {
			fmt.Fprintf(w, "Number of nodes:%d (including %d deleted nodes)\n", l.NumNodes, l.NumDeletedNodes)
		}
	}
	for _, n := range l.Nodes {
		if n.Deleted {
			continue
		}
		this := ""
		if n.ThisNode {
			this = " (THIS NODE)"
		}
		fmt.Fprintf(w, "pnn:%d %-16s %s%s\n", n.PNN, n.Address, n.Status, this)
	}
}

// table is CTDB's -X status; Unknown is always 0: a gctdb node's flags
// are known from the moment it connects.
func (l *nodeList) table() table {
	t := table{header: []string{"Node", "IP", "Disconnected", "Unknown", "Banned", "Disabled",
		"Unhealthy", "Stopped", "Inactive", "PartiallyOnline", "ThisNode"}}
	for _, n := range l.Nodes {
		if n.Deleted {
			continue
		}
		this := "N"
		if n.ThisNode {
			this = "Y"
		}
		t.rows = append(t.rows, []string{strconv.FormatUint(uint64(n.PNN), 10), n.Address,
			boolField(n.Disconnected), "0", boolField(n.Banned), boolField(n.Disabled),
			boolField(n.Unhealthy), boolField(n.Stopped), boolField(n.Inactive),
			boolField(n.PartiallyOnline), this})
	}
	return t
}

// fetchNodeList gets node pnn's node map; only lists the nodes in
// pnns (all when nil).
func fetchNodeList(ctx context.Context, r *request, pnns []uint32) (*nodeList, error) {
	nm, err := r.c.NodeMap(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	byPNN := make(map[uint32]proto.NodeInfo, len(nm.Nodes))
	for _, n := range nm.Nodes {
		byPNN[n.PNN] = n
	}
	if pnns == nil {
		for _, n := range nm.Nodes {
			pnns = append(pnns, n.PNN)
		}
	}
	l := &nodeList{Self: r.pnn, NumNodes: len(nm.Nodes), Nodes: []nodeView{}}
	for _, n := range nm.Nodes {
		if n.Flags&proto.NodeFlagDeleted != 0 {
			l.NumDeletedNodes++
		}
	}
	for _, pnn := range pnns {
		n, ok := byPNN[pnn]
		if !ok {
			return nil, failf("Node %d does not exist", pnn)
		}
		partial := false
		if hook := r.x.hooks.partiallyOnline; hook != nil && n.Flags == 0 {
			partial, _ = hook(ctx, r.c, n.PNN)
		}
		l.Nodes = append(l.Nodes, newNodeView(n, r.pnn, partial))
	}
	return l, nil
}

// statusView is `ctdb status`: the node list, then the sections of the
// other services.
type statusView struct {
	*nodeList
	sections []namedView
}

type namedView struct {
	name string
	v    view
}

func (s *statusView) writeText(w io.Writer) {
	s.nodeList.writeText(w)
	for _, sec := range s.sections {
		sec.v.writeText(w)
	}
}

// MarshalJSON adds each section under its name to the node list object.
func (s *statusView) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(s.nodeList)
	if err != nil {
		return nil, err
	}
	b = b[:len(b)-1]
	for _, sec := range s.sections {
		v, err := json.Marshal(sec.v)
		if err != nil {
			return nil, err
		}
		name, _ := json.Marshal(sec.name)
		b = append(append(append(append(b, ','), name...), ':'), v...)
	}
	return append(b, '}'), nil
}

func runStatus(ctx context.Context, r *request) (view, error) {
	l, err := fetchNodeList(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	l.header = true
	s := &statusView{nodeList: l}
	if r.x.out.mode == modeMachine {
		return s, nil
	}
	for _, sec := range r.x.hooks.sections {
		v, err := sec.fetch(ctx, r.c, r.pnn)
		if proto.StatusOf(err) == proto.StatusUnsupported {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.sections = append(s.sections, namedView{name: sec.name, v: v})
	}
	return s, nil
}

// nodestatusView is nodestatus's list; the exit status is the OR of the
// listed nodes' flags, as CTDB's.
type nodestatusView struct{ *nodeList }

func (n nodestatusView) exitStatus() int {
	var flags uint32
	for _, v := range n.Nodes {
		if !v.Deleted {
			flags |= v.Flags
		}
	}
	return int(flags)
}

func checkNodestatus(args []string) error {
	if len(args) == 1 && args[0] != "all" {
		_, err := parsePNNList(args[0])
		return err
	}
	return nil
}

func runNodestatus(ctx context.Context, r *request) (view, error) {
	var pnns []uint32
	all := len(r.args) == 1 && r.args[0] == "all"
	switch {
	case len(r.args) == 0:
		pnns = []uint32{r.pnn}
	case !all:
		pnns, _ = parsePNNList(r.args[0])
	}
	l, err := fetchNodeList(ctx, r, pnns)
	if err != nil {
		return nil, err
	}
	l.header = all
	return nodestatusView{l}, nil
}

// listnodesView is the nodes file.
type listnodesView struct {
	Nodes []listedNode `json:"nodes"`
}

type listedNode struct {
	PNN     uint32 `json:"pnn"`
	Address string `json:"address"`
	Deleted bool   `json:"deleted"`
}

func (l *listnodesView) writeText(w io.Writer) {
	for _, n := range l.Nodes {
		if !n.Deleted {
			fmt.Fprintln(w, n.Address)
		}
	}
}

// table is CTDB's -X listnodes: no header.
func (l *listnodesView) table() table {
	var t table
	for _, n := range l.Nodes {
		if !n.Deleted {
			t.rows = append(t.rows, []string{strconv.FormatUint(uint64(n.PNN), 10), n.Address})
		}
	}
	return t
}

// nodesFile is where CTDB 4.17's tool finds the nodes file: CTDB_NODES,
// else $CTDB_BASE/nodes, else /etc/ctdb/nodes.
func nodesFile(env func(string) (string, bool)) string {
	if f, ok := env("CTDB_NODES"); ok {
		return f
	}
	base, ok := env("CTDB_BASE")
	if !ok {
		base = "/etc/ctdb"
	}
	return filepath.Join(base, "nodes")
}

func runListnodes(_ context.Context, r *request) (view, error) {
	path := nodesFile(r.x.env)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, failf("Failed to read nodes file \"%s\"", path)
	}
	nodes, err := parseNodesFile(data)
	if err != nil {
		return nil, failf("%v\nFailed to read nodes file \"%s\"", err, path)
	}
	return &listnodesView{Nodes: nodes}, nil
}

// parseNodesFile reads a nodes file by CTDB's rules: one address per
// line with blanks around it ignored, blank lines skipped, and every
// line starting with '#' a deleted node that keeps its PNN.
func parseNodesFile(data []byte) ([]listedNode, error) {
	nodes := []listedNode{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.Trim(sc.Text(), " \t\r")
		if line == "" {
			continue
		}
		n := listedNode{PNN: uint32(len(nodes))}
		if line[0] == '#' {
			n.Deleted = true
		} else {
			addr, err := netip.ParseAddr(line)
			if err != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("Invalid IP address %s", line)
			}
			n.Address = addr.String()
		}
		nodes = append(nodes, n)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no nodes in the nodes file")
	}
	return nodes, nil
}
