package failover

import "sync"

// workers owns the goroutines Dispatch starts for slow requests. Unlike
// a bare WaitGroup it may be closed while Dispatch still runs: a request
// arriving after Close is refused instead of racing with the Wait.
type workers struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// goWork runs fn in a goroutine; it reports false after close.
func (w *workers) goWork(fn func()) bool {
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

// close refuses new work and waits for the running work.
func (w *workers) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
