package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gctdb/transportd/proto"
)

// Commands on a daemon's statistics.
func statisticsCommands() []*command {
	return []*command{
		{name: "statistics", help: "show ctdb statistics", run: runStatistics},
		{name: "statisticsreset", help: "reset ctdb statistics", run: runStatisticsReset},
	}
}

// ctdbCounters are CTDB 4.17's statistics counters in its order. A node
// reports only the counters it keeps; they are printed in this order,
// and counters CTDB does not have come after, in the node's order.
var ctdbCounters = []string{
	"num_clients", "frozen", "recovering", "num_recoveries",
	"client_packets_sent", "client_packets_recv", "node_packets_sent", "node_packets_recv",
	"keepalive_packets_sent", "keepalive_packets_recv",
	"node.req_call", "node.reply_call", "node.req_dmaster", "node.reply_dmaster", "node.reply_error",
	"node.req_message", "node.req_control", "node.reply_control", "node.req_tunnel",
	"client.req_call", "client.req_message", "client.req_control", "client.req_tunnel",
	"timeouts.call", "timeouts.control", "timeouts.traverse",
	"locks.num_calls", "locks.num_current", "locks.num_pending", "locks.num_failed",
	"total_calls", "pending_calls", "childwrite_calls", "pending_childwrite_calls",
	"memory_used", "max_hop_count", "total_ro_delegations", "total_ro_revokes",
}

// Latency statistics are named by CTDB's text labels; the text prints
// them in ctdbLatencyText order, -Y/-X in ctdbLatencyMachine order.
var (
	ctdbLatencyText    = []string{"locks_latency", "reclock_ctdbd", "reclock_recd", "call_latency", "childwrite_latency"}
	ctdbLatencyMachine = []string{"reclock_ctdbd", "reclock_recd", "call_latency", "locks_latency", "childwrite_latency"}
)

func inOrder(names, order []string) []string {
	return orderLike(names, func(n string) string { return n }, order)
}

// latencyView is a min/avg/max latency in seconds over Count samples.
type latencyView struct {
	Count uint32  `json:"count"`
	Min   float64 `json:"min"`
	Avg   float64 `json:"avg"`
	Max   float64 `json:"max"`
}

// statisticsView is `ctdb statistics`.
type statisticsView struct {
	PNN            uint32                 `json:"pnn"`
	CurrentTime    time.Time              `json:"current_time"`
	CollectedSince time.Time              `json:"collected_since"`
	Counters       map[string]uint64      `json:"counters"`
	Latencies      map[string]latencyView `json:"latencies"`
	counterNames   []string
	latencyNames   []string
	loc            *time.Location
}

func newStatisticsView(pnn uint32, s *proto.Statistics, loc *time.Location) *statisticsView {
	v := &statisticsView{
		PNN: pnn, CurrentTime: s.Now.Time().UTC(), CollectedSince: s.Start.Time().UTC(),
		Counters: map[string]uint64{}, Latencies: map[string]latencyView{}, loc: loc,
	}
	for _, c := range s.Counters {
		if _, dup := v.Counters[c.Name]; !dup {
			v.counterNames = append(v.counterNames, c.Name)
		}
		v.Counters[c.Name] = c.Value
	}
	for _, l := range s.Latencies {
		avg := 0.0
		if l.Count > 0 {
			avg = l.Total / float64(l.Count)
		}
		if _, dup := v.Latencies[l.Name]; !dup {
			v.latencyNames = append(v.latencyNames, l.Name)
		}
		v.Latencies[l.Name] = latencyView{Count: l.Count, Min: l.Min, Avg: avg, Max: l.Max}
	}
	return v
}

func (v *statisticsView) writeText(w io.Writer) {
	now, start := v.CurrentTime.Unix(), v.CollectedSince.Unix()
	fmt.Fprintf(w, "CTDB version %d\n", proto.MaxProtocolVersion)
	fmt.Fprintf(w, "Current time of statistics  :                %s\n", ctime(now, v.loc))
	fmt.Fprintf(w, "Statistics collected since  : %s %s\n", elapsed(now-start), ctime(start, v.loc))
	prefix := ""
	for _, name := range inOrder(v.counterNames, ctdbCounters) {
		group, field, grouped := strings.Cut(name, ".")
		if !grouped {
			fmt.Fprintf(w, " %-22s    %10d\n", name, v.Counters[name])
			continue
		}
		if group != prefix {
			prefix = group
			fmt.Fprintf(w, " %s\n", group)
		}
		fmt.Fprintf(w, "     %-22s%10d\n", field, v.Counters[name])
	}
	for _, name := range inOrder(v.latencyNames, ctdbLatencyText) {
		l := v.Latencies[name]
		fmt.Fprintf(w, " %-30s     %.6f/%.6f/%.6f sec out of %d\n",
			fmt.Sprintf("%-18s MIN/AVG/MAX", name), l.Min, l.Avg, l.Max, l.Count)
	}
}

// latencyColumn is CTDB's -X column stem of a latency: num_<stem>_latency.
func latencyColumn(name string) string {
	stem := strings.TrimSuffix(name, "_latency")
	if stem == "locks" {
		stem = "lockwait"
	}
	return stem + "_latency"
}

// table is CTDB's -X statistics: bare lines, times in seconds.
func (v *statisticsView) table() table {
	header := []string{"CTDB version", "Current time of statistics", "Statistics collected since"}
	row := []string{strconv.Itoa(int(proto.MaxProtocolVersion)),
		strconv.FormatInt(v.CurrentTime.Unix(), 10), strconv.FormatInt(v.CollectedSince.Unix(), 10)}
	for _, name := range inOrder(v.counterNames, ctdbCounters) {
		header = append(header, name)
		row = append(row, strconv.FormatUint(v.Counters[name], 10))
	}
	for _, name := range inOrder(v.latencyNames, ctdbLatencyMachine) {
		col, l := latencyColumn(name), v.Latencies[name]
		header = append(header, "num_"+col, "min_"+col, "avg_"+col, "max_"+col)
		row = append(row, strconv.FormatUint(uint64(l.Count), 10),
			fmt.Sprintf("%.6f", l.Min), fmt.Sprintf("%.6f", l.Avg), fmt.Sprintf("%.6f", l.Max))
	}
	return table{header: header, rows: [][]string{row}, bare: true}
}

func runStatistics(ctx context.Context, r *request) (view, error) {
	s, err := r.c.Statistics(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	if err := addClusterStatistics(ctx, r, s); err != nil {
		return nil, err
	}
	return newStatisticsView(r.pnn, s, r.x.loc), nil
}

func runStatisticsReset(ctx context.Context, r *request) (view, error) {
	return nil, r.c.ResetStatistics(ctx, r.pnn)
}
