//go:build integration

package smb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
	"unicode/utf16"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/stretchr/testify/require"
)

// A minimal SMB 2.1 client, written from [MS-SMB2] for these tests so
// that they can hold opens and locks across nodes (smbclient cannot): one
// request at a time, raw NTLMSSP authentication (Azure/go-ntlmssp, an
// independent implementation), no signing.

// NT status codes the tests look at.
const (
	statusOK               uint32 = 0x00000000
	statusPending          uint32 = 0x00000103
	statusMoreProcessing   uint32 = 0xC0000016
	statusSharingViolation uint32 = 0xC0000043
	statusLockNotGranted   uint32 = 0xC0000055
)

const (
	cmdNegotiate    = 0x00
	cmdSessionSetup = 0x01
	cmdTreeConnect  = 0x03
	cmdCreate       = 0x05
	cmdClose        = 0x06
	cmdLock         = 0x0A
	cmdOplockBreak  = 0x12

	flagResponse = 0x1
	flagAsync    = 0x2

	headerSize    = 64
	breakNotifyID = ^uint64(0)
)

// Access, share and lock bits ([MS-SMB2] §2.2.13, §2.2.26.1).
const (
	accessRead  = 0x00120089 // FILE_GENERIC_READ
	accessWrite = 0x00120116 // FILE_GENERIC_WRITE
	shareRead   = 0x1
	shareWrite  = 0x2
	shareDelete = 0x4

	dispositionOpenIf = 3

	lockShared    = 0x1
	lockExclusive = 0x2
	lockUnlock    = 0x4
	lockFailNow   = 0x10

	oplockNone  = 0x00
	oplockBatch = 0x09
)

type smbClient struct {
	t       *testing.T
	conn    net.Conn
	br      *bufio.Reader
	mid     uint64
	session uint64
	tree    uint32
	breaks  []smbMsg // oplock break notifications read while waiting
}

type smbMsg struct {
	status  uint32
	cmd     uint16
	flags   uint32
	mid     uint64
	session uint64
	tree    uint32
	body    []byte
}

type fileID [16]byte

// dialSMB connects to addr:445, authenticates and connects to share.
func dialSMB(t *testing.T, addr, share, user, pass string) *smbClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "445"), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	c := &smbClient{t: t, conn: conn, br: bufio.NewReader(conn)}

	neg := make([]byte, 36)
	binary.LittleEndian.PutUint16(neg, 36)
	binary.LittleEndian.PutUint16(neg[2:], 1) // one dialect
	binary.LittleEndian.PutUint16(neg[4:], 1) // signing enabled, not required
	neg = binary.LittleEndian.AppendUint16(neg, 0x0210)
	m := c.call(cmdNegotiate, neg)
	require.Equal(t, statusOK, m.status, "negotiate")

	nego, err := ntlmssp.NewNegotiateMessage("", "")
	require.NoError(t, err)
	m = c.call(cmdSessionSetup, sessionSetupBody(nego))
	require.Equal(t, statusMoreProcessing, m.status, "session setup 1")
	c.session = m.session
	auth, err := ntlmssp.ProcessChallenge(securityBuffer(t, m.body), user, pass, false)
	require.NoError(t, err)
	m = c.call(cmdSessionSetup, sessionSetupBody(auth))
	require.Equal(t, statusOK, m.status, "session setup 2 (wrong user or password?)")

	path := utf16le(`\\` + addr + `\` + share)
	tc := make([]byte, 8)
	binary.LittleEndian.PutUint16(tc, 9)
	binary.LittleEndian.PutUint16(tc[4:], headerSize+8)
	binary.LittleEndian.PutUint16(tc[6:], uint16(len(path)))
	m = c.call(cmdTreeConnect, append(tc, path...))
	require.Equal(t, statusOK, m.status, "tree connect")
	c.tree = m.tree
	return c
}

func sessionSetupBody(token []byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint16(b, 25)
	b[3] = 1 // signing enabled
	binary.LittleEndian.PutUint16(b[12:], headerSize+24)
	binary.LittleEndian.PutUint16(b[14:], uint16(len(token)))
	return append(b, token...)
}

func securityBuffer(t *testing.T, body []byte) []byte {
	require.GreaterOrEqual(t, len(body), 8)
	off := int(binary.LittleEndian.Uint16(body[4:])) - headerSize
	n := int(binary.LittleEndian.Uint16(body[6:]))
	require.True(t, off >= 0 && off+n <= len(body), "security buffer out of the response")
	return body[off : off+n]
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// send writes one request and returns its message id.
func (c *smbClient) send(cmd uint16, body []byte) uint64 {
	h := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(h, 0x424D53FE)
	binary.LittleEndian.PutUint16(h[4:], headerSize)
	binary.LittleEndian.PutUint16(h[6:], 1) // credit charge
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint16(h[14:], 32) // credits asked for
	mid := c.mid
	c.mid++
	binary.LittleEndian.PutUint64(h[24:], mid)
	binary.LittleEndian.PutUint32(h[36:], c.tree)
	binary.LittleEndian.PutUint64(h[40:], c.session)
	msg := append(h, body...)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(append(frame, msg...))
	require.NoError(c.t, err)
	return mid
}

// read reads the next message; an error is a timeout or a closed
// connection.
func (c *smbClient) read(timeout time.Duration) (smbMsg, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	var pfx [4]byte
	if _, err := io.ReadFull(c.br, pfx[:]); err != nil {
		return smbMsg{}, err
	}
	n := binary.BigEndian.Uint32(pfx[:]) & 0xFFFFFF
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return smbMsg{}, err
	}
	if len(buf) < headerSize || binary.LittleEndian.Uint32(buf) != 0x424D53FE {
		return smbMsg{}, errors.New("not an SMB2 message")
	}
	return smbMsg{
		status:  binary.LittleEndian.Uint32(buf[8:]),
		cmd:     binary.LittleEndian.Uint16(buf[12:]),
		flags:   binary.LittleEndian.Uint32(buf[16:]),
		mid:     binary.LittleEndian.Uint64(buf[24:]),
		tree:    binary.LittleEndian.Uint32(buf[36:]),
		session: binary.LittleEndian.Uint64(buf[40:]),
		body:    buf[headerSize:],
	}, nil
}

// wait returns the final response to mid, skipping interim responses and
// keeping oplock break notifications.
func (c *smbClient) wait(mid uint64, timeout time.Duration) (smbMsg, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			return m, err
		}
		switch {
		case m.mid == breakNotifyID && m.cmd == cmdOplockBreak:
			c.breaks = append(c.breaks, m)
		case m.mid != mid:
			return m, fmt.Errorf("response to message %d while waiting for %d", m.mid, mid)
		case m.status == statusPending && m.flags&flagAsync != 0:
		default:
			return m, nil
		}
	}
}

func (c *smbClient) call(cmd uint16, body []byte) smbMsg {
	c.t.Helper()
	m, err := c.wait(c.send(cmd, body), 10*time.Second)
	require.NoError(c.t, err)
	return m
}

func createBody(name string, access, share uint32, oplock byte) []byte {
	n := utf16le(name)
	b := make([]byte, 56)
	binary.LittleEndian.PutUint16(b, 57)
	b[3] = oplock
	binary.LittleEndian.PutUint32(b[4:], 2) // impersonation
	binary.LittleEndian.PutUint32(b[24:], access)
	binary.LittleEndian.PutUint32(b[28:], 0x80) // FILE_ATTRIBUTE_NORMAL
	binary.LittleEndian.PutUint32(b[32:], share)
	binary.LittleEndian.PutUint32(b[36:], dispositionOpenIf)
	binary.LittleEndian.PutUint32(b[40:], 0x40) // FILE_NON_DIRECTORY_FILE
	binary.LittleEndian.PutUint16(b[44:], headerSize+56)
	binary.LittleEndian.PutUint16(b[46:], uint16(len(n)))
	return append(b, n...)
}

// sendCreate starts a CREATE (for opens that may have to wait).
func (c *smbClient) sendCreate(name string, access, share uint32, oplock byte) uint64 {
	return c.send(cmdCreate, createBody(name, access, share, oplock))
}

// createResult decodes a CREATE response.
func createResult(m smbMsg) (fileID, byte, uint32) {
	var id fileID
	if m.status == statusOK && len(m.body) >= 80 {
		copy(id[:], m.body[64:80])
		return id, m.body[2], m.status
	}
	return id, 0, m.status
}

func (c *smbClient) create(name string, access, share uint32, oplock byte) (fileID, byte, uint32) {
	c.t.Helper()
	return createResult(c.call(cmdCreate, createBody(name, access, share, oplock)))
}

func (c *smbClient) close(id fileID) uint32 {
	c.t.Helper()
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b, 24)
	return c.call(cmdClose, append(b, id[:]...)).status
}

func lockBody(id fileID, off, n uint64, flags uint32) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b, 48)
	binary.LittleEndian.PutUint16(b[2:], 1)
	b = append(b, id[:]...)
	b = binary.LittleEndian.AppendUint64(b, off)
	b = binary.LittleEndian.AppendUint64(b, n)
	b = binary.LittleEndian.AppendUint32(b, flags)
	return binary.LittleEndian.AppendUint32(b, 0)
}

func (c *smbClient) lock(id fileID, off, n uint64, flags uint32) uint32 {
	c.t.Helper()
	return c.call(cmdLock, lockBody(id, off, n, flags)).status
}

// sendLock starts a LOCK whose answer may take a while (blocking locks).
func (c *smbClient) sendLock(id fileID, off, n uint64, flags uint32) uint64 {
	return c.send(cmdLock, lockBody(id, off, n, flags))
}

// waitBreak returns the next oplock break notification: its file and
// the level it breaks to.
func (c *smbClient) waitBreak(timeout time.Duration) (fileID, byte, error) {
	if len(c.breaks) == 0 {
		m, err := c.read(timeout)
		if err != nil {
			return fileID{}, 0, err
		}
		if m.mid != breakNotifyID || m.cmd != cmdOplockBreak {
			return fileID{}, 0, fmt.Errorf("message %d (command %d) instead of an oplock break", m.mid, m.cmd)
		}
		c.breaks = append(c.breaks, m)
	}
	m := c.breaks[0]
	c.breaks = c.breaks[1:]
	var id fileID
	if len(m.body) < 24 {
		return id, 0, errors.New("short oplock break")
	}
	copy(id[:], m.body[8:24])
	return id, m.body[2], nil
}
