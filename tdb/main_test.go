package tdb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gctdb/tdb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestCloseStopsGoroutines opens, uses and closes databases of both kinds
// and expects no goroutine of theirs to survive Close.
func TestCloseStopsGoroutines(t *testing.T) {
	goleak.VerifyNone(t)
	for _, opts := range []tdb.Options{{Wipe: true}, {Persistent: true}} {
		db := openDB(t, opts)
		fill(t, db, 5000)
		l, err := db.Lock(context.Background(), []byte("k"))
		require.NoError(t, err)
		l.Unlock()
		_, err = db.Compact(context.Background())
		require.NoError(t, err)
		require.NoError(t, db.Close())
	}
}
