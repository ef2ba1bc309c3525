package tdb

import "sync"

// committer is the write path of a persistent database. Writers queue
// their write sets and wait; one goroutine commits everything queued in a
// single fsynced bbolt transaction, so concurrent writers share the cost of
// an fsync (group commit) and a lone writer never waits for a timer.
type committer struct {
	st *store

	mu     sync.Mutex
	queue  []commitReq
	spare  []commitReq
	closed bool

	wake chan struct{}
	done chan struct{}
}

type commitReq struct {
	ws   *writeSet
	done chan error
}

func newCommitter(st *store) *committer {
	c := &committer{st: st, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go c.run()
	return c
}

// submit queues ws and returns the channel its outcome arrives on.
func (c *committer) submit(ws *writeSet) <-chan error {
	done := make(chan error, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		done <- ErrClosed
		return done
	}
	c.queue = append(c.queue, commitReq{ws: ws, done: done})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return done
}

// commit queues ws and waits until it is durable or has failed.
func (c *committer) commit(ws *writeSet) error {
	return <-c.submit(ws)
}

func (c *committer) run() {
	defer close(c.done)
	var sets []*writeSet
	for range c.wake {
		for {
			c.mu.Lock()
			batch := c.queue
			c.queue, c.spare = c.spare[:0], nil
			closed := c.closed
			c.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			sets = sets[:0]
			for _, r := range batch {
				sets = append(sets, r.ws)
			}
			err := c.st.apply(sets...)
			for i, r := range batch {
				r.done <- err
				batch[i] = commitReq{}
			}
			clear(sets)
			c.mu.Lock()
			c.spare = batch[:0]
			c.mu.Unlock()
		}
	}
}

// close refuses new writes, commits the queued ones and stops the
// committer.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.done
}
