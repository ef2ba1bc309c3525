//go:build integration

// Package database holds the integration tests of CTDB's
// INTEGRATION/database group (and the cluster.020/021 message and tunnel
// rings) against real local daemons, under CTDB's test names.
package database

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gctdb/tests/localdaemons"
)

// cluster starts a healthy cluster of n nodes on 127.104.<third>.x.
func cluster(t *testing.T, third, n int) *localdaemons.Cluster {
	t.Helper()
	c := localdaemons.New(t, localdaemons.Options{Nodes: n, Prefix: fmt.Sprintf("127.104.%d", third)})
	c.StartAll()
	_, err := c.WaitAllOK(20 * time.Second)
	require.NoError(t, err)
	return c
}

// runProg runs one of gctdb's programs in node i's environment.
func runProg(c *localdaemons.Cluster, i int, prog string, args ...string) (localdaemons.Result, error) {
	cmd := exec.Command(filepath.Join(c.Bin, prog), args...)
	cmd.Env = c.NodeEnv(i)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := localdaemons.Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Exit, err = ee.ExitCode(), nil
	}
	return r, err
}

// prog runs a program on node i and returns its result.
func prog(t *testing.T, c *localdaemons.Cluster, i int, name string, args ...string) localdaemons.Result {
	t.Helper()
	r, err := runProg(c, i, name, args...)
	require.NoError(t, err, "%s on node %d", name, i)
	return r
}

// onAll runs a program on every node at once, as onnode -p all does, and
// returns each node's result.
func onAll(t *testing.T, c *localdaemons.Cluster, name string, args ...string) []localdaemons.Result {
	t.Helper()
	res := make([]localdaemons.Result, c.Nodes)
	errs := make([]error, c.Nodes)
	var wg sync.WaitGroup
	for i := 0; i < c.Nodes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = runProg(c, i, name, args...)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "%s on node %d", name, i)
	}
	return res
}

// record is a record as ctdb -j catdb lists it.
type record struct {
	Key        string `json:"key"`
	KeyBase64  string `json:"key_base64"`
	DMaster    uint32 `json:"dmaster"`
	RSN        uint64 `json:"rsn"`
	Flags      uint32 `json:"flags"`
	DataBase64 string `json:"data_base64"`
}

func (r record) key() string {
	b, _ := base64.StdEncoding.DecodeString(r.KeyBase64)
	return string(b)
}

func (r record) data() []byte {
	b, _ := base64.StdEncoding.DecodeString(r.DataBase64)
	return b
}

// catdb lists a database with ctdb -j catdb (or another dump command) on
// node i, by key.
func catdb(t *testing.T, c *localdaemons.Cluster, i int, cmd, db string) map[string]record {
	t.Helper()
	var dump struct {
		Records []record `json:"records"`
		Count   int      `json:"count"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.CtdbOK(t, i, "-j", cmd, db)), &dump))
	out := make(map[string]record, len(dump.Records))
	for _, r := range dump.Records {
		_, dup := out[r.key()]
		require.False(t, dup, "key %q listed twice", r.key())
		out[r.key()] = r
	}
	require.Len(t, out, dump.Count)
	return out
}

// writeFile writes a file in the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// hexArg is a key or value as the ctdb tool takes bytes: 0x and hex.
func hexArg(b []byte) string { return fmt.Sprintf("0x%x", b) }
