// Package killtcp kills established TCP connections to a public address,
// as CTDB's ctdb_killtcp does when an address is released: it sends each
// client a tickle ACK, captures the ACK the client answers with (which
// carries the client's real sequence numbers) and replies with a reset
// the client accepts. Unlike closing sockets, this also works for
// connections owned by other processes or already gone on this side.
package killtcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"gctdb/ctdbd/internal/failover/netpacket"
	"gctdb/ctdbd/internal/failover/packetsock"
	"gctdb/ctdbd/internal/failover/tcpconn"
	"gctdb/ctdbd/internal/failover/tickle"
)

// Defaults, CTDB's values.
const (
	DefaultRetryInterval = 100 * time.Millisecond
	DefaultMaxAttempts   = 50
	DefaultBatchSize     = 300
)

// ErrSurvivors is returned when connections are still alive after the
// last attempt.
var ErrSurvivors = errors.New("killtcp: connections survived all attempts")

// Options tune Kill. Zero values select the defaults.
type Options struct {
	// Interface is where the clients' answers arrive; empty captures on
	// every interface.
	Interface string
	// RetryInterval is the pause between rounds of tickles.
	RetryInterval time.Duration
	// MaxAttempts is the number of rounds before giving up.
	MaxAttempts int
	// BatchSize caps the tickles sent per round.
	BatchSize int
	Logger    *slog.Logger
}

// Result reports which connections were reset.
type Result struct {
	Killed    []tcpconn.Connection
	Remaining []tcpconn.Connection
}

type key struct{ client, server netip.AddrPort }

// keyOf identifies a connection the way captured segments show it:
// without zones, IPv4 clients of dual-stack sockets as plain IPv4.
func keyOf(client, server netip.AddrPort) key {
	c, s := client.Addr().WithZone(""), server.Addr().WithZone("")
	if c.Is4In6() && s.Is4In6() {
		c, s = c.Unmap(), s.Unmap()
	}
	return key{netip.AddrPortFrom(c, client.Port()), netip.AddrPortFrom(s, server.Port())}
}

// Kill resets the given connections and returns when all are reset, when
// MaxAttempts rounds have passed (ErrSurvivors) or when ctx is done. The
// raw sockets are opened in the calling thread's network namespace.
func Kill(ctx context.Context, conns []tcpconn.Connection, opts Options) (Result, error) {
	opts = withDefaults(opts)
	pending := make(map[key]tcpconn.Connection, len(conns))
	var order []key
	var servers []netip.Addr
	for _, c := range conns {
		k := keyOf(c.Client, c.Server)
		if _, dup := pending[k]; dup {
			continue
		}
		pending[k] = c
		order = append(order, k)
		if !slices.Contains(servers, k.server.Addr()) {
			servers = append(servers, k.server.Addr())
		}
	}
	var res Result
	if len(pending) == 0 {
		return res, nil
	}

	capture, err := packetsock.OpenCapture(opts.Interface, captureFilter(servers))
	if err != nil {
		return res, fmt.Errorf("killtcp: %w", err)
	}
	defer capture.Close()
	sender, err := tickle.Open()
	if err != nil {
		return res, fmt.Errorf("killtcp: %w", err)
	}
	defer sender.Close()

	readCtx, stopReading := context.WithCancel(ctx)
	segs := make(chan netpacket.TCPSegment, 64)
	readErr := make(chan error, 1)
	go func() {
		readErr <- readSegments(readCtx, capture, segs)
	}()
	defer func() {
		stopReading()
		<-readErr
	}()

	finish := func(err error) (Result, error) {
		for _, k := range order {
			if c, ok := pending[k]; ok {
				res.Remaining = append(res.Remaining, c)
			}
		}
		slices.SortFunc(res.Killed, tcpconn.Connection.Compare)
		slices.SortFunc(res.Remaining, tcpconn.Connection.Compare)
		return res, err
	}

	var lastSendErr error
	attempts := 0
	tickleRound := func() {
		attempts++
		sent := 0
		for _, k := range order {
			c, ok := pending[k]
			if !ok {
				continue
			}
			if err := sender.Tickle(c); err != nil {
				lastSendErr = err
				opts.Logger.Debug("tickle failed", "conn", c.String(), "err", err)
			}
			if sent++; sent >= opts.BatchSize {
				break
			}
		}
	}

	tickleRound()
	ticker := time.NewTicker(opts.RetryInterval)
	defer ticker.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return finish(ctx.Err())
		case err := <-readErr:
			readErr <- err // for the deferred join
			if err == nil {
				return finish(ctx.Err()) // the reader stopped because ctx is done
			}
			return finish(fmt.Errorf("killtcp: %w", err))
		case <-ticker.C:
			if attempts >= opts.MaxAttempts {
				err := fmt.Errorf("%w: %d of %d after %d attempts", ErrSurvivors, len(pending), len(order), attempts)
				if lastSendErr != nil {
					err = fmt.Errorf("%w (last send error: %v)", err, lastSendErr)
				}
				return finish(err)
			}
			tickleRound()
		case seg := <-segs:
			k := keyOf(seg.Src, seg.Dst)
			c, ok := pending[k]
			if !ok {
				continue
			}
			if seg.Flags&netpacket.TCPFlagRST != 0 {
				// The client does not know the connection (any more).
				opts.Logger.Debug("client reset the connection itself", "conn", c.String())
			} else {
				// The client's answer acknowledges what it has received:
				// that is the sequence number its reset must carry.
				if err := sender.Reset(c, seg.Ack, seg.Seq); err != nil {
					lastSendErr = err
					opts.Logger.Debug("reset failed", "conn", c.String(), "err", err)
					continue
				}
				opts.Logger.Debug("sent TCP RST to kill connection", "conn", c.String())
			}
			delete(pending, k)
			res.Killed = append(res.Killed, c)
		}
	}
	return finish(nil)
}

func withDefaults(o Options) Options {
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// readSegments forwards captured TCP segments that are not our own until
// ctx is done.
func readSegments(ctx context.Context, c *packetsock.Capture, out chan<- netpacket.TCPSegment) error {
	buf := make([]byte, snapLen)
	for {
		n, pkttype, err := c.Read(ctx, buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if pkttype == packetsock.PacketOutgoing {
			continue
		}
		seg, err := netpacket.ParseFrameTCP(buf[:n])
		if err != nil || isOwn(seg) {
			continue
		}
		select {
		case out <- seg:
		case <-ctx.Done():
			return nil
		}
	}
}

// isOwn recognises the segments we forge (CTDB's test): they matter when
// both ends of a connection are local, as on loopback.
func isOwn(s netpacket.TCPSegment) bool {
	return s.Window == netpacket.TickleWindow && (s.Flags&netpacket.TCPFlagRST != 0 || s.Seq == 0)
}
