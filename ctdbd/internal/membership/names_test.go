package membership

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMemberNames(t *testing.T) {
	for _, pnn := range []uint32{0, 1, 4242} {
		got, ok := parseMemberName(memberName(pnn))
		assert.True(t, ok)
		assert.Equal(t, pnn, got)
	}
	for _, bad := range []string{"", "pnn-", "node-1", "pnn-x", "pnn-99999999999"} {
		_, ok := parseMemberName(bad)
		assert.False(t, ok, bad)
	}
}
