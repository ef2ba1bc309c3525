package main

import (
	"context"
	"fmt"
	"io"
)

// Commands on a daemon's log level.
func debugCommands() []*command {
	return []*command{
		{name: "setdebug", args: "ERROR|WARNING|NOTICE|INFO|DEBUG", help: "set debug level", minArgs: 1, maxArgs: 1,
			check: checkSetdebug, run: runSetdebug},
		{name: "getdebug", help: "get debug level", run: runGetdebug},
	}
}

// debugView is a log level by CTDB name.
type debugView struct {
	Level string `json:"level"`
}

func (v *debugView) writeText(w io.Writer) { fmt.Fprintln(w, v.Level) }

func runGetdebug(ctx context.Context, r *request) (view, error) {
	level, err := r.c.GetDebug(ctx, r.pnn)
	if err != nil {
		return nil, err
	}
	return &debugView{Level: level}, nil
}

func checkSetdebug(args []string) error {
	if _, err := parseDebugLevel(args[0]); err != nil {
		return failf("Invalid debug level '%s'. Valid levels are:\n\tERROR | WARNING | NOTICE | INFO | DEBUG", args[0])
	}
	return nil
}

func runSetdebug(ctx context.Context, r *request) (view, error) {
	return nil, r.c.SetDebug(ctx, r.pnn, r.args[0])
}
