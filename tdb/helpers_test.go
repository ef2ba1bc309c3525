package tdb_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"gctdb/tdb"
)

// openDB opens a database in a fresh directory and closes it at cleanup.
func openDB(t testing.TB, opts tdb.Options) *tdb.DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "test.tdb"), opts)
}

func openAt(t testing.TB, path string, opts tdb.Options) *tdb.DB {
	t.Helper()
	db, err := tdb.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// modes runs fn against a volatile and a persistent database.
func modes(t *testing.T, fn func(t *testing.T, opts tdb.Options)) {
	t.Run("volatile", func(t *testing.T) { fn(t, tdb.Options{Wipe: true}) })
	t.Run("persistent", func(t *testing.T) { fn(t, tdb.Options{Persistent: true}) })
}

func key(i int) []byte { return fmt.Appendf(nil, "key-%08d", i) }

// fill stores n records key(i) -> data "value-i" with RSN i.
func fill(t testing.TB, db *tdb.DB, n int) {
	t.Helper()
	recs := make([]tdb.Record, n)
	for i := range recs {
		recs[i] = tdb.Record{Key: key(i), Header: tdb.Header{RSN: uint64(i)}, Data: fmt.Appendf(nil, "value-%d", i)}
	}
	require.NoError(t, db.Import(context.Background(), recs))
}

// collect returns all records by traverse.
func collect(t testing.TB, db *tdb.DB) map[string]tdb.Record {
	t.Helper()
	out := make(map[string]tdb.Record)
	require.NoError(t, db.Traverse(context.Background(), func(r tdb.Record) error {
		out[string(r.Key)] = r
		return nil
	}))
	return out
}
