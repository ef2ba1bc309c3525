package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Node is one entry of the nodes file.
type Node struct {
	// PNN is the node's number: its position among the file's non-blank
	// lines, from 0.
	PNN uint32
	// Addr is the node's private address; the zero Addr for a deleted
	// node.
	Addr netip.Addr
	// Deleted marks a line starting with '#': CTDB's way to remove a
	// node without renumbering the ones after it.
	Deleted bool
	// Line is the line of the file, from 1.
	Line int
}

// ReadNodes reads a nodes file. Unlike ctdb.conf it must exist.
func ReadNodes(path string) ([]Node, error) {
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("read nodes file: %w", err)
	}
	return ParseNodes(data, path)
}

// ParseNodes parses the text of a nodes file by CTDB 4.17's rules: one
// IPv4 or IPv6 address per line (no port, no zone), spaces and tabs
// around it ignored, blank lines skipped without taking a PNN, and every
// line whose first character is '#' a deleted node that keeps its PNN.
// CTDB has no comments in the nodes file: a "# comment" line is a deleted
// node too, so that PNNs match CTDB's for the same file.
//
// Two live nodes with the same address are an error (CTDB accepts them
// and then misbehaves), as is a file without any node.
func ParseNodes(data []byte, file string) ([]Node, error) {
	var (
		nodes []Node
		errs  []error
		seen  = map[netip.Addr]int{}
	)
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		text := bytes.TrimRight(raw, " \t\r")
		text = bytes.TrimLeft(text, " \t")
		if len(text) == 0 {
			continue
		}
		n := Node{PNN: uint32(len(nodes)), Line: line}
		if text[0] == '#' {
			n.Deleted = true
			nodes = append(nodes, n)
			continue
		}
		addr, err := netip.ParseAddr(string(text))
		if err != nil || addr.Zone() != "" {
			errs = append(errs, &ParseError{File: file, Line: line, Option: string(text),
				Err: fmt.Errorf("%w: not an IPv4 or IPv6 address", ErrInvalidValue)})
			continue
		}
		key := addr.Unmap()
		if prev, dup := seen[key]; dup {
			errs = append(errs, &ParseError{File: file, Line: line, Option: string(text),
				Err: fmt.Errorf("%w (also on line %d)", ErrDuplicateNode, prev)})
			continue
		}
		seen[key] = line
		n.Addr = addr
		nodes = append(nodes, n)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: %w", file, ErrNoNodes)
	}
	return nodes, nil
}

// FindPNN finds this node in the nodes file as CTDB does: by [cluster]
// node address when it is set, otherwise the first live node whose
// address is configured on this host (isLocal, see LocalAddrs).
func FindPNN(nodes []Node, nodeAddress netip.Addr, isLocal func(netip.Addr) bool) (uint32, error) {
	for _, n := range nodes {
		if n.Deleted {
			continue
		}
		if nodeAddress.IsValid() {
			if n.Addr.Unmap() == nodeAddress.Unmap() {
				return n.PNN, nil
			}
		} else if isLocal(n.Addr) {
			return n.PNN, nil
		}
	}
	if nodeAddress.IsValid() {
		return 0, fmt.Errorf("node address %s: %w", nodeAddress, ErrNodeNotFound)
	}
	return 0, fmt.Errorf("no address of the nodes file is on a local interface: %w", ErrNodeNotFound)
}

// LocalAddrs returns a predicate telling whether an address is
// configured on one of this host's interfaces.
func LocalAddrs() (func(netip.Addr) bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list interface addresses: %w", err)
	}
	local := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().Unmap()] = true
		}
	}
	return func(a netip.Addr) bool { return local[a.Unmap()] }, nil
}
