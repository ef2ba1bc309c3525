package transport

import (
	"sync"

	"gctdb/transportd/proto"
)

// queued is one encoded frame waiting for a link. req is kept only for
// requests, so an error reply can be sent if the frame is dropped.
type queued struct {
	frame []byte
	req   *proto.Message
}

// frameQueue is a bounded two-priority FIFO feeding one connection's
// writer. Priority frames (leader broadcasts, membership) overtake data
// frames, and each class has its own bound so a flood of data can never
// keep a priority frame out.
type frameQueue struct {
	mu        sync.Mutex
	hi, lo    []queued
	loBytes   int
	maxFrames int
	maxBytes  int
	wake      chan struct{}
	closed    bool
}

func newFrameQueue(maxFrames, maxBytes int) *frameQueue {
	return &frameQueue{maxFrames: maxFrames, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push enqueues q and reports false when the queue is full or closed.
func (fq *frameQueue) push(q queued, priority bool) bool {
	fq.mu.Lock()
	if fq.closed {
		fq.mu.Unlock()
		return false
	}
	if priority {
		if len(fq.hi) >= fq.maxFrames {
			fq.mu.Unlock()
			return false
		}
		fq.hi = append(fq.hi, q)
	} else {
		if len(fq.lo) >= fq.maxFrames || fq.loBytes+len(q.frame) > fq.maxBytes && len(fq.lo) > 0 {
			fq.mu.Unlock()
			return false
		}
		fq.lo = append(fq.lo, q)
		fq.loBytes += len(q.frame)
	}
	fq.mu.Unlock()
	select {
	case fq.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes up to maxBytes worth of frames (at least one if any are
// queued), priority frames first.
func (fq *frameQueue) take(dst []queued, maxBytes int) []queued {
	fq.mu.Lock()
	defer fq.mu.Unlock()
	n := 0
	for len(fq.hi) > 0 && (n == 0 || n+len(fq.hi[0].frame) <= maxBytes) {
		dst = append(dst, fq.hi[0])
		n += len(fq.hi[0].frame)
		fq.hi[0] = queued{}
		fq.hi = fq.hi[1:]
	}
	for len(fq.lo) > 0 && (n == 0 || n+len(fq.lo[0].frame) <= maxBytes) {
		dst = append(dst, fq.lo[0])
		n += len(fq.lo[0].frame)
		fq.loBytes -= len(fq.lo[0].frame)
		fq.lo[0] = queued{}
		fq.lo = fq.lo[1:]
	}
	if len(fq.hi) == 0 {
		fq.hi = nil
	}
	if len(fq.lo) == 0 {
		fq.lo = nil
	}
	return dst
}

// drain removes and returns everything queued.
func (fq *frameQueue) drain() []queued {
	fq.mu.Lock()
	defer fq.mu.Unlock()
	out := append(fq.hi, fq.lo...)
	fq.hi, fq.lo, fq.loBytes = nil, nil, 0
	return out
}

// close refuses further pushes and returns what was queued.
func (fq *frameQueue) close() []queued {
	fq.mu.Lock()
	fq.closed = true
	fq.mu.Unlock()
	select {
	case fq.wake <- struct{}{}:
	default:
	}
	return fq.drain()
}

func (fq *frameQueue) len() int {
	fq.mu.Lock()
	defer fq.mu.Unlock()
	return len(fq.hi) + len(fq.lo)
}
