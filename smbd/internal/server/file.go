package server

import (
	"encoding/binary"
	"io"
	"math"

	"gctdb/smbd/internal/iobuf"
	"gctdb/smbd/internal/wire"
)

func (c *conn) handleClose(r *request) wire.Status {
	req, err := wire.ParseClose(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	info, ok := c.srv.closeOpen(r.ctx, o)
	if !ok {
		return wire.StatusFileClosed
	}
	if req.Flags&wire.ClosePostQueryAttrib != 0 && o.pipe == nil {
		t := timesOf(&info)
		r.out = wire.AppendCloseResponse(r.out, wire.ClosePostQueryAttrib, &t)
	} else {
		r.out = wire.AppendCloseResponse(r.out, 0, nil)
	}
	return wire.StatusOK
}

func (c *conn) handleFlush(r *request) wire.Status {
	req, err := wire.ParseFlush(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if o.access&(wire.FileWriteData|wire.FileAppendData) == 0 {
		return wire.StatusAccessDenied
	}
	if o.f != nil && !o.isDir {
		if err := o.f.Sync(); err != nil {
			return statusOf(err)
		}
	}
	r.out = wire.AppendSimpleBody(r.out)
	return wire.StatusOK
}

// ioConflict checks byte-range locks of other opens for a read or write.
func (c *conn) ioConflict(r *request, o *open, off, n uint64, write bool) wire.Status {
	if n == 0 {
		return wire.StatusOK
	}
	for attempt := 0; ; attempt++ {
		l, err := c.srv.cfg.Store.ReadLocks(r.ctx, o.key)
		if err != nil {
			return wire.StatusInternalError
		}
		if l.IOConflict(o.ref, off, n, write) {
			if attempt == 0 && c.srv.dropGoneOwners(r.ctx, o.key, l.Owners(c.srv.self)) {
				continue
			}
			return wire.StatusFileLockConflict
		}
		if write && l.LevelII > 0 {
			c.srv.breakLevelII(r.ctx, o)
		}
		return wire.StatusOK
	}
}

// breakIIOnWrite breaks other opens' level II oplocks before a change of
// the file that is not a WRITE (truncation).
func (c *conn) breakIIOnWrite(r *request, o *open) {
	if l, err := c.srv.cfg.Store.ReadLocks(r.ctx, o.key); err == nil && l.LevelII > 0 {
		c.srv.breakLevelII(r.ctx, o)
	}
}

func (c *conn) handleRead(r *request) wire.Status {
	req, err := wire.ParseRead(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if req.Length > c.srv.cfg.MaxIOSize || (c.dialect == wire.Dialect202 && req.Length > 65536) {
		return wire.StatusInvalidParameter
	}
	if o.pipe != nil {
		return c.readPipe(r, o, req)
	}
	if o.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	if o.access&(wire.FileReadData|wire.FileExecute) == 0 {
		return wire.StatusAccessDenied
	}
	if req.Offset > math.MaxInt64 || req.Offset+uint64(req.Length) > math.MaxInt64 {
		return wire.StatusInvalidParameter
	}
	if st := c.ioConflict(r, o, req.Offset, uint64(req.Length), false); st != wire.StatusOK {
		return st
	}
	if o.stream != "" {
		return c.readStream(r, o, req)
	}
	if req.Length >= sendfileMin && c.canSendfile(r) {
		return c.readToSendfile(r, o, req)
	}
	hdrLen := len(r.out)
	// 16 spare bytes let an encrypted answer be sealed in place.
	buf := iobuf.Get(hdrLen + wire.ReadResponseHeaderSize + int(req.Length) + 16)
	if len(buf) >= iobuf.Min {
		r.ch.release = append(r.ch.release, buf)
	}
	r.out = wire.AppendReadResponseHeader(append(buf[:0], r.out...), 0)
	data := r.out[len(r.out) : len(r.out)+int(req.Length)]
	n, err := o.f.ReadAt(data, int64(req.Offset))
	if err != nil && err != io.EOF {
		return statusOf(err)
	}
	if n == 0 && req.Length > 0 || uint32(n) < req.MinimumCount {
		return wire.StatusEndOfFile
	}
	r.out = r.out[:len(r.out)+n]
	binary.LittleEndian.PutUint32(r.out[hdrLen+4:], uint32(n))
	o.setPosition(req.Offset + uint64(n))
	return wire.StatusOK
}

// readToSendfile answers a READ with the data left in the file, to be
// sent by sendfile(2) after the response header.
func (c *conn) readToSendfile(r *request, o *open, req *wire.ReadRequest) wire.Status {
	fi, err := o.f.Stat()
	if err != nil {
		return statusOf(err)
	}
	n := uint64(0)
	if size := uint64(fi.Size()); req.Offset < size {
		n = min(uint64(req.Length), size-req.Offset)
	}
	if n == 0 && req.Length > 0 || uint32(n) < req.MinimumCount {
		return wire.StatusEndOfFile
	}
	r.out = wire.AppendReadResponseHeader(r.out, uint32(n))
	r.file = &fileTail{f: o.f, off: int64(req.Offset), n: int(n)}
	o.setPosition(req.Offset + n)
	return wire.StatusOK
}

// maxFileSize is the largest file offset Windows accepts for writes
// (MAXFILESIZE, [MS-FSA]).
const maxFileSize = 0xfffffff0000

func (c *conn) handleWrite(r *request) wire.Status {
	streamed := r.ch.stream
	var req *wire.WriteRequest
	var err error
	if streamed != nil {
		req, err = wire.ParseWriteHead(r.msg)
	} else {
		req, err = wire.ParseWrite(r.msg)
	}
	if err != nil {
		return wire.StatusInvalidParameter
	}
	size := len(req.Data)
	if streamed != nil {
		size = streamed.left
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	if uint32(size) > c.srv.cfg.MaxIOSize {
		return wire.StatusInvalidParameter
	}
	if streamed != nil && (o.pipe != nil || o.stream != "") {
		if req.Data, err = streamed.readAll(); err != nil {
			return errDisconnectStatus
		}
		streamed = nil
	}
	if o.pipe != nil {
		return c.writePipe(r, o, req)
	}
	if o.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	if o.access&(wire.FileWriteData|wire.FileAppendData) == 0 {
		return wire.StatusAccessDenied
	}
	off := req.Offset
	if off > math.MaxInt64 || size > 0 && off+uint64(size) > maxFileSize {
		return wire.StatusInvalidParameter
	}
	if st := c.ioConflict(r, o, off, uint64(size), true); st != wire.StatusOK {
		return st
	}
	var n int
	switch {
	case streamed != nil:
		n, err = streamed.writeTo(o.f, int64(off))
		if streamed.err != nil {
			return errDisconnectStatus
		}
	case o.stream != "":
		n, err = c.writeStream(r, o, off, req.Data)
	default:
		n, err = o.f.WriteAt(req.Data, int64(off))
	}
	if err != nil {
		return statusOf(err)
	}
	if req.Flags&0x1 != 0 { // SMB2_WRITEFLAG_WRITE_THROUGH
		o.f.Sync()
	}
	o.setPosition(off + uint64(n))
	r.out = wire.AppendWriteResponse(r.out, uint32(n))
	return wire.StatusOK
}
