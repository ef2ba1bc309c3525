package cluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ARP frame layout (Ethernet, IPv4): RFC 826.
const (
	ethHeader = 14
	arpLen    = 28
	etherARP  = 0x0806
	arpReply  = 2
)

// htons converts a 16-bit value to network order for the socket calls.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ARPAnswers asks the LAN from the client namespace who has addr and
// returns every distinct hardware address that answered within wait: on
// a sound cluster exactly one node answers for a public address.
func (c *Cluster) ARPAnswers(addr netip.Addr, wait time.Duration) ([]net.HardwareAddr, error) {
	var fd int
	var ifi *net.Interface
	if err := c.Client.Do(func() error {
		var err error
		if ifi, err = net.InterfaceByName(Iface); err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(etherARP)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(etherARP), Ifindex: ifi.Index}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	defer unix.Close(fd)

	req := make([]byte, ethHeader+arpLen)
	copy(req[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(req[6:12], ifi.HardwareAddr)
	binary.BigEndian.PutUint16(req[12:], etherARP)
	arp := req[ethHeader:]
	binary.BigEndian.PutUint16(arp[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(arp[2:], 0x0800) // IPv4
	arp[4], arp[5] = 6, 4
	binary.BigEndian.PutUint16(arp[6:], 1) // request
	copy(arp[8:14], ifi.HardwareAddr)
	src := c.ClientAddr.As4()
	copy(arp[14:18], src[:])
	dst := addr.As4()
	copy(arp[24:28], dst[:])
	to := &unix.SockaddrLinklayer{Protocol: htons(etherARP), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], req[0:6])
	if err := unix.Sendto(fd, req, 0, to); err != nil {
		return nil, fmt.Errorf("send arp request: %w", err)
	}

	var out []net.HardwareAddr
	deadline := time.Now().Add(wait)
	buf := make([]byte, 128)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return out, nil
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return nil, err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read arp: %w", err)
		}
		if n < ethHeader+arpLen || binary.BigEndian.Uint16(buf[12:]) != etherARP {
			continue
		}
		p := buf[ethHeader:]
		if binary.BigEndian.Uint16(p[6:]) != arpReply || !bytes.Equal(p[14:18], dst[:]) {
			continue
		}
		hw := net.HardwareAddr(slices.Clone(p[8:14]))
		if !slices.ContainsFunc(out, func(h net.HardwareAddr) bool { return bytes.Equal(h, hw) }) {
			out = append(out, hw)
		}
	}
}

// MAC is node i's hardware address.
func (c *Cluster) MAC(i int) net.HardwareAddr {
	return c.Nodes[i].NS.HardwareAddr(c.t, Iface)
}
