package iobuf

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClass(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, -1}, {Min - 1, -1}, {Min, 0}, {Min + 1, 1}, {2 * Min, 1},
		{8 << 20, 7}, {8<<20 + 100, 8}, {16 << 20, 8}, {16<<20 + 1, -1},
	} {
		assert.Equal(t, tc.want, class(tc.n), "n=%d", tc.n)
	}
}

func TestGetPut(t *testing.T) {
	b := Get(100)
	assert.Len(t, b, 100, "small sizes are plain allocations")
	Put(b)

	b = Get(3 << 20)
	require.Len(t, b, 3<<20)
	assert.Equal(t, 4<<20, cap(b), "pooled buffers have their class's capacity")
	b[0] = 7
	Put(b)
	c := Get(4 << 20)
	assert.Len(t, c, 4<<20)
	assert.Equal(t, 4<<20, cap(c))

	Put(make([]byte, 3<<20)) // not a class size: dropped, not a panic
	big := Get(32 << 20)
	assert.Len(t, big, 32<<20)
	Put(big)
}

func BenchmarkGetPut8MiB(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Put(Get(8<<20 + 80))
	}
}
