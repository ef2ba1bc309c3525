package ipalloc

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The helpers below read scenarios in the format of CTDB's takeover unit
// tests (ctdb/tests/UNIT/takeover), so that ported cases stay recognisable:
//
//	nodes:  "0,2,0"        node flags, one entry per node
//	input:  "IP PNN [ALLOWED_PNN,...]" per line
//
// Every node knows every address unless an allowed list restricts it; a
// node is believed only about addresses it claims to hold itself (the
// takeover helper's merge rule, reproduced by Merge).

func parseFlags(t testing.TB, s string) []Flags {
	t.Helper()
	var out []Flags
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 0, 32)
		require.NoError(t, err)
		out = append(out, Flags(v))
	}
	return out
}

type knownLine struct {
	addr    netip.Addr
	holder  int
	allowed []int
}

func parseKnown(t testing.TB, s string) []knownLine {
	t.Helper()
	var out []knownLine
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 2, "line %q", line)
		l := knownLine{addr: netip.MustParseAddr(f[0])}
		h, err := strconv.Atoi(f[1])
		require.NoError(t, err)
		l.holder = h
		if len(f) > 2 {
			for _, a := range strings.Split(f[2], ",") {
				n, err := strconv.Atoi(a)
				require.NoError(t, err)
				l.allowed = append(l.allowed, n)
			}
		}
		out = append(out, l)
	}
	return out
}

// scenario builds an Input the way ctdb_takeover_tests does. running lists
// nodes in the RUNNING runstate (nil means all). NoIPHostOnAllDisabled is
// set because CTDB 4.17 never hosts on disabled nodes.
func scenario(t testing.TB, algo Algorithm, nodeFlags, known string, running []bool) Input {
	t.Helper()
	flags := parseFlags(t, nodeFlags)
	lines := parseKnown(t, known)
	views := make([]NodeView, len(flags))
	for n := range views {
		for _, l := range lines {
			if l.allowed != nil && !contains(l.allowed, n) {
				continue
			}
			views[n].Known = append(views[n].Known, KnownIP{Addr: l.addr, Holder: l.holder})
			if running == nil || running[n] {
				views[n].Available = append(views[n].Available, l.addr)
			}
		}
	}
	return inputFromViews(t, algo, flags, views)
}

// multiScenario is the "multi" mode: each node's view is given separately,
// blocks separated by blank lines.
func multiScenario(t testing.TB, algo Algorithm, nodeFlags, blocks string) Input {
	t.Helper()
	flags := parseFlags(t, nodeFlags)
	parts := strings.Split(strings.TrimSpace(blocks), "\n\n")
	require.Len(t, parts, len(flags))
	views := make([]NodeView, len(flags))
	for n, p := range parts {
		for _, l := range parseKnown(t, p) {
			views[n].Known = append(views[n].Known, KnownIP{Addr: l.addr, Holder: l.holder})
			views[n].Available = append(views[n].Available, l.addr)
		}
	}
	return inputFromViews(t, algo, flags, views)
}

func inputFromViews(t testing.TB, algo Algorithm, flags []Flags, views []NodeView) Input {
	t.Helper()
	ips, err := Merge(views)
	require.NoError(t, err)
	in := Input{IPs: ips, Tunables: Tunables{Algorithm: algo, NoIPHostOnAllDisabled: true}}
	for i, f := range flags {
		in.Nodes = append(in.Nodes, Node{PNN: i, Flags: f})
	}
	return in
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// format renders a result as ctdb_takeover_tests prints it.
func format(as []Assignment) string {
	var b strings.Builder
	for _, a := range as {
		fmt.Fprintf(&b, "%s %d\n", a.Addr, a.PNN)
	}
	return b.String()
}

func allocate(t testing.TB, in Input) string {
	t.Helper()
	out, err := Allocate(in)
	require.NoError(t, err)
	return format(out)
}

func trimLines(s string) string {
	return strings.TrimSpace(s) + "\n"
}
