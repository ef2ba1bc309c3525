// Package netns creates throw-away network namespaces for tests that
// need real interfaces: each test gets its own namespaces, veth pairs and
// addresses (198.18.0.0/15 only), removed again in t.Cleanup. Tests skip
// when not run as root or when namespaces are unavailable.
package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// NS is a network namespace owned by one test.
type NS struct {
	Name string
}

// New creates a namespace with its loopback interface up, or skips the
// test if that is not possible here.
func New(t testing.TB) *NS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) to create network namespaces")
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: "gctdb-test-" + hex.EncodeToString(suffix)}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("remove namespace %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// IP runs "ip -n <ns> args..." and fails the test on error.
func (ns *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.ip(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (ns *NS) ip(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip -n %s %s: %w: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Do runs fn on an OS thread that has entered the namespace. Sockets
// opened by fn stay in the namespace after it returns. Goroutines started
// by fn do not inherit the namespace.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is only handed back to the scheduler if it is back in
		// its original namespace; otherwise it exits with this goroutine.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// HardwareAddr returns the MAC address of an interface in the namespace.
func (ns *NS) HardwareAddr(t testing.TB, ifname string) net.HardwareAddr {
	t.Helper()
	var hw net.HardwareAddr
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		hw = ifi.HardwareAddr
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return hw
}

// Veth connects two namespaces with a veth pair named ifname on both
// sides, gives each side its address (CIDR form, e.g. "198.18.0.1/24")
// and brings both up.
func Veth(t testing.TB, a *NS, addrA string, b *NS, addrB string, ifname string) {
	t.Helper()
	Pair(t, a, ifname, b, ifname)
	a.IP(t, "addr", "add", addrA, "dev", ifname)
	b.IP(t, "addr", "add", addrB, "dev", ifname)
	a.IP(t, "link", "set", ifname, "up")
	b.IP(t, "link", "set", ifname, "up")
	// Frames sent before the carrier is up are dropped.
	for _, ns := range []*NS{a, b} {
		ns.WaitUp(t, ifname)
	}
}

// Pair creates a veth pair between two namespaces, named nameA in a and
// nameB in b, both down and without addresses.
func Pair(t testing.TB, a *NS, nameA string, b *NS, nameB string) {
	t.Helper()
	a.IP(t, "link", "add", nameA, "type", "veth", "peer", "name", nameB, "netns", b.Name)
}

// WaitUp waits until an interface of the namespace has its carrier.
func (ns *NS) WaitUp(t testing.TB, ifname string) {
	t.Helper()
	require.Eventually(t, func() bool {
		out, err := ns.ip("-o", "link", "show", ifname)
		return err == nil && strings.Contains(out, "state UP")
	}, 5*time.Second, 5*time.Millisecond, "%s in %s did not come up", ifname, ns.Name)
}

// TCPPair opens a listener on listenAddr (for example "198.18.0.1:0") in
// server, connects to it from client and returns both ends; they are
// closed in t.Cleanup.
func TCPPair(t testing.TB, server *NS, listenAddr string, client *NS) (serverSide, clientSide *net.TCPConn) {
	t.Helper()
	return TCPPairVia(t, server, listenAddr, client, "", "")
}

// TCPPairVia is TCPPair with the client dialling dialHost (instead of the
// listener's address) from fromHost (instead of a kernel-chosen
// address); empty strings keep the defaults.
func TCPPairVia(t testing.TB, server *NS, listenAddr string, client *NS, dialHost, fromHost string) (serverSide, clientSide *net.TCPConn) {
	t.Helper()
	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp", listenAddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	target := ln.Addr().String()
	if dialHost != "" {
		target = net.JoinHostPort(dialHost, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if fromHost != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(fromHost)}
	}
	var c net.Conn
	if err := client.Do(func() (err error) {
		c, err = d.Dial("tcp", target)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}
