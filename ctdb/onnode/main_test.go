package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSSH stands in for ssh: it prints the node, whether stdin was
// closed (-n) and the command. `ctdb pnn` answers from nodes 1 and 2
// only (node 0 is down); any other command fails with status 3 on
// 10.0.0.3.
const fakeSSH = `#!/bin/sh
n=""
if [ "$1" = "-n" ] ; then n="-n" ; shift ; fi
host="$1" ; shift
case "$*" in
"ctdb pnn")
	case "$host" in
	10.0.0.2) echo 1 ;;
	10.0.0.3) echo 2 ;;
	*) echo "connection refused" >&2 ; exit 1 ;;
	esac
	exit 0 ;;
esac
echo "${host}${n:+ $n}: $*"
[ "$host" != "10.0.0.3" ] || { echo "failed on $host" >&2 ; exit 3 ; }
`

// fakeCtdb is the local `ctdb -X status` that ok and con read: node 0
// disconnected, node 1 disabled, node 2 healthy.
const fakeCtdb = `#!/bin/sh
cat <<EOF
|Node|IP|Disconnected|Unknown|Banned|Disabled|Unhealthy|Stopped|Inactive|PartiallyOnline|ThisNode|
|0|10.0.0.1|1|0|0|0|0|0|1|0|N|
|1|10.0.0.2|0|0|0|1|0|0|0|0|Y|
|2|10.0.0.3|0|0|0|0|0|0|0|0|N|
EOF
`

func writeScript(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(text), 0o755))
}

// setup gives onnode a nodes file with a deleted node 3, the fake ssh and
// the fake ctdb.
func setup(t *testing.T) string {
	base := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(base, "nodes"),
		[]byte("10.0.0.1\n10.0.0.2\n10.0.0.3\n#10.0.0.4\n10.0.0.5\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(base, "nodes.other"), []byte("192.0.2.1\n"), 0o644))
	bin := t.TempDir()
	writeScript(t, filepath.Join(bin, "fake-ssh"), fakeSSH)
	writeScript(t, filepath.Join(bin, "ctdb"), fakeCtdb)
	t.Setenv("CTDB_BASE", base)
	t.Setenv("ONNODE_SSH", filepath.Join(bin, "fake-ssh"))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Unsetenv("CTDB_NODES")
	return base
}

type outcome struct {
	stdout, stderr string
	code           int
}

func onnode(args ...string) outcome {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return outcome{out.String(), errb.String(), code}
}

func headers(nodes ...string) string {
	var b strings.Builder
	for _, n := range nodes {
		b.WriteString("\n>> NODE: " + n + " <<\n")
	}
	return b.String()
}

func TestNodeSpecs(t *testing.T) {
	setup(t)
	for _, tc := range []struct {
		args string
		want outcome
	}{
		{"1 hostname", outcome{stdout: "10.0.0.2 -n: hostname\n"}},
		{"-i 1 hostname", outcome{stdout: "10.0.0.2: hostname\n"}},
		{"-v 1 uptime", outcome{stdout: "10.0.0.2 -n: uptime\n", stderr: headers("10.0.0.2")}},
		{"4 date", outcome{stdout: "10.0.0.5 -n: date\n"}},
		{"0,4 date", outcome{stdout: "10.0.0.1 -n: date\n10.0.0.5 -n: date\n", stderr: headers("10.0.0.1", "10.0.0.5")}},
		{"-q 0-1 date", outcome{stdout: "10.0.0.1 -n: date\n10.0.0.2 -n: date\n"}},
		{"-q 1,0-1 date", outcome{stdout: "10.0.0.2 -n: date\n10.0.0.1 -n: date\n10.0.0.2 -n: date\n"}},
		{"-q all echo a b", outcome{
			stdout: "10.0.0.1 -n: echo a b\n10.0.0.2 -n: echo a b\n10.0.0.3 -n: echo a b\n10.0.0.5 -n: echo a b\n",
			stderr: "failed on 10.0.0.3\n", code: 3}},
		{"all true", outcome{
			stdout: "10.0.0.1 -n: true\n10.0.0.2 -n: true\n10.0.0.3 -n: true\n10.0.0.5 -n: true\n",
			stderr: headers("10.0.0.1", "10.0.0.2") + headers("10.0.0.3") + "failed on 10.0.0.3\n" + headers("10.0.0.5"),
			code:   3}},
		{"2 true", outcome{stdout: "10.0.0.3 -n: true\n", stderr: "failed on 10.0.0.3\n", code: 3}},
		{"any true", outcome{stdout: "10.0.0.2 -n: true\n"}},
		{"ok true", outcome{stdout: "10.0.0.3 -n: true\n", stderr: "failed on 10.0.0.3\n", code: 3}},
		{"healthy true", outcome{stdout: "10.0.0.3 -n: true\n", stderr: "failed on 10.0.0.3\n", code: 3}},
		{"-q con true", outcome{stdout: "10.0.0.2 -n: true\n10.0.0.3 -n: true\n", stderr: "failed on 10.0.0.3\n", code: 3}},
		{"-q connected,0 true", outcome{stdout: "10.0.0.2 -n: true\n10.0.0.3 -n: true\n10.0.0.1 -n: true\n",
			stderr: "failed on 10.0.0.3\n", code: 3}},
		{"-f nodes.other all true", outcome{stdout: "192.0.2.1 -n: true\n"}},
		{"-n myhost true", outcome{stdout: "myhost -n: true\n"}},
		{"3 true", outcome{stderr: "onnode: \"node 3\" does not exist\n", code: 1}},
		{"9 true", outcome{stderr: "onnode: \"node 9\" does not exist\n", code: 1}},
		{"foo true", outcome{stderr: "Invalid <nodespec>\n\n" + usageText, code: 1}},
		{"1-x true", outcome{stderr: "Invalid <nodespec>\n\n" + usageText, code: 1}},
		{"-x all true", outcome{stderr: "onnode: illegal option -- x\n" + usageText, code: 1}},
		{"-h", outcome{stderr: usageText, code: 1}},
		{"all", outcome{stderr: usageText, code: 1}},
		{"-f", outcome{stderr: "onnode: option requires an argument -- f\n" + usageText, code: 1}},
	} {
		t.Run(tc.args, func(t *testing.T) {
			assert.Equal(t, tc.want, onnode(strings.Fields(tc.args)...))
		})
	}
}

// TestParallel: -p runs everywhere at once, prefixes every output line
// with its node unless -q, and returns a failing node's status.
func TestParallel(t *testing.T) {
	setup(t)
	r := onnode("-p", "all", "hostname")
	assert.Equal(t, 3, r.code)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	slices.Sort(lines)
	assert.Equal(t, []string{
		"[10.0.0.1] 10.0.0.1 -n: hostname",
		"[10.0.0.2] 10.0.0.2 -n: hostname",
		"[10.0.0.3] 10.0.0.3 -n: hostname",
		"[10.0.0.3] failed on 10.0.0.3",
		"[10.0.0.5] 10.0.0.5 -n: hostname",
	}, lines)

	r = onnode("-pqi", "0,1", "hostname")
	assert.Equal(t, 0, r.code)
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	slices.Sort(lines)
	// -p always closes stdin.
	assert.Equal(t, []string{"10.0.0.1 -n: hostname", "10.0.0.2 -n: hostname"}, lines)
}

func TestCurrentDirectoryAndShell(t *testing.T) {
	setup(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
	r := onnode("-c", "1", "ls")
	assert.Equal(t, outcome{stdout: "10.0.0.2 -n: cd " + shellQuote(wd) + " && ls\n"}, r)

	t.Setenv("ONNODE_SSH", filepath.Join(t.TempDir(), "no-such-ssh"))
	r = onnode("1", "true")
	assert.Equal(t, 127, r.code)

	// onnode.conf in CTDB_BASE overrides the environment.
	base := os.Getenv("CTDB_BASE")
	ssh := filepath.Join(t.TempDir(), "conf-ssh")
	writeScript(t, ssh, "#!/bin/sh\necho conf-ssh \"$@\"\n")
	require.NoError(t, os.WriteFile(filepath.Join(base, "onnode.conf"), []byte("ONNODE_SSH=\""+ssh+"\"\n"), 0o644))
	assert.Equal(t, outcome{stdout: "conf-ssh -n 10.0.0.2 true\n"}, onnode("1", "true"))
}

// TestNodesFileChoice: CTDB_NODES names the nodes file when set; a
// missing file is reported as CTDB's onnode reports it.
func TestNodesFileChoice(t *testing.T) {
	base := setup(t)
	t.Setenv("CTDB_NODES", filepath.Join(base, "nodes.other"))
	assert.Equal(t, outcome{stdout: "192.0.2.1 -n: true\n"}, onnode("0", "true"))
	t.Setenv("CTDB_NODES", filepath.Join(base, "missing"))
	assert.Equal(t, outcome{stderr: "onnode: unable to open nodes file  \"" + filepath.Join(base, "missing") + "\"\n", code: 1}, onnode("0", "true"))
}
