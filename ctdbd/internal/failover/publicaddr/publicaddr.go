// Package publicaddr reads CTDB's public_addresses file: one public
// address per line as "IP/maskbits iface[,iface...]", IPv4 or IPv6, with
// blank lines and '#' comments. Parsing is strict: any malformed line,
// bad interface name or repeated address is an error naming file:line.
package publicaddr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Address is one configured public address.
type Address struct {
	// Prefix is the address with its netmask length; the host bits are
	// kept (10.0.0.5/24 stays 10.0.0.5/24).
	Prefix netip.Prefix
	// Interfaces lists the interfaces the address may be hosted on, in
	// the order given.
	Interfaces []string
}

// Addr returns the address without its mask.
func (a Address) Addr() netip.Addr { return a.Prefix.Addr() }

// String formats the address as a public_addresses line.
func (a Address) String() string {
	return a.Prefix.String() + " " + strings.Join(a.Interfaces, ",")
}

// Errors wrapped by *ParseError.
var (
	ErrSyntax           = errors.New("badly formed line")
	ErrBadAddress       = errors.New("invalid address")
	ErrMissingInterface = errors.New("no interface specified")
	ErrBadInterface     = errors.New("invalid interface name")
	ErrDuplicate        = errors.New("duplicate public IP address")
	ErrLineTooLong      = errors.New("line too long")
)

// ParseError locates an error in a public_addresses file.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

// MaxLineLength bounds a line; real lines are a few dozen bytes.
const MaxLineLength = 4096

// ifNameMax is IFNAMSIZ-1: the longest interface name Linux accepts.
const ifNameMax = 15

// ParseFile reads the named file. A missing file is reported with an error
// satisfying errors.Is(err, fs.ErrNotExist); a node without public
// addresses is the caller's decision.
func ParseFile(path string) ([]Address, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("public addresses: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads public addresses from r; name is used in error messages.
func Parse(r io.Reader, name string) ([]Address, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxLineLength)
	var out []Address
	firstSeen := make(map[netip.Addr]int)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		a, ok, err := parseLine(sc.Text())
		if err != nil {
			return nil, &ParseError{File: name, Line: lineNo, Err: err}
		}
		if !ok {
			continue
		}
		if first, dup := firstSeen[a.Addr()]; dup {
			return nil, &ParseError{File: name, Line: lineNo,
				Err: fmt.Errorf("%w '%s' (first on line %d)", ErrDuplicate, a.Addr(), first)}
		}
		firstSeen[a.Addr()] = lineNo
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = ErrLineTooLong
		}
		return nil, &ParseError{File: name, Line: lineNo + 1, Err: err}
	}
	return out, nil
}

// parseLine parses one line; ok is false for blank and comment lines.
func parseLine(line string) (a Address, ok bool, err error) {
	line = strings.TrimSuffix(line, "\r")
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	switch len(fields) {
	case 0:
		return Address{}, false, nil
	case 1:
		return Address{}, false, fmt.Errorf("%w for %s", ErrMissingInterface, fields[0])
	case 2:
	default:
		return Address{}, false, fmt.Errorf("%w: unexpected %q after the interfaces", ErrSyntax, fields[2])
	}

	if !strings.Contains(fields[0], "/") {
		return Address{}, false, fmt.Errorf("%w: %q has no netmask (want IP/maskbits)", ErrSyntax, fields[0])
	}
	prefix, err := netip.ParsePrefix(fields[0])
	if err != nil {
		return Address{}, false, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	a = Address{Prefix: prefix, Interfaces: strings.Split(fields[1], ",")}
	if err := Check(a); err != nil {
		return Address{}, false, err
	}
	return a, true, nil
}

// Check applies the rules of the file to an address from elsewhere
// (ctdb addip): a unicast address, not IPv4-mapped IPv6 (its mask would
// not fit the IPv4 address it stands for), and valid, distinct
// interface names.
func Check(a Address) error {
	addr := a.Addr()
	if !a.Prefix.IsValid() {
		return fmt.Errorf("%w: invalid prefix %s", ErrBadAddress, a.Prefix)
	}
	if addr.IsUnspecified() || addr.IsMulticast() {
		return fmt.Errorf("%w: %s is not a unicast address", ErrBadAddress, addr)
	}
	if addr.Is4In6() {
		return fmt.Errorf("%w: %s is IPv4-mapped; write the IPv4 address", ErrBadAddress, addr)
	}
	if len(a.Interfaces) == 0 {
		return fmt.Errorf("%w for %s", ErrMissingInterface, a.Prefix)
	}
	for i, name := range a.Interfaces {
		if err := checkInterfaceName(name); err != nil {
			return err
		}
		if slices.Contains(a.Interfaces[:i], name) {
			return fmt.Errorf("%w: %q listed twice", ErrBadInterface, name)
		}
	}
	return nil
}

// checkInterfaceName applies the kernel's rules for device names.
func checkInterfaceName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name in interface list", ErrBadInterface)
	case len(name) > ifNameMax:
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrBadInterface, name, ifNameMax)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrBadInterface, name)
	case strings.ContainsAny(name, "/:"):
		return fmt.Errorf("%w: %q contains '/' or ':'", ErrBadInterface, name)
	}
	return nil
}
