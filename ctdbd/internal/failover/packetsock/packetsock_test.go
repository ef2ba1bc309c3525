package packetsock

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"

	"gctdb/tests/cluster/netns"
)

// etherTypeFilter accepts frames of one EtherType.
func etherTypeFilter(etype uint32) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: etype, SkipFalse: 1},
		bpf.RetConstant{Val: 256},
		bpf.RetConstant{Val: 0},
	}
}

func frame(dst, src net.HardwareAddr, etype uint16, payload string) []byte {
	f := make([]byte, 14, 60)
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], etype)
	f = append(f, payload...)
	return f[:60]
}

func TestSendAndCapture(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "198.18.0.1/24", b, "198.18.0.2/24", "veth0")
	hwA, hwB := a.HardwareAddr(t, "veth0"), b.HardwareAddr(t, "veth0")

	var capB *Capture
	require.NoError(t, b.Do(func() (err error) {
		capB, err = OpenCapture("veth0", etherTypeFilter(0x88b5)) // local experimental EtherType
		return err
	}))
	defer capB.Close()

	var ifindexA int
	require.NoError(t, a.Do(func() error {
		ifi, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		ifindexA = ifi.Index
		// Filtered out on the receiving side, then the one we wait for.
		return Send(ifindexA,
			frame(hwB, hwA, 0x88b6, "other"),
			frame(hwB, hwA, 0x88b5, "hello"))
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 1500)
	for {
		n, pkttype, err := capB.Read(ctx, buf)
		require.NoError(t, err)
		if binary.BigEndian.Uint16(buf[12:]) != 0x88b5 {
			t.Fatalf("filter let through EtherType %#x", binary.BigEndian.Uint16(buf[12:]))
		}
		assert.Equal(t, uint8(PacketHost), pkttype)
		assert.Equal(t, []byte(hwA), buf[6:12])
		assert.Equal(t, "hello", string(buf[14:19]))
		assert.Equal(t, 60, n)
		break
	}
}

func TestCaptureReadHonoursContext(t *testing.T) {
	a := netns.New(t)
	var c *Capture
	require.NoError(t, a.Do(func() (err error) {
		c, err = OpenCapture("lo", etherTypeFilter(0x88b5))
		return err
	}))
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx, make([]byte, 64))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Read(ctx, make([]byte, 64))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestSendRejectsShortFrame(t *testing.T) {
	a := netns.New(t)
	err := a.Do(func() error { return Send(1, []byte{1, 2, 3}) })
	assert.ErrorIs(t, err, ErrShortFrame)
}
