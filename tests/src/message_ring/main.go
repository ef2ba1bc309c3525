// Command message_ring is CTDB's message_ring test program for gctdb: two
// messages travel around the ring of nodes in opposite directions, each
// program passing them on as fast as it can. Options and output are
// CTDB's:
//
//	message_ring -n <nodes> -t <seconds> [-i]
//
// prints "Ring: <rate> msgs/sec (+ve=<n> -ve=<n>)" at the end (with -i,
// node 0 also prints it every second as "Ring[0]: ...").
//
// Each message carries its direction and the number of hops it made, so
// every program checks that it sees each message once per round, in
// order: a lost, duplicated or reordered message fails the program.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"gctdb/ctdbd/client"
	"gctdb/tests/src/internal/testprog"
)

const msgIDBench = 0

func main() {
	o, ok := testprog.Parse("message_ring", os.Args[1:], false, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "message ring test failed")
		os.Exit(1)
	}
}

type ring struct {
	c          *client.Client
	n          uint32
	plus, minu int
	count      int
	// started marks the directions node 0 has started.
	started map[int32]bool
	// lastHop is the hop count last seen per direction (+1, -1).
	lastHop map[int32]uint32
}

func (r *ring) next(incr int32) uint32 {
	return (r.c.PNN() + r.n + uint32(incr)) % r.n
}

func (r *ring) send(incr int32, hop uint32) error {
	b := binary.LittleEndian.AppendUint32(nil, uint32(incr))
	b = binary.LittleEndian.AppendUint32(b, hop)
	return r.c.SendMessage(r.next(incr), msgIDBench, b)
}

// receive checks a message and passes it on.
func (r *ring) receive(data []byte) error {
	if len(data) != 8 {
		return nil
	}
	incr := int32(binary.LittleEndian.Uint32(data))
	hop := binary.LittleEndian.Uint32(data[4:])
	if incr != 1 && incr != -1 {
		return nil
	}
	if last, seen := r.lastHop[incr]; seen && hop != last+r.n {
		return fmt.Errorf("pnn %d: message %+d arrived after %d hops, expected %d: lost, duplicated or out of order",
			r.c.PNN(), incr, hop, last+r.n)
	}
	r.lastHop[incr] = hop
	r.count++
	if incr == 1 {
		r.plus++
	} else {
		r.minu++
	}
	return r.send(incr, hop+1)
}

func run(o *testprog.Options) error {
	ctx := context.Background()
	c, err := testprog.Connect(ctx, "message_ring", o)
	if err != nil {
		return err
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, msgIDBench)
	if err != nil {
		return err
	}
	if err := testprog.ClusterWait(ctx, c, o.NumNodes, os.Stdout); err != nil {
		return err
	}
	r := &ring{c: c, n: uint32(o.NumNodes), lastHop: make(map[int32]uint32), started: make(map[int32]bool)}
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	msgs := make(chan []byte, 64)
	go func() {
		defer close(msgs)
		for {
			m, ok := sub.Next(runCtx)
			if !ok {
				return
			}
			msgs <- m.Payload
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case data, ok := <-msgs:
			if !ok {
				done = true
				break
			}
			if err := r.receive(data); err != nil {
				return err
			}
		case <-tick.C:
			if c.PNN() != 0 {
				continue
			}
			if o.Interactive {
				fmt.Printf("Ring[%d]: %.2f msgs/sec (+ve=%d -ve=%d)\n", c.PNN(), float64(r.count)/time.Since(start).Seconds(), r.plus, r.minu)
			}
			// Node 0 starts each direction once.
			for _, incr := range []int32{1, -1} {
				if !r.started[incr] {
					r.started[incr] = true
					if err := r.send(incr, 1); err != nil {
						return err
					}
				}
			}
		}
	}
	fmt.Printf("Ring: %.2f msgs/sec (+ve=%d -ve=%d)\n", float64(r.count)/time.Since(start).Seconds(), r.plus, r.minu)
	return nil
}
