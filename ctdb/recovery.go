package main

import (
	"context"
	"io"
)

// recoveryCommands are the commands of the recovery service.
func recoveryCommands() []*command {
	return []*command{
		{name: "recover", help: "force recovery", run: runRecover},
	}
}

// emptyView prints nothing, as CTDB's recover does on success.
type emptyView struct{}

func (emptyView) writeText(io.Writer) {}

func runRecover(ctx context.Context, r *request) (view, error) {
	if _, err := r.c.Recover(ctx, r.pnn, "ctdb recover"); err != nil {
		return nil, err
	}
	return emptyView{}, nil
}
