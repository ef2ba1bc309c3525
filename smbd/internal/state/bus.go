package state

import (
	"context"
	"fmt"
	"sync"
)

// memoryHub connects the MemoryBuses of a MemoryCluster.
type memoryHub struct {
	mu    sync.Mutex
	next  uint64
	procs map[Process]*MemoryBus
}

func (h *memoryHub) join(node uint32) *MemoryBus {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	b := &MemoryBus{hub: h, self: Process{Node: node, Instance: h.next}}
	h.procs[b.self] = b
	return b
}

// MemoryBus is the Bus of one process of a MemoryCluster. It delivers a
// message by calling the receiver's handler from Send, one message per
// receiver at a time, so senders must not hold anything the receiver's
// handler needs (smbd sends only between state changes).
type MemoryBus struct {
	hub  *memoryHub
	self Process

	mu      sync.Mutex // serialises deliveries to this process
	handler func([]byte)
}

// Self implements Bus.
func (b *MemoryBus) Self() Process { return b.self }

// Handle implements Bus.
func (b *MemoryBus) Handle(fn func([]byte)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handler = fn
}

// Alive implements Bus.
func (b *MemoryBus) Alive(_ context.Context, p Process) bool {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	return b.hub.procs[p] != nil
}

// Leave ends the process as a crash would: it is no longer Alive and
// receives nothing.
func (b *MemoryBus) Leave() {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	delete(b.hub.procs, b.self)
}

// Send implements Bus.
func (b *MemoryBus) Send(to Process, msg []byte) error {
	b.hub.mu.Lock()
	dst := b.hub.procs[to]
	b.hub.mu.Unlock()
	if dst == nil {
		return fmt.Errorf("state: no process %d/%#x", to.Node, to.Instance)
	}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if dst.handler != nil {
		dst.handler(msg)
	}
	return nil
}
