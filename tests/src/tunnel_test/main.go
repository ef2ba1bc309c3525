// Command tunnel_test is CTDB's tunnel_test program for gctdb: every node
// sets up a tunnel to send to the next node and one to receive from the
// previous node; each node's token goes round the ring, and every node
// checks that its own token comes back with the count it sent, so a
// lost, duplicated or reordered token fails it. Options and output are
// CTDB's:
//
//	tunnel_test -n <nodes> -t <seconds>
//
// prints "pnn[<pnn>] <rate> msgs/sec" at the end.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"gctdb/tests/src/internal/testprog"
)

func main() {
	o, ok := testprog.Parse("tunnel_test", os.Args[1:], false, os.Stderr)
	if !ok {
		os.Exit(1)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "tunnel test failed, ret=71")
		os.Exit(1)
	}
}

func encode(pnn, count uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, pnn), count)
}

func run(o *testprog.Options) error {
	ctx := context.Background()
	c, err := testprog.Connect(ctx, "tunnel_test", o)
	if err != nil {
		return err
	}
	defer c.Close()
	pnn, n := c.PNN(), uint32(o.NumNodes)
	prev, next := (pnn+n-1)%n, (pnn+1)%n
	send, err := testprog.SetupTunnel(ctx, c, testprog.TunnelTest|uint64(pnn))
	if err != nil {
		return err
	}
	recv, err := testprog.SetupTunnel(ctx, c, testprog.TunnelTest|uint64(prev))
	if err != nil {
		return err
	}
	if err := testprog.ClusterWait(ctx, c, o.NumNodes, os.Stdout); err != nil {
		return err
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(o.Timelimit)*time.Second)
	defer cancel()
	misrouted := make(chan struct{})
	go func() {
		if _, ok := send.Next(runCtx); ok {
			close(misrouted)
		}
	}()
	var count uint32
	if err := send.Request(next, encode(pnn, count)); err != nil {
		return err
	}
	for {
		data, ok := recv.Next(runCtx)
		if !ok {
			break
		}
		select {
		case <-misrouted:
			return fmt.Errorf("pnn:%d Received data on send tunnel", pnn)
		default:
		}
		if len(data) != 8 {
			return errors.New("short tunnel data")
		}
		who, cnt := binary.LittleEndian.Uint32(data), binary.LittleEndian.Uint32(data[4:])
		if who == pnn {
			if cnt != count {
				return fmt.Errorf("pnn:%d token came back with count %d, sent %d", pnn, cnt, count)
			}
			count++
			cnt = count
		}
		if err := send.Request(next, encode(who, cnt)); err != nil {
			return err
		}
	}
	fmt.Printf("pnn[%d] %.1f msgs/sec\n", pnn, float64(count)/float64(o.Timelimit))
	// CTDB's program waits a few seconds for the others before it tears
	// its tunnels down.
	time.Sleep(3 * time.Second)
	send.Destroy(ctx)
	recv.Destroy(ctx)
	return nil
}
