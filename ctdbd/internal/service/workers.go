package service

import "sync"

// Workers owns the goroutines a service starts from Dispatch for slow
// requests. Unlike a bare WaitGroup it may be closed while Dispatch still
// runs: work arriving after Close is refused instead of racing with the
// wait (sync.WaitGroup forbids Add concurrent with a Wait at zero).
type Workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs fn in a goroutine; it reports false, without running fn, once
// Close has been called.
func (w *Workers) Go(fn func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn()
	}()
	return true
}

// Close refuses new work and waits for the running work.
func (w *Workers) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
