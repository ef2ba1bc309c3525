//go:build integration

package recovery

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRecovery001VolatileNewestSurvive is recovery.001: records written
// on several nodes, some written again elsewhere, are all present with
// their newest values on every node after a recovery.
func TestRecovery001VolatileNewestSurvive(t *testing.T) {
	t.Parallel()
	c := cluster(t, 1, 3)
	ctdbOK(t, c, 0, "attach", "rec001.tdb")
	want := map[string]string{}
	for k := 0; k < 12; k++ {
		key := fmt.Sprintf("key%d", k)
		ctdbOK(t, c, k%3, "writekey", "rec001.tdb", key, "v1-"+key)
		want[key] = "v1-" + key
	}
	for k := 0; k < 12; k += 2 {
		key := fmt.Sprintf("key%d", k)
		ctdbOK(t, c, (k+1)%3, "writekey", "rec001.tdb", key, "v2-"+key)
		want[key] = "v2-" + key
	}
	recoverNow(t, c, 1, allNodes(c))
	for i := 0; i < 3; i++ {
		for key, val := range want {
			out := ctdbOK(t, c, i, "readkey", "rec001.tdb", key)
			assert.Equal(t, fmt.Sprintf("Data: size:%d ptr:[%s]\n", len(val), val), out, "node %d key %s", i, key)
		}
	}
}
