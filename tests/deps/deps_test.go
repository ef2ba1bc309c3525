// Package deps enforces the dependency fences of ARCHITECTURE.md with go
// list: tdb and transportd/proto import nothing from this repository; the
// ctdb CLI reaches the daemon only through ctdbd/client and
// transportd/proto; smbd reaches the cluster only through ctdbd/client.
package deps

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "gctdb"

// deps lists the repository packages pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err, "go list %s", pkg)
	var own []string
	for _, p := range strings.Fields(string(out)) {
		if (p == module || strings.HasPrefix(p, module+"/")) && p != pkg {
			own = append(own, p)
		}
	}
	return own
}

func exists(t *testing.T, pkg string) bool {
	cmd := exec.Command("go", "list", pkg)
	cmd.Dir = "../.."
	return cmd.Run() == nil
}

func TestLeafPackagesImportNothing(t *testing.T) {
	for _, pkg := range []string{"gctdb/tdb", "gctdb/transportd/proto"} {
		require.Empty(t, deps(t, pkg), "%s must not import repository packages", pkg)
	}
}

// clientSide reports whether p is a package a program that talks to the
// daemon only as a client may depend on.
func clientSide(p string) bool {
	return p == "gctdb/ctdbd/client" || p == "gctdb/transportd/proto" || p == "gctdb/transportd/rpc"
}

func TestCLIUsesOnlyTheClient(t *testing.T) {
	for _, pkg := range []string{"gctdb/ctdb", "gctdb/ctdb/onnode"} {
		for _, d := range deps(t, pkg) {
			if strings.HasPrefix(d, pkg+"/") {
				continue
			}
			require.True(t, clientSide(d), "%s must reach the daemon only through ctdbd/client, but depends on %s", pkg, d)
		}
	}
}

func TestSMBDUsesOnlyTheClient(t *testing.T) {
	if !exists(t, "gctdb/smbd") {
		t.Skip("smbd not built yet")
	}
	for _, d := range deps(t, "gctdb/smbd/...") {
		if strings.HasPrefix(d, "gctdb/smbd") {
			continue
		}
		require.True(t, clientSide(d), "smbd must reach the cluster only through ctdbd/client, but depends on %s", d)
	}
}
