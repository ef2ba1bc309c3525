package vacuum

import "sync"

// Entry is a deleted record: its key and the RSN of the deletion.
type Entry struct {
	Key []byte
	RSN uint64
}

// DeleteQueue collects the records deleted on a node since the last fast
// vacuum. It is bounded: when full, further deletions are left for the
// next full scan, as CTDB's delete queue is.
type DeleteQueue struct {
	mu      sync.Mutex
	max     int
	entries map[string]uint64
	dropped uint64
}

// DefaultQueueMax bounds a database's delete queue.
const DefaultQueueMax = 100000

// NewDeleteQueue returns an empty queue of at most max entries (<= 0:
// DefaultQueueMax).
func NewDeleteQueue(max int) *DeleteQueue {
	if max <= 0 {
		max = DefaultQueueMax
	}
	return &DeleteQueue{max: max, entries: make(map[string]uint64)}
}

// Add queues a deletion; a later deletion of the same key replaces an
// earlier one.
func (q *DeleteQueue) Add(key []byte, rsn uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.entries[string(key)]; !ok && len(q.entries) >= q.max {
		q.dropped++
		return
	}
	q.entries[string(key)] = rsn
}

// Take removes and returns up to n entries.
func (q *DeleteQueue) Take(n int) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Entry, 0, min(n, len(q.entries)))
	for k, rsn := range q.entries {
		if len(out) >= n {
			break
		}
		out = append(out, Entry{Key: []byte(k), RSN: rsn})
		delete(q.entries, k)
	}
	return out
}

// Len returns the number of queued deletions.
func (q *DeleteQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// Dropped returns how many deletions did not fit.
func (q *DeleteQueue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// Clear empties the queue (a recovery drops every tombstone).
func (q *DeleteQueue) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	clear(q.entries)
}
