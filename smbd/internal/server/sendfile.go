package server

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/wire"
)

// sendfileMin is the smallest READ served with sendfile(2); below it a
// copy through a buffer is as cheap as the extra system call.
const sendfileMin = 64 << 10

// fileTail is the data of a READ response that goes from the file to the
// socket by sendfile(2), without passing through user space.
type fileTail struct {
	f   *os.File
	off int64
	n   int
}

// canSendfile reports whether the answer to r can carry its data with
// sendfile: it is sent alone (not in a compound), unsigned and
// unencrypted, over TCP.
func (c *conn) canSendfile(r *request) bool {
	if _, ok := c.nc.(*net.TCPConn); !ok {
		return false
	}
	return r.lone && !r.ch.encrypted && c.responseSigner(r, wire.StatusOK) == nil
}

// sendWithFile writes msg followed by the tail's data as one frame. The
// frame length was fixed when msg was built; should the file have shrunk
// since, the missing bytes are sent as zeros so the stream stays framed
// (the client sees a short file's end as zeros rather than a broken
// connection; Samba does the same).
func (c *conn) sendWithFile(msg []byte, t *fileTail) error {
	pfx := wire.FramePrefix(len(msg) + t.n)
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	bufs := net.Buffers{pfx[:], msg}
	if _, err := bufs.WriteTo(c.nc); err != nil {
		return err
	}
	sent, err := sendfile(c.nc.(*net.TCPConn), t)
	if err != nil {
		return err
	}
	if sent < t.n {
		zeros := make([]byte, min(t.n-sent, 64<<10))
		for sent < t.n {
			k := min(len(zeros), t.n-sent)
			if _, err := c.nc.Write(zeros[:k]); err != nil {
				return err
			}
			sent += k
		}
	}
	return nil
}

// sendfile copies up to t.n bytes from t.f at t.off to the socket and
// returns how many it sent; fewer than t.n only at the file's end.
func sendfile(tc *net.TCPConn, t *fileTail) (int, error) {
	sc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fc, err := t.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	off := t.off
	sent := 0
	var serr error
	// The file's Read holds its descriptor open against a concurrent
	// CLOSE; the socket's Write waits in the poller while it is full.
	ferr := fc.Read(func(ffd uintptr) bool {
		werr := sc.Write(func(sfd uintptr) bool {
			for sent < t.n {
				k, err := unix.Sendfile(int(sfd), int(ffd), &off, t.n-sent)
				if k > 0 {
					sent += k
				}
				switch {
				case errors.Is(err, syscall.EAGAIN):
					return false
				case errors.Is(err, syscall.EINTR):
					continue
				case err != nil:
					serr = err
					return true
				case k == 0:
					return true // end of file
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
		return true
	})
	if serr == nil {
		serr = ferr
	}
	return sent, serr
}
