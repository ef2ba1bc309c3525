package service

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkersCloseWaitsAndRefuses(t *testing.T) {
	var w Workers
	var ran atomic.Int32
	release := make(chan struct{})
	require.True(t, w.Go(func() {
		<-release
		ran.Add(1)
	}))
	closed := make(chan struct{})
	go func() {
		w.Close()
		close(closed)
	}()
	// Once closing, new work is refused...
	require.Eventually(t, func() bool { return !w.Go(func() {}) }, 5*time.Second, time.Millisecond)
	// ...but Close waits for the work that runs.
	select {
	case <-closed:
		t.Fatal("Close returned while work was running")
	default:
	}
	close(release)
	<-closed
	assert.Equal(t, int32(1), ran.Load())
}
