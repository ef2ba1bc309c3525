package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"gctdb/ctdbd/internal/failover/announce"
	"gctdb/ctdbd/internal/failover/killtcp"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/ctdbd/internal/failover/tickle"
)

// Network is the failover service's access to the host's network: it
// finds which addresses are really configured, announces taken ones,
// tickles clients and kills connections. Addresses that 10.interface did
// not really configure (local daemons) are bookkeeping only, and nothing
// is sent for them.
type Network interface {
	// Present maps every address configured on a local interface to that
	// interface.
	Present() (map[netip.Addr]string, error)
	// Announce sends gratuitous ARP (IPv4) or an unsolicited neighbour
	// advertisement (IPv6) for addr on iface.
	Announce(iface string, addr netip.Addr) error
	// Tickle sends a tickle ACK to the client of each connection.
	Tickle(conns []tcpconn.Connection) error
	// Kill resets the connections, waiting at most until ctx ends.
	Kill(ctx context.Context, iface string, conns []tcpconn.Connection) error
	// Established lists the established connections to each address.
	Established(addrs []netip.Addr) (map[netip.Addr][]tcpconn.Connection, error)
}

// hostNetwork is Network on the real host.
type hostNetwork struct {
	log *slog.Logger

	mu     sync.Mutex
	sender *tickle.Sender
}

// NewHostNetwork returns the Network of the namespace the daemon runs in.
func NewHostNetwork(log *slog.Logger) Network { return &hostNetwork{log: log} }

func (h *hostNetwork) Present() (map[netip.Addr]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make(map[netip.Addr]string)
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue // the interface went away meanwhile
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				out[ip.Unmap()] = ifi.Name
			}
		}
	}
	return out, nil
}

func (h *hostNetwork) Announce(iface string, addr netip.Addr) error {
	return announce.Send(iface, addr)
}

func (h *hostNetwork) Tickle(conns []tcpconn.Connection) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sender == nil {
		s, err := tickle.Open()
		if err != nil {
			return err
		}
		h.sender = s
	}
	var errs []error
	for _, c := range conns {
		if err := h.sender.Tickle(c); err != nil {
			errs = append(errs, fmt.Errorf("tickle %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// killRounds bounds how long a release waits for clients to answer: a
// dead client must not hold the address up (CTDB waits up to 5 s).
const killRounds = 10

func (h *hostNetwork) Kill(ctx context.Context, iface string, conns []tcpconn.Connection) error {
	_, err := killtcp.Kill(ctx, conns, killtcp.Options{
		Interface:     iface,
		RetryInterval: killtcp.DefaultRetryInterval,
		MaxAttempts:   killRounds,
		Logger:        h.log,
	})
	return err
}

func (h *hostNetwork) Established(addrs []netip.Addr) (map[netip.Addr][]tcpconn.Connection, error) {
	return tcpconn.EstablishedTo(addrs)
}

// Close releases the raw sockets.
func (h *hostNetwork) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sender == nil {
		return nil
	}
	err := h.sender.Close()
	h.sender = nil
	return err
}

// announceRounds are when a taken address is announced and its clients
// tickled, after takeip: at once, and again for hosts that missed it
// (CTDB repeats three times, a second apart).
var announceRounds = []time.Duration{0, 250 * time.Millisecond, time.Second}
