package rpc

import (
	"context"
	"sync"

	"gctdb/transportd/proto"
)

// Mailbox is an unbounded FIFO of inbound messages with one consumer.
// Producers never block; the consumer waits with a context.
type Mailbox struct {
	mu     sync.Mutex
	q      []*proto.Message
	head   int
	notify chan struct{}
	closed bool
}

// NewMailbox returns an empty mailbox.
func NewMailbox() *Mailbox {
	return &Mailbox{notify: make(chan struct{}, 1)}
}

// Put appends m; it reports false if the mailbox is closed.
func (mb *Mailbox) Put(m *proto.Message) bool {
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		return false
	}
	mb.q = append(mb.q, m)
	mb.mu.Unlock()
	select {
	case mb.notify <- struct{}{}:
	default:
	}
	return true
}

// Next returns the oldest message, waiting for one. It returns false when
// the context ends or the mailbox is closed and drained.
func (mb *Mailbox) Next(ctx context.Context) (*proto.Message, bool) {
	for {
		mb.mu.Lock()
		if mb.head < len(mb.q) {
			m := mb.q[mb.head]
			mb.q[mb.head] = nil
			mb.head++
			if mb.head == len(mb.q) {
				mb.q = mb.q[:0]
				mb.head = 0
			}
			mb.mu.Unlock()
			return m, true
		}
		closed := mb.closed
		mb.mu.Unlock()
		if closed {
			return nil, false
		}
		select {
		case <-mb.notify:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// Len returns the number of queued messages.
func (mb *Mailbox) Len() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.q) - mb.head
}

// Close stops accepting messages; queued ones can still be taken.
func (mb *Mailbox) Close() {
	mb.mu.Lock()
	mb.closed = true
	mb.mu.Unlock()
	select {
	case mb.notify <- struct{}{}:
	default:
	}
}
