// Package announce tells the local network that a public address has
// moved to this node: a gratuitous ARP request and reply for IPv4, an
// unsolicited neighbour advertisement for IPv6, as CTDB sends after
// taking an address over. Neighbours update their caches at once instead
// of sending traffic to the old node until their entries expire.
package announce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"gctdb/ctdbd/internal/failover/netpacket"
	"gctdb/ctdbd/internal/failover/packetsock"
)

// ErrNotEthernet is returned for interfaces without an Ethernet address.
var ErrNotEthernet = errors.New("announce: not an Ethernet interface")

// Send announces addr on the named interface. Loopback interfaces have no
// neighbours, so nothing is sent there (CTDB skips them too).
func Send(ifname string, addr netip.Addr) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("announce %s: %w", addr, err)
	}
	if ifi.Flags&net.FlagLoopback != 0 {
		return nil
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("announce %s on %s: %w", addr, ifname, ErrNotEthernet)
	}
	frames, err := Frames(ifi.HardwareAddr, addr)
	if err != nil {
		return fmt.Errorf("announce %s on %s: %w", addr, ifname, err)
	}
	if err := packetsock.Send(ifi.Index, frames...); err != nil {
		return fmt.Errorf("announce %s on %s: %w", addr, ifname, err)
	}
	return nil
}

// Frames returns the frames that announce addr at hw, in sending order.
func Frames(hw net.HardwareAddr, addr netip.Addr) ([][]byte, error) {
	addr = addr.Unmap()
	if addr.Is4() {
		req, err := netpacket.GratuitousARP(hw, addr, false)
		if err != nil {
			return nil, err
		}
		reply, err := netpacket.GratuitousARP(hw, addr, true)
		if err != nil {
			return nil, err
		}
		return [][]byte{req, reply}, nil
	}
	na, err := netpacket.UnsolicitedNA(hw, addr.WithZone(""))
	if err != nil {
		return nil, err
	}
	return [][]byte{na}, nil
}
