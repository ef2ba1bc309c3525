package eventscripts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scriptDir is a temporary events/legacy directory with helpers to add
// scripts. Every script appends "NAME $*" to the run log first.
type scriptDir struct {
	t    *testing.T
	base string // stands in for CTDB_BASE
	dir  string
	log  string
}

func newScriptDir(t *testing.T) *scriptDir {
	base := t.TempDir()
	dir := filepath.Join(base, "events", "legacy")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return &scriptDir{t: t, base: base, dir: dir, log: filepath.Join(base, "run.log")}
}

// add writes NAME.script with body after the logging line.
func (d *scriptDir) add(name string, mode os.FileMode, body string) string {
	d.t.Helper()
	path := filepath.Join(d.dir, name+".script")
	script := "#!/bin/sh\necho \"" + name + " $*\" >>\"$RUN_LOG\"\n" + body + "\n"
	require.NoError(d.t, os.WriteFile(path, []byte(script), mode))
	require.NoError(d.t, os.Chmod(path, mode))
	return path
}

func (d *scriptDir) runner(mutate ...func(*Config)) *Runner {
	d.t.Helper()
	cfg := Config{
		Dir: d.dir,
		Env: []string{"CTDB_BASE=" + d.base, "RUN_LOG=" + d.log},
	}
	for _, m := range mutate {
		m(&cfg)
	}
	r, err := New(cfg)
	require.NoError(d.t, err)
	d.t.Cleanup(func() { r.Close() })
	return r
}

// runLog returns the lines scripts logged so far.
func (d *scriptDir) runLog() []string {
	d.t.Helper()
	b, err := os.ReadFile(d.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(d.t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func names(res *Result) []string {
	var out []string
	for _, s := range res.Scripts {
		out = append(out, s.Name+":"+s.Status.String())
	}
	return out
}
