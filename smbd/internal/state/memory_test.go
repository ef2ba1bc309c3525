package state_test

import (
	"testing"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/state/statetest"
)

func TestMemoryDBSemantics(t *testing.T) {
	statetest.Run(t, func(t *testing.T) (state.DB, state.DB) {
		db := state.NewMemoryDB()
		return db, db
	})
}
