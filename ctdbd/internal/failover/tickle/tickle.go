// Package tickle sends forged TCP segments from a public address to its
// clients over raw IP sockets, as CTDB does after an address moves:
//
//   - a tickle ACK (sequence and acknowledgement 0) makes the client
//     answer with an ACK carrying its real sequence numbers; if the
//     address now lives on a node that has no such connection, that node
//     answers the ACK with a reset and the client reconnects at once
//     instead of waiting for its retransmission timeout;
//   - a reset with the right sequence numbers kills the connection on the
//     client side (see package killtcp).
package tickle

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"

	"gctdb/ctdbd/internal/failover/netpacket"
	"gctdb/ctdbd/internal/failover/tcpconn"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("tickle: sender closed")

// Sender owns the raw sockets. It is safe for concurrent use.
type Sender struct {
	mu       sync.Mutex
	fd4, fd6 int
	err6     error // why IPv6 is unavailable, if it is
	closed   bool
}

// Open opens raw IPv4 and IPv6 sockets in the calling thread's network
// namespace. Hosts without IPv6 can still send IPv4.
func Open() (*Sender, error) {
	fd4, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("open raw IPv4 socket: %w", err)
	}
	s := &Sender{fd4: fd4, fd6: -1}
	// IPPROTO_RAW implies that we supply the IP header, for IPv6 too.
	fd6, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		s.err6 = fmt.Errorf("open raw IPv6 socket: %w", err)
	} else {
		s.fd6 = fd6
	}
	return s, nil
}

// Tickle sends the tickle ACK for c: from the server to the client,
// sequence and acknowledgement 0, window 1234.
func (s *Sender) Tickle(c tcpconn.Connection) error {
	return s.Send(netpacket.TCPSegment{
		Src: c.Server, Dst: c.Client, Flags: netpacket.TCPFlagACK, Window: netpacket.TickleWindow,
	})
}

// Reset sends a reset for c from the server to the client. seq must be
// the client's next expected sequence number (the acknowledgement number
// of a segment the client sent) for the client to accept it.
func (s *Sender) Reset(c tcpconn.Connection, seq, ack uint32) error {
	return s.Send(netpacket.TCPSegment{
		Src: c.Server, Dst: c.Client, Seq: seq, Ack: ack,
		Flags: netpacket.TCPFlagACK | netpacket.TCPFlagRST, Window: netpacket.TickleWindow,
	})
}

// Send sends one segment.
func (s *Sender) Send(seg netpacket.TCPSegment) error {
	pkt, err := seg.Marshal()
	if err != nil {
		return fmt.Errorf("send %s: %w", seg, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	dst := seg.Dst.Addr()
	if pkt[0]>>4 == 4 {
		err = unix.Sendto(s.fd4, pkt, 0, &unix.SockaddrInet4{Addr: dst.Unmap().As4()})
	} else {
		if s.fd6 < 0 {
			return fmt.Errorf("send %s: %w", seg, s.err6)
		}
		sa := &unix.SockaddrInet6{Addr: dst.As16()}
		if zone := dst.Zone(); zone != "" {
			ifi, zerr := net.InterfaceByName(zone)
			if zerr != nil {
				return fmt.Errorf("send %s: zone: %w", seg, zerr)
			}
			sa.ZoneId = uint32(ifi.Index)
		}
		err = unix.Sendto(s.fd6, pkt, 0, sa)
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", seg, err)
	}
	return nil
}

// Close closes the sockets.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := unix.Close(s.fd4)
	if s.fd6 >= 0 {
		err = errors.Join(err, unix.Close(s.fd6))
	}
	return err
}
