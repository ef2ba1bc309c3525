// Package iobuf recycles the large buffers of the SMB data path: WRITE
// frames and READ responses of up to the 8 MiB a client may ask for.
// Allocating them fresh costs a page-zeroing pass over every byte and a
// garbage collection every few requests; recycled ones cost neither.
package iobuf

import (
	"math/bits"
	"sync"
)

const (
	minShift = 16 // smallest pooled class: 64 KiB
	maxShift = 24 // largest pooled class: 16 MiB
)

// Min is the smallest size worth pooling; smaller buffers are plain
// allocations.
const Min = 1 << minShift

var pools [maxShift - minShift + 1]sync.Pool

// class returns the pool index of a buffer able to hold n bytes, or -1.
func class(n int) int {
	if n < Min || n > 1<<maxShift {
		return -1
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of length n. Its contents are undefined (a
// recycled buffer keeps old data): callers overwrite what they send.
func Get(n int) []byte {
	c := class(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := pools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minShift))
}

// Put recycles a buffer obtained from Get. The caller must not use it
// afterwards. Buffers of other origins are accepted when their capacity
// is exactly a class size, and otherwise dropped.
func Put(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minShift) {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}
