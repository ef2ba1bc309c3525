package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"gctdb/transportd/proto"
)

// Commands on the tunables (ctdb-tunables(7)).
func tunableCommands() []*command {
	return []*command{
		{name: "getvar", args: "<name>", help: "get a tunable variable", minArgs: 1, maxArgs: 1, run: runGetvar},
		{name: "setvar", args: "<name> <value>", help: "set a tunable variable", minArgs: 2, maxArgs: 2,
			check: checkSetvar, run: runSetvar},
		{name: "listvars", help: "list tunable variables", run: runListvars},
	}
}

// tunableView is one tunable. The text shows the name as given, as CTDB
// does; JSON has the canonical name.
type tunableView struct {
	Name  string `json:"name"`
	Value uint32 `json:"value"`
	given string
}

func (v *tunableView) writeText(w io.Writer) {
	fmt.Fprintf(w, "%-26s = %d\n", v.given, v.Value)
}

// tunablesView is listvars.
type tunablesView struct {
	Tunables []*tunableView `json:"tunables"`
}

func (v *tunablesView) writeText(w io.Writer) {
	for _, t := range v.Tunables {
		t.writeText(w)
	}
}

// findTunable looks a name up in node pnn's list in any case, as CTDB
// does before getting or setting it; a name missing there is an error.
func findTunable(ctx context.Context, r *request, name string) (proto.Tunable, error) {
	list, err := r.c.ListTunables(ctx, r.pnn)
	if err != nil {
		return proto.Tunable{}, err
	}
	for _, t := range list {
		if strings.EqualFold(t.Name, name) {
			return t, nil
		}
	}
	return proto.Tunable{}, failf("No such tunable %s", name)
}

func runGetvar(ctx context.Context, r *request) (view, error) {
	t, err := findTunable(ctx, r, r.args[0])
	if err != nil {
		return nil, err
	}
	return &tunableView{Name: t.Name, Value: t.Value, given: r.args[0]}, nil
}

func parseTunableValue(s string) (uint32, error) {
	v, err := parseCUint(s, 32)
	if err != nil {
		return 0, &exitError{status: exitInvalid, msg: fmt.Sprintf("Invalid tunable value %s: not a number from 0 to 4294967295", s)}
	}
	return uint32(v), nil
}

func checkSetvar(args []string) error {
	_, err := parseTunableValue(args[1])
	return err
}

func runSetvar(ctx context.Context, r *request) (view, error) {
	name := r.args[0]
	value, _ := parseTunableValue(r.args[1])
	if _, err := findTunable(ctx, r, name); err != nil {
		return nil, err
	}
	obsolete, err := r.c.SetTunable(ctx, r.pnn, name, value)
	if err != nil {
		return nil, err
	}
	if obsolete {
		fmt.Fprintf(r.x.stderr, "Setting obsolete tunable variable '%s'\n", name)
	}
	return nil, nil
}

func runListvars(ctx context.Context, r *request) (view, error) {
	list, err := r.c.ListTunables(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	v := &tunablesView{Tunables: []*tunableView{}}
	for _, t := range list {
		v.Tunables = append(v.Tunables, &tunableView{Name: t.Name, Value: t.Value, given: t.Name})
	}
	return v, nil
}
