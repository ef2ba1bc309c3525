package proto

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLatencyAdd(t *testing.T) {
	tests := []struct {
		name string
		add  []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", []time.Duration{2 * time.Second}, Latency{Count: 1, Min: 2, Max: 2, Total: 2}},
		{"smaller later", []time.Duration{3 * time.Second, time.Second, 2 * time.Second}, Latency{Count: 3, Min: 1, Max: 3, Total: 6}},
		{"zero is a minimum", []time.Duration{time.Second, 0}, Latency{Count: 2, Min: 0, Max: 1, Total: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l Latency
			for _, d := range tc.add {
				l.Add(d)
			}
			assert.Equal(t, tc.want, l)
		})
	}
}
