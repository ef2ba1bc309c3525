package server

import (
	"context"
	"os"
	"strings"
	"sync"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// open is one SMB open (a FileId).
type open struct {
	id     wire.FileID
	ref    state.OpenRef
	key    state.FileKey
	tree   *tree
	sess   *session
	isDir  bool
	access uint32
	share  uint32
	pipe   *pipe
	oplock uint8 // granted oplock level as of the last change by this process

	mu            sync.Mutex
	f             *os.File
	rel           string // share-relative path, "" for the root
	stream        string // named stream (its on-disk name), "" for the data
	deleteOnClose bool
	position      uint64
	dir           *dirCursor
	closed        bool
	hasLocks      bool
	pending       map[*asyncOp]struct{}
	watch         *notifyWatch
	writeTime     uint64 // sticky write time set by the client, 0 if none
}

func (o *open) name() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rel
}

func (o *open) setPosition(p uint64) {
	o.mu.Lock()
	o.position = p
	o.mu.Unlock()
}

func (o *open) fs() *vfs.FS { return o.tree.share.fs }

// lookupOpen resolves a FileId of a request, honouring the related
// compound handle, and checks it belongs to the request's session and tree.
func (r *request) lookupOpen(fid wire.FileID) (*open, wire.Status) {
	if fid == wire.RelatedFileID {
		if r.ch.fileID == (wire.FileID{}) {
			return nil, wire.StatusFileClosed
		}
		fid = r.ch.fileID
	}
	srv := r.c.srv
	srv.mu.Lock()
	o := srv.opens[fid.Volatile]
	srv.mu.Unlock()
	if o == nil || o.id.Persistent != fid.Persistent || o.sess != r.sess || o.tree != r.tree {
		return nil, wire.StatusFileClosed
	}
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return nil, wire.StatusFileClosed
	}
	r.ch.fileID = o.id
	return o, wire.StatusOK
}

// lookupDirOpen is lookupOpen for requests that need a directory.
func (r *request) lookupDirOpen(fid wire.FileID) (*open, wire.Status) {
	o, st := r.lookupOpen(fid)
	if st == wire.StatusOK && (o.pipe != nil || !o.isDir) {
		return nil, wire.StatusInvalidParameter
	}
	return o, st
}

func (srv *Server) registerOpen(o *open) {
	n := srv.nextOpen.Add(1)
	o.id = wire.FileID{Persistent: n, Volatile: n}
	o.ref = state.OpenRef{Node: srv.self.Node, Server: srv.self.Instance, OpenID: n}
	srv.mu.Lock()
	srv.opens[n] = o
	srv.mu.Unlock()
}

// closeOpen releases an open: pending requests (each answered with its
// cleanup status), share-mode entry, byte-range locks, delete on close and
// the descriptor.
func (srv *Server) closeOpen(ctx context.Context, o *open) (vfs.Info, bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return vfs.Info{}, false
	}
	o.closed = true
	ops := make([]*asyncOp, 0, len(o.pending))
	for op := range o.pending {
		ops = append(ops, op)
	}
	o.mu.Unlock()
	for _, op := range ops {
		op.cancel(op.cleanup)
		<-op.done
	}
	if o.watch != nil {
		srv.mu.Lock()
		n := srv.notify
		srv.mu.Unlock()
		if n != nil {
			n.remove(o.watch)
		}
	}
	srv.mu.Lock()
	delete(srv.opens, o.id.Volatile)
	for k, v := range srv.resumeKeys {
		if v == o {
			delete(srv.resumeKeys, k)
		}
	}
	srv.mu.Unlock()
	var info vfs.Info
	if o.f != nil {
		info, _ = vfs.Stat(o.f)
		if o.writeTime != 0 {
			info.LastWrite = o.writeTime
		}
	}
	if o.pipe != nil {
		return info, true
	}
	if o.hasLocks {
		if err := srv.cfg.Store.ModifyLocks(ctx, o.key, func(l *state.Locks) error {
			l.RemoveOpen(o.ref)
			return nil
		}); err != nil {
			srv.log.Warn("drop byte-range locks", "err", err)
		}
	}
	var deleteName string
	heldII := false
	err := srv.cfg.Store.ModifyShareModes(ctx, o.key, func(m *state.ShareModes) error {
		if e, ok := m.Remove(o.ref); ok {
			heldII = e.OplockLevel == oplockII
		}
		o.mu.Lock()
		if o.deleteOnClose {
			m.DeletePending = true
		}
		o.mu.Unlock()
		if m.DeletePending && len(m.Entries) == 0 {
			deleteName = o.name()
			m.DeletePending = false
		}
		return nil
	})
	if err != nil {
		srv.log.Warn("drop share-mode entry", "err", err)
	}
	if heldII {
		srv.adjustLevelII(ctx, o.key, -1)
	}
	if deleteName != "" && o.stream != "" {
		if err := vfs.RemoveStream(o.f, o.stream); err != nil {
			srv.log.Debug("delete stream on close", "name", deleteName, "err", err)
		}
	} else if deleteName != "" {
		if err := o.fs().Remove(deleteName, o.isDir); err != nil {
			srv.log.Debug("delete on close", "name", deleteName, "err", err)
		}
	}
	if o.f != nil {
		o.f.Close()
	}
	return info, true
}

// renameOpens updates the path of every local open at or below oldRel.
func (srv *Server) renameOpens(fs *vfs.FS, oldRel, newRel string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, o := range srv.opens {
		if o.tree.share.fs != fs {
			continue
		}
		o.mu.Lock()
		switch {
		case o.rel == oldRel:
			o.rel = newRel
		case strings.HasPrefix(o.rel, oldRel+"/"):
			o.rel = newRel + o.rel[len(oldRel):]
		}
		o.mu.Unlock()
	}
}
