// Package packetsock wraps Linux AF_PACKET sockets: sending complete
// Ethernet frames out of an interface and capturing frames, filtered in
// the kernel by a classic BPF program.
package packetsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Packet types reported for captured frames (sll_pkttype).
const (
	PacketHost      = unix.PACKET_HOST
	PacketBroadcast = unix.PACKET_BROADCAST
	PacketMulticast = unix.PACKET_MULTICAST
	PacketOtherHost = unix.PACKET_OTHERHOST
	PacketOutgoing  = unix.PACKET_OUTGOING
)

const ethHeaderLen = 14

// ErrShortFrame is returned for frames without a full Ethernet header.
var ErrShortFrame = errors.New("packetsock: frame shorter than an Ethernet header")

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Send transmits complete Ethernet frames (header included) out of the
// interface with the given index, in order.
func Send(ifindex int, frames ...[]byte) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open packet socket: %w", err)
	}
	defer unix.Close(fd)
	for _, f := range frames {
		if len(f) < ethHeaderLen {
			return ErrShortFrame
		}
		sa := &unix.SockaddrLinklayer{
			Protocol: htons(uint16(f[12])<<8 | uint16(f[13])),
			Ifindex:  ifindex,
			Halen:    6,
		}
		copy(sa.Addr[:], f[:6])
		if err := unix.Sendto(fd, f, 0, sa); err != nil {
			return fmt.Errorf("send frame on interface %d: %w", ifindex, err)
		}
	}
	return nil
}

// Capture is a socket receiving every frame that passes its filter.
type Capture struct {
	f *os.File
}

// OpenCapture opens a capture socket on the named interface, or on all
// interfaces if ifname is empty. The filter runs in the kernel; frames it
// accepts are truncated to the length it returns.
func OpenCapture(ifname string, filter []bpf.Instruction) (*Capture, error) {
	prog, err := bpf.Assemble(filter)
	if err != nil {
		return nil, fmt.Errorf("assemble capture filter: %w", err)
	}
	ifindex := 0
	if ifname != "" {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return nil, fmt.Errorf("capture on %s: %w", ifname, err)
		}
		ifindex = ifi.Index
	}
	// Protocol 0 receives nothing until bind, so no frame can be queued
	// before the filter is in place.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open capture socket: %w", err)
	}
	if err := attach(fd, prog, ifindex); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("capture on %q: %w", ifname, err)
	}
	return &Capture{f: os.NewFile(uintptr(fd), "capture:"+ifname)}, nil
}

func attach(fd int, prog []bpf.RawInstruction, ifindex int) error {
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach filter: %w", err)
	}
	// Interface index 0 binds to all interfaces.
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}

// Read waits for the next frame and copies it into buf. It returns the
// frame length (the captured part) and the packet type, one of the Packet
// constants. It returns ctx.Err() once ctx is done.
func (c *Capture) Read(ctx context.Context, buf []byte) (int, uint8, error) {
	// The context alone bounds the read: a past deadline set once it is
	// done wakes the poller, and ctx.Err() is already set by then.
	if err := c.f.SetReadDeadline(time.Time{}); err != nil {
		return 0, 0, err
	}
	stop := context.AfterFunc(ctx, func() { c.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var (
		n       int
		pkttype uint8
		rerr    error
	)
	err = rc.Read(func(fd uintptr) bool {
		var from unix.Sockaddr
		n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
		if rerr == unix.EAGAIN {
			return false
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok {
			pkttype = ll.Pkttype
		}
		return true
	})
	if ctx.Err() != nil {
		return 0, 0, ctx.Err()
	}
	if err != nil {
		return 0, 0, err
	}
	if rerr != nil {
		return 0, 0, fmt.Errorf("capture read: %w", rerr)
	}
	return n, pkttype, nil
}

// Close closes the socket; a blocked Read returns.
func (c *Capture) Close() error { return c.f.Close() }
