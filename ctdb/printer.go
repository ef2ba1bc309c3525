package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A view is what a command prints for one node. Every view writes CTDB
// 4.17's text form and is marshalled as it is for -j (its json tags are
// the documented field names, see json.md). A view that CTDB prints as a
// table under -Y/-X also implements tabular; the others print their text
// form there too, as CTDB does.
type view interface {
	writeText(w io.Writer)
}

// tabular views have a machine-readable form for -Y, -X and -x.
type tabular interface {
	table() table
}

// exitStatuser views carry an exit status that is a result, not an
// error (nodestatus returns the node flags, runstate 1 when the node is
// not in a required state).
type exitStatuser interface {
	exitStatus() int
}

// table is the -Y/-X form of a view: a header line and one line per row,
// each field followed by the separator.
type table struct {
	header []string
	rows   [][]string
	// bare lines start without a separator (CTDB's statistics).
	bare bool
}

// outputMode selects the form of the output.
type outputMode int

const (
	modeText outputMode = iota
	modeMachine
	modeJSON
)

// printer writes views to standard output in the mode the global options
// chose.
type printer struct {
	w    io.Writer
	mode outputMode
	sep  string
}

// print writes the output of a command run for one node; a nil view
// prints nothing.
func (p *printer) print(v view) {
	if v == nil {
		return
	}
	switch p.mode {
	case modeJSON:
		p.json(v)
	case modeMachine:
		if t, ok := v.(tabular); ok {
			p.table(t.table(), nil)
			return
		}
		v.writeText(p.w)
	default:
		v.writeText(p.w)
	}
}

// nodeResult is the outcome of a command on one node of a -n fan-out.
type nodeResult struct {
	pnn  uint32
	view view
	err  error
}

// printNodes writes the outputs of a command run on several nodes (-n
// all or a list), in node order. Text blocks are introduced by
// ">> NODE: <pnn> <<" as onnode introduces them, unless the command's
// text names the node itself (labelled); tables get a leading PNN
// column and one header; JSON is {"nodes": [{"pnn", "result"|"error"}]}.
// Errors are written to stderr by report, as they come in the order.
func (p *printer) printNodes(results []nodeResult, labelled bool, report func(nodeResult)) {
	if p.mode == modeJSON {
		type entry struct {
			PNN    uint32 `json:"pnn"`
			Result view   `json:"result,omitempty"`
			Error  string `json:"error,omitempty"`
		}
		out := struct {
			Nodes []entry `json:"nodes"`
		}{Nodes: []entry{}}
		for _, r := range results {
			e := entry{PNN: r.pnn, Result: r.view}
			if r.err != nil {
				report(r)
				e.Error = errorMessage(r.err)
			}
			out.Nodes = append(out.Nodes, e)
		}
		p.json(out)
		return
	}
	headerDone := false
	for _, r := range results {
		if r.err != nil {
			report(r)
			continue
		}
		if r.view == nil {
			continue
		}
		if t, ok := r.view.(tabular); ok && p.mode == modeMachine {
			pnn := strconv.FormatUint(uint64(r.pnn), 10)
			tb := t.table()
			if headerDone {
				tb.header = nil
			}
			p.table(tb, &pnn)
			headerDone = true
			continue
		}
		if !labelled {
			fmt.Fprintf(p.w, "\n>> NODE: %d <<\n", r.pnn)
		}
		r.view.writeText(p.w)
	}
}

// table writes t; with pnn, every line starts with a PNN column.
func (p *printer) table(t table, pnn *string) {
	line := func(fields []string, first string) {
		var b strings.Builder
		if !t.bare {
			b.WriteString(p.sep)
		}
		if pnn != nil {
			b.WriteString(first)
			b.WriteString(p.sep)
		}
		for _, f := range fields {
			b.WriteString(f)
			b.WriteString(p.sep)
		}
		b.WriteByte('\n')
		io.WriteString(p.w, b.String())
	}
	if t.header != nil {
		line(t.header, "PNN")
	}
	for _, r := range t.rows {
		first := ""
		if pnn != nil {
			first = *pnn
		}
		line(r, first)
	}
}

func (p *printer) json(v any) {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	// Views are plain data: encoding fails only on a broken writer,
	// which the caller sees through stickyWriter.
	_ = enc.Encode(v)
}

// stickyWriter remembers the first write error, so views can write with
// fmt.Fprintf and the command still fails when standard output does.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(b)
	s.err = err
	return n, err
}

// boolField renders a flag as CTDB's machine-readable 0 or 1.
func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
