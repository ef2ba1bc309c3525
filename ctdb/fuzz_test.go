package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzCommandLine: no command line makes the tool panic or hang; with
// no daemon running it always ends with a status and, on failure, a
// message.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"", "status", "-X\x00status", "-n\x00all\x00ping", "-n\x001,2\x00getvar\x00x", "--usage",
		"-?", "-h", "-t\x00-1\x00pnn", "setvar\x00A\x00-1", "-x\x00", "version", "-j\x00listnodes",
		"runstate\x00bogus", "nodestatus\x000,,1", "-Y\x00-x\x00;\x00listnodes", "--node=\x00status",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	nodes := filepath.Join(dir, "nodes")
	require.NoError(f, os.WriteFile(nodes, []byte("10.0.0.1\n#\n10.0.0.3\n"), 0o644))
	env := map[string]string{"CTDB_SOCKET": filepath.Join(dir, "no.socket"), "CTDB_NODES": nodes}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		if line == "" {
			args = nil
		}
		r := ctdb(t, env, args...)
		assert.GreaterOrEqual(t, r.code, 0)
		if r.code != 0 {
			assert.NotEmpty(t, r.stderr, "a failure says why")
		}
	})
}

// FuzzNodesFile: the nodes file parser rejects or numbers every node.
func FuzzNodesFile(f *testing.F) {
	for _, seed := range []string{"10.0.0.1\n10.0.0.2\n", "#\n\n fd00::1 \n", "x\n", "", "\r\n\t#a\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := parseNodesFile(data)
		if err != nil {
			return
		}
		for i, n := range nodes {
			assert.Equal(t, uint32(i), n.PNN)
			if !n.Deleted {
				_, err := netip.ParseAddr(n.Address)
				assert.NoError(t, err)
			}
		}
	})
}

// FuzzNodeSpec: -n parses to distinct PNNs or fails.
func FuzzNodeSpec(f *testing.F) {
	for _, seed := range []string{"all", "0", "1,2", "2,2", ",", "x", "4294967296", "0x1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := parseNodeSpec(s)
		if err != nil {
			return
		}
		seen := map[uint32]bool{}
		for _, p := range spec.pnns {
			assert.False(t, seen[p])
			seen[p] = true
		}
		assert.Equal(t, spec.all, s == "all")
	})
}
