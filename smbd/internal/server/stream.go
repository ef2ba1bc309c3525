package server

import (
	"hash/fnv"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// splitStream splits "name:stream[:$DATA]" into the base name and the
// stream name ("" for the unnamed data stream).
func splitStream(name string) (base, stream string, st wire.Status) {
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return name, "", wire.StatusOK
	}
	base, rest := name[:i], name[i+1:]
	stream, typ, hasType := strings.Cut(rest, ":")
	if hasType && !strings.EqualFold(typ, "$DATA") {
		return "", "", wire.StatusObjectNameInvalid
	}
	if strings.ContainsAny(stream, "\\/:") || len(stream) > vfs.MaxComponent {
		return "", "", wire.StatusObjectNameInvalid
	}
	if stream == "" && !hasType {
		return "", "", wire.StatusObjectNameInvalid
	}
	return base, stream, wire.StatusOK
}

// maxStreamSize bounds a named stream; the file system's xattr limit is
// usually lower still.
const maxStreamSize = 1 << 20

func streamKey(dev, ino uint64, stored string) state.FileKey {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(stored)))
	return state.FileKey{Dev: dev, Ino: ino, Stream: h.Sum64() | 1}
}

// createStream opens or creates a named stream of a file or directory.
func (c *conn) createStream(r *request, req *wire.CreateRequest, rel, stream string, baseExists bool) wire.Status {
	fs := r.tree.share.fs
	disp := req.CreateDisposition
	opts := req.CreateOptions
	if opts&wire.OptDirectoryFile != 0 {
		return wire.StatusNotADirectory
	}
	if !baseExists {
		if disp == wire.FileOpen || disp == wire.FileOverwrite {
			return wire.StatusObjectNameNotFound
		}
		if r.tree.readOnly {
			return wire.StatusAccessDenied
		}
		f, err := fs.CreateFile(rel, 0o644)
		if err != nil {
			return statusOf(err)
		}
		vfs.SetMeta(f, vfs.Meta{Attrs: wire.AttrArchive, Creation: vfs.FileTime(time.Now()), Owner: c.srv.ownerSID(r.sess)})
		f.Close()
	}
	f, err := fs.OpenFile(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return statusOf(err)
	}
	info, err := vfs.Stat(f)
	if err != nil {
		f.Close()
		return statusOf(err)
	}
	data, stored, exists, err := vfs.GetStream(f, stream)
	if err != nil {
		f.Close()
		return statusOf(err)
	}
	action := wire.FileOpened
	switch {
	case exists && disp == wire.FileCreate:
		f.Close()
		return wire.StatusObjectNameCollision
	case !exists && (disp == wire.FileOpen || disp == wire.FileOverwrite):
		f.Close()
		return wire.StatusObjectNameNotFound
	case !exists:
		stored, action, data = stream, wire.FileCreated, nil
	case disp == wire.FileOverwrite || disp == wire.FileOverwriteIf || disp == wire.FileSupersede:
		action, data = wire.FileOverwritten, nil
	}
	access := mapGenericAccess(req.DesiredAccess)
	maxAccess := r.tree.maxAccess
	if access&wire.MaximumAllowed != 0 {
		access |= maxAccess
	}
	access &^= wire.MaximumAllowed
	if access&^maxAccess != 0 || (action != wire.FileOpened && r.tree.readOnly) {
		f.Close()
		return wire.StatusAccessDenied
	}
	o := &open{tree: r.tree, sess: r.sess, share: req.ShareAccess, rel: rel, stream: stored, access: access, f: f,
		key: streamKey(info.Dev, info.Ino, stored)}
	if opts&wire.OptDeleteOnClose != 0 {
		if access&wire.Delete == 0 {
			f.Close()
			return wire.StatusAccessDenied
		}
		o.deleteOnClose = true
	}
	c.srv.registerOpen(o)
	entry := state.ShareEntry{Open: o.ref, Access: access, ShareAccess: req.ShareAccess}
	if state.IsStatOpen(access) {
		entry.Flags |= state.ShareFlagStatOpen
	}
	err = c.srv.cfg.Store.ModifyShareModes(r.ctx, o.key, func(m *state.ShareModes) error {
		if m.DeletePending {
			return wire.StatusDeletePending
		}
		if m.Conflicts(access, req.ShareAccess) {
			return wire.StatusSharingViolation
		}
		m.Name = rel + ":" + stored
		m.Entries = append(m.Entries, entry)
		return nil
	})
	if err != nil {
		c.srv.mu.Lock()
		delete(c.srv.opens, o.id.Volatile)
		c.srv.mu.Unlock()
		f.Close()
		return statusOf(err)
	}
	if action != wire.FileOpened {
		if err := vfs.PutStream(f, stored, data); err != nil {
			c.srv.closeOpen(r.ctx, o)
			return statusOf(err)
		}
	}
	info.Size = uint64(len(data))
	info.Allocation = (info.Size + 4095) &^ 4095
	info.Attrs &^= wire.AttrDirectory
	if info.Attrs == 0 {
		info.Attrs = wire.AttrNormal
	}
	resp := wire.CreateResponse{CreateAction: action, FileID: o.id, Times: timesOf(&info)}
	r.out = wire.AppendCreateResponse(r.out, 0, &resp)
	r.ch.fileID = o.id
	return wire.StatusOK
}

// streamData returns the current contents of a stream open.
func (o *open) streamData() ([]byte, error) {
	data, _, ok, err := vfs.GetStream(o.f, o.stream)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, os.ErrNotExist
	}
	return data, nil
}

func (c *conn) readStream(r *request, o *open, req *wire.ReadRequest) wire.Status {
	data, err := o.streamData()
	if err != nil {
		return statusOf(err)
	}
	if req.Offset >= uint64(len(data)) {
		if req.Length == 0 {
			r.out = wire.AppendReadResponseHeader(r.out, 0)
			return wire.StatusOK
		}
		return wire.StatusEndOfFile
	}
	chunk := data[req.Offset:min(uint64(len(data)), req.Offset+uint64(req.Length))]
	if uint32(len(chunk)) < req.MinimumCount {
		return wire.StatusEndOfFile
	}
	r.out = wire.AppendReadResponseHeader(r.out, uint32(len(chunk)))
	r.out = append(r.out, chunk...)
	return wire.StatusOK
}

func (c *conn) writeStream(r *request, o *open, off uint64, p []byte) (int, error) {
	data, err := o.streamData()
	if err != nil {
		return 0, err
	}
	end := off + uint64(len(p))
	if end > maxStreamSize {
		return 0, unix.ENOSPC
	}
	if end > uint64(len(data)) {
		data = append(data, make([]byte, end-uint64(len(data)))...)
	}
	copy(data[off:], p)
	return len(p), vfs.PutStream(o.f, o.stream, data)
}

func (o *open) truncateStream(size uint64) error {
	data, err := o.streamData()
	if err != nil {
		return err
	}
	if size > maxStreamSize {
		return unix.ENOSPC
	}
	if size <= uint64(len(data)) {
		data = data[:size]
	} else {
		data = append(data, make([]byte, size-uint64(len(data)))...)
	}
	return vfs.PutStream(o.f, o.stream, data)
}

// appendStreamInfo encodes FILE_STREAM_INFORMATION for a file or directory.
func appendStreamInfo(f *os.File, in *vfs.Info) ([]byte, error) {
	streams, err := vfs.ListStreams(f)
	if err != nil {
		return nil, err
	}
	type entry struct {
		name       string
		size, allo uint64
	}
	var list []entry
	if !in.IsDir {
		list = append(list, entry{"::$DATA", in.Size, in.Allocation})
	}
	for _, s := range streams {
		n := uint64(len(s.Value))
		list = append(list, entry{":" + s.Name + ":$DATA", n, (n + 4095) &^ 4095})
	}
	return wire.AppendChained(nil, len(list), 8, func(b []byte, i int) []byte {
		e := list[i]
		name := wire.AppendUTF16(nil, e.name)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(len(name)))
		b = le.AppendUint64(b, e.size)
		b = le.AppendUint64(b, e.allo)
		return append(b, name...)
	}), nil
}

// readAt reads from the open's data: the file or its named stream.
func (o *open) readAt(p []byte, off int64) (int, error) {
	if o.stream == "" {
		return o.f.ReadAt(p, off)
	}
	data, err := o.streamData()
	if err != nil {
		return 0, err
	}
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	return copy(p, data[off:]), nil
}

// size is the length of the open's data.
func (o *open) size() (int64, error) {
	if o.stream == "" {
		fi, err := o.f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	data, err := o.streamData()
	return int64(len(data)), err
}
