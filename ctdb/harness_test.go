package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client/clienttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// result is what one run of the tool produced.
type result struct {
	stdout, stderr string
	code           int
}

// transcript renders a run as the golden files hold it, in the form of
// shared/reference/ctdb-cli.txt.
func (r result) transcript(args []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ ctdb %s\n%s", strings.Join(args, " "), r.stdout)
	if r.stderr != "" {
		fmt.Fprintf(&b, "[stderr]\n%s", r.stderr)
	}
	fmt.Fprintf(&b, "[exit status: %d]\n", r.code)
	return b.String()
}

// testCLI returns a tool that prints times in UTC and sees only env.
func testCLI(env map[string]string) *cli {
	return &cli{
		stderr: &bytes.Buffer{},
		stdout: &stickyWriter{w: &bytes.Buffer{}},
		env: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		loc:   time.UTC,
		hooks: defaultStatusHooks(),
	}
}

// ctdb runs the tool in process with env.
func ctdb(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	return runCLI(t, testCLI(env), args...)
}

func runCLI(t testing.TB, x *cli, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := x.main(ctx, args)
	return result{
		stdout: x.stdout.w.(*bytes.Buffer).String(),
		stderr: x.stderr.(*bytes.Buffer).String(),
		code:   code,
	}
}

// startCluster starts nodes on addrs and waits until node 0 sees them
// all OK.
func startCluster(t *testing.T, addrs ...string) (*clienttest.Cluster, map[string]string) {
	t.Helper()
	cl := clienttest.Start(t, clienttest.Options{Addrs: addrs})
	env := map[string]string{"CTDB_SOCKET": cl.Socket(0)}
	require.Eventually(t, func() bool {
		return ctdb(t, env, "nodestatus", "all").code == 0
	}, 20*time.Second, 50*time.Millisecond, "cluster did not become healthy")
	return cl, env
}

var (
	ctimeRE   = regexp.MustCompile(`[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}`)
	elapsedRE = regexp.MustCompile(`\(\d{3,} \d\d:\d\d:\d\d\)`)
	pingRE    = regexp.MustCompile(`time=\d+\.\d{6} sec`)
	jsonTime  = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[\d:.]+Z"`)
	jsonPing  = regexp.MustCompile(`"time": [\d.e-]+`)
	// The client count is updated when the daemon notices that the
	// previous command's connection closed, which may come after the next
	// command's ping.
	pingClients     = regexp.MustCompile(`\(\d+ clients\)`)
	jsonPingClients = regexp.MustCompile(`"clients": \d+`)
)

// normalize replaces what changes from run to run (clocks, round trips)
// with placeholders.
func normalize(s string) string {
	s = ctimeRE.ReplaceAllString(s, "<CTIME>")
	s = elapsedRE.ReplaceAllString(s, "(<ELAPSED>)")
	s = pingRE.ReplaceAllString(s, "time=<SECONDS> sec")
	s = pingClients.ReplaceAllString(s, "(<N> clients)")
	s = jsonPingClients.ReplaceAllString(s, `"clients": <N>`)
	s = jsonTime.ReplaceAllString(s, `"<TIME>"`)
	return jsonPing.ReplaceAllString(s, `"time": <SECONDS>`)
}

// normalizePID replaces the daemons' pid: every test node runs in this
// process.
func normalizePID(s string) string {
	return regexp.MustCompile(`\b`+strconv.Itoa(os.Getpid())+`\b`).ReplaceAllString(s, "<PID>")
}

var (
	statsTextRE    = regexp.MustCompile(`(?m)^( +[a-z_]+) +\d+$`)
	statsMachineRE = regexp.MustCompile(`(?m)^(\|?\d+\|)?1\|\d+\|\d+\|[\d|.]+$`)
	statsJSONRE    = regexp.MustCompile(`(?m)^(\s+"[a-z]+[_.][a-z_.]+": )\d+(,?)$`)
)

// normalizeStats replaces counter values, which count the test's own
// traffic, and their padding, which depends on how many digits they have.
func normalizeStats(s string) string {
	s = statsTextRE.ReplaceAllString(s, "${1} <N>")
	s = statsMachineRE.ReplaceAllStringFunc(s, func(line string) string {
		return regexp.MustCompile(`\d+(\.\d+)?`).ReplaceAllString(line, "<N>")
	})
	return statsJSONRE.ReplaceAllString(s, "${1}<N>${2}")
}

// golden compares got with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create %s", path)
	assert.Equal(t, string(want), got)
}
