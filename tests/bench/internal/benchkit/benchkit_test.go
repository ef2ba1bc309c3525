package benchkit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMedianAndFmtDur(t *testing.T) {
	in := []time.Duration{3 * time.Second, time.Millisecond, 40 * time.Millisecond}
	assert.Equal(t, 40*time.Millisecond, Median(in))
	assert.Equal(t, 3*time.Second, in[0], "the input is not sorted in place")
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{1500 * time.Microsecond, "1.5 ms"},
		{999 * time.Millisecond, "999.0 ms"},
		{time.Second, "1.00 s"},
		{7170 * time.Millisecond, "7.17 s"},
	} {
		assert.Equal(t, c.want, FmtDur(c.d))
	}
}
