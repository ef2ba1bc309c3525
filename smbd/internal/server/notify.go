package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/wire"
)

// CHANGE_NOTIFY is served with inotify: a change under a watched
// directory completes the pending request with STATUS_NOTIFY_ENUM_DIR,
// which tells the client to re-read the directory ([MS-SMB2] §3.3.5.19
// allows it for any overflow). Changes made on other nodes reach the
// watch only through the shared file system.
const (
	notifyWatchTree = 0x0001
	// maxNotifyDirs bounds the inotify watches one recursive request adds.
	maxNotifyDirs = 1024
	inotifyMask   = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MODIFY | unix.IN_ATTRIB |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_CLOSE_WRITE
)

// notifier owns one inotify instance and its reader goroutine.
type notifier struct {
	fd   int
	file *os.File // the non-blocking fd under the runtime poller, so Close ends a pending Read
	mu   sync.Mutex
	wds  map[int32]map[*notifyWatch]struct{}
	done chan struct{}
}

// notifyWatch is the watch state of one directory open.
type notifyWatch struct {
	wds     []int32
	mu      sync.Mutex
	changed bool          // a change happened that no request reported yet
	signal  chan struct{} // poked on change
}

func newNotifier() (*notifier, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	n := &notifier{fd: fd, file: os.NewFile(uintptr(fd), "inotify"), wds: map[int32]map[*notifyWatch]struct{}{}, done: make(chan struct{})}
	go n.run()
	return n, nil
}

func (n *notifier) run() {
	defer close(n.done)
	buf := make([]byte, 64<<10)
	for {
		k, err := n.file.Read(buf)
		if err != nil || k <= 0 {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= k; {
			wd := int32(le.Uint32(buf[off:]))
			nameLen := int(le.Uint32(buf[off+12:]))
			off += unix.SizeofInotifyEvent + nameLen
			n.mu.Lock()
			for w := range n.wds[wd] {
				w.poke()
			}
			n.mu.Unlock()
		}
	}
}

// close stops the reader and joins it.
func (n *notifier) close() {
	n.file.Close()
	<-n.done
}

func (w *notifyWatch) poke() {
	w.mu.Lock()
	w.changed = true
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// take reports and clears a buffered change.
func (w *notifyWatch) take() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.changed
	w.changed = false
	return c
}

func (n *notifier) add(dir *os.File, recursive bool) (*notifyWatch, error) {
	w := &notifyWatch{signal: make(chan struct{}, 1)}
	paths := []string{"/proc/self/fd/" + strconv.Itoa(int(dir.Fd()))}
	if recursive {
		root := paths[0]
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || p == root {
				return nil
			}
			if d.IsDir() && d.Type()&os.ModeSymlink == 0 {
				if len(paths) >= maxNotifyDirs {
					return filepath.SkipAll
				}
				paths = append(paths, p)
			}
			return nil
		})
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range paths {
		wd, err := unix.InotifyAddWatch(n.fd, p, inotifyMask|unix.IN_ONLYDIR)
		if err != nil {
			if p == paths[0] {
				n.removeLocked(w)
				return nil, err
			}
			continue
		}
		if n.wds[int32(wd)] == nil {
			n.wds[int32(wd)] = map[*notifyWatch]struct{}{}
		}
		n.wds[int32(wd)][w] = struct{}{}
		w.wds = append(w.wds, int32(wd))
	}
	return w, nil
}

func (n *notifier) remove(w *notifyWatch) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(w)
}

func (n *notifier) removeLocked(w *notifyWatch) {
	for _, wd := range w.wds {
		set := n.wds[wd]
		delete(set, w)
		if len(set) == 0 {
			delete(n.wds, wd)
			// Several opens of one directory share a wd; only the last
			// one drops it.
			unix.InotifyRmWatch(n.fd, uint32(wd))
		}
	}
	w.wds = nil
}

func (srv *Server) getNotifier() (*notifier, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.notify != nil {
		return srv.notify, nil
	}
	if srv.closing {
		return nil, errors.New("server: shutting down")
	}
	n, err := newNotifier()
	if err != nil {
		return nil, err
	}
	srv.notify = n
	return n, nil
}

func (c *conn) handleChangeNotify(r *request) wire.Status {
	req, err := wire.ParseChangeNotify(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupDirOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if o.access&wire.FileReadData == 0 {
		return wire.StatusAccessDenied
	}
	if req.OutputBufferLength > c.srv.cfg.MaxIOSize {
		return wire.StatusInvalidParameter
	}
	n, err := c.srv.getNotifier()
	if err != nil {
		return wire.StatusInsufficientResources
	}
	o.mu.Lock()
	w := o.watch
	if w == nil {
		if w, err = n.add(o.f, req.Flags&notifyWatchTree != 0); err != nil {
			o.mu.Unlock()
			return statusOf(err)
		}
		o.watch = w
	}
	o.mu.Unlock()
	if w.take() {
		return wire.StatusNotifyEnumDir
	}
	return r.goAsync(o, func(ctx context.Context, cancelled <-chan wire.Status) (wire.Status, []byte) {
		select {
		case st := <-cancelled:
			return st, nil
		case <-ctx.Done():
			return wire.StatusCancelled, nil
		case <-w.signal:
			w.take()
			return wire.StatusNotifyEnumDir, nil
		}
	}, wire.StatusNotifyCleanup)
}
