package database

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"gctdb/transportd/proto"
)

// TestEveryOpcodeHasAHandler keeps the dispatch table in step with the
// protocol's database family.
func TestEveryOpcodeHasAHandler(t *testing.T) {
	n := 0
	for i := proto.Opcode(1); i < 0x1000; i++ {
		op := proto.FamilyDatabase | i
		if strings.HasPrefix(op.String(), "opcode-") {
			continue
		}
		n++
		assert.Contains(t, handlers, op, "no handler for %s", op)
	}
	assert.Equal(t, n, len(handlers))
}
