package ipalloc

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// nineHundredIPs is the address set of CTDB's lcp2.030 and lcp2.035:
// 192.168.{1..10}.{1..90}.
func nineHundredIPs(holder string) string {
	var b strings.Builder
	for o := 1; o <= 10; o++ {
		for h := 1; h <= 90; h++ {
			fmt.Fprintf(&b, "192.168.%d.%d %s\n", o, h, holder)
		}
	}
	return b.String()
}

// lcp2.030 (900 IPs, 5 nodes, 0 -> 5 healthy). The golden file was
// checked against CTDB's expected layout for this case.
func TestLCP2030NineHundredIPs(t *testing.T) {
	got := allocate(t, scenario(t, LCP2, "0,0,0,0,0", nineHundredIPs("-1"), nil))
	golden := filepath.Join("testdata", "lcp2.030.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)

	// lcp2.035: feeding the result back in is a no-op.
	assert.Equal(t, got, allocate(t, scenario(t, LCP2, "0,0,0,0,0", got, nil)))
}
