package server

import (
	"crypto/rand"
	"encoding/binary"
	"io"

	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// FSCTL codes served.
const (
	fsctlValidateNegotiateInfo = 0x00140204
	fsctlRequestResumeKey      = 0x00140078
	fsctlCopyChunk             = 0x001440F2
	fsctlCopyChunkWrite        = 0x001480F2
	fsctlCreateOrGetObjectID   = 0x000900C0
	fsctlDFSGetReferrals       = 0x00060194
	fsctlDFSGetReferralsEx     = 0x000601B0

	fsctlGetCompression        = 0x0009003C
	fsctlSetCompression        = 0x0009C040
	fsctlQueryNetworkIfaceInfo = 0x001401FC

	statusFSDriverRequired wire.Status = 0xC000019C
	statusInvalidViewSize  wire.Status = 0xC000001F
)

// Server-side copy limits ([MS-SMB2] §3.3.3: ServerSideCopyMax*).
const (
	copyMaxChunks     = 256
	copyMaxChunkBytes = 1 << 20
	copyMaxTotalBytes = 16 << 20
)

func (c *conn) handleIoctl(r *request) wire.Status {
	req, err := wire.ParseIoctl(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if req.Flags != wire.IoctlIsFsctl {
		return wire.StatusNotSupported
	}
	if req.MaxOutputResponse > c.srv.cfg.MaxIOSize || req.MaxInputResponse > c.srv.cfg.MaxIOSize {
		return wire.StatusInvalidParameter
	}
	switch req.CtlCode {
	case fsctlValidateNegotiateInfo:
		return c.validateNegotiate(r, req)
	case fsctlDFSGetReferrals, fsctlDFSGetReferralsEx:
		return statusFSDriverRequired
	case fsctlPipeWait:
		if !r.tree.share.pipe {
			return wire.StatusInvalidDeviceRequest
		}
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, req.FileID, nil, nil)
		return wire.StatusOK
	}
	o, st := r.lookupOpen(req.FileID)
	if st != wire.StatusOK {
		return st
	}
	switch req.CtlCode {
	case fsctlPipeTransceive:
		if o.pipe == nil {
			return wire.StatusInvalidDeviceRequest
		}
		return c.transceivePipe(r, o, req)
	case fsctlRequestResumeKey:
		if o.pipe != nil {
			return wire.StatusInvalidDeviceRequest
		}
		if req.MaxOutputResponse < 32 {
			return wire.StatusInvalidParameter
		}
		key := c.srv.resumeKey(o)
		out := append(key[:], make([]byte, 8)...)
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, o.id, nil, out)
		return wire.StatusOK
	case fsctlCopyChunk, fsctlCopyChunkWrite:
		return c.copyChunk(r, o, req)
	case fsctlGetCompression:
		if o.pipe != nil {
			return wire.StatusInvalidDeviceRequest
		}
		if req.MaxOutputResponse < 2 {
			return wire.StatusInvalidParameter
		}
		// COMPRESSION_FORMAT_NONE: compression is not supported.
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, o.id, nil, []byte{0, 0})
		return wire.StatusOK
	case fsctlSetCompression:
		if o.pipe != nil {
			return wire.StatusInvalidDeviceRequest
		}
		if len(req.Input) < 2 {
			return wire.StatusInvalidParameter
		}
		if le.Uint16(req.Input) != 0 {
			return wire.StatusNotSupported
		}
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, o.id, nil, nil)
		return wire.StatusOK
	case fsctlCreateOrGetObjectID:
		if o.pipe != nil {
			return wire.StatusInvalidDeviceRequest
		}
		if req.MaxOutputResponse < 64 {
			return wire.StatusBufferTooSmall
		}
		in, err := vfs.Stat(o.f)
		if err != nil {
			return statusOf(err)
		}
		// ObjectId and BirthObjectId: the file's inode and volume,
		// stable for the file's life and the same on every node.
		id := binary.LittleEndian.AppendUint64(nil, in.Ino)
		id = binary.LittleEndian.AppendUint64(id, in.Dev)
		out := append(append([]byte{}, id...), make([]byte, 16)...)
		out = append(append(out, id...), make([]byte, 16)...)
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, o.id, nil, out)
		return wire.StatusOK
	}
	return wire.StatusNotSupported
}

func (c *conn) validateNegotiate(r *request, req *wire.IoctlRequest) wire.Status {
	if req.FileID != wire.RelatedFileID {
		return wire.StatusInvalidParameter
	}
	if c.dialect == wire.Dialect311 {
		return errDisconnectStatus
	}
	in := req.Input
	if len(in) < 24 {
		return errDisconnectStatus
	}
	caps := binary.LittleEndian.Uint32(in)
	var guid [16]byte
	copy(guid[:], in[4:20])
	secMode := binary.LittleEndian.Uint16(in[20:])
	n := int(binary.LittleEndian.Uint16(in[22:]))
	if len(in) < 24+2*n {
		return errDisconnectStatus
	}
	best := uint16(0)
	for i := 0; i < n; i++ {
		d := binary.LittleEndian.Uint16(in[24+2*i:])
		if d >= c.srv.cfg.MinDialect && d <= c.srv.cfg.MaxDialect && isKnownDialect(d) && d > best {
			best = d
		}
	}
	if caps != c.clientCaps || guid != c.clientGUID || secMode != c.clientSecMode || best != c.dialect {
		c.log.Warn("VALIDATE_NEGOTIATE_INFO mismatch, dropping connection")
		return errDisconnectStatus
	}
	if req.MaxOutputResponse < 24 {
		return wire.StatusInvalidParameter
	}
	out := binary.LittleEndian.AppendUint32(nil, c.serverCaps)
	out = append(out, c.srv.cfg.ServerGUID[:]...)
	out = binary.LittleEndian.AppendUint16(out, c.serverSecMode)
	out = binary.LittleEndian.AppendUint16(out, c.dialect)
	r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, req.FileID, nil, out)
	// Signed with the session key even if the client did not sign.
	r.forceSign = true
	return wire.StatusOK
}

// resumeKey returns (creating once) the 24-byte resume key of an open.
func (srv *Server) resumeKey(o *open) [24]byte {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for k, v := range srv.resumeKeys {
		if v == o {
			return k
		}
	}
	var k [24]byte
	binary.LittleEndian.PutUint64(k[:], o.id.Persistent)
	rand.Read(k[8:])
	srv.resumeKeys[k] = o
	return k
}

func copyChunkLimits() []byte {
	out := binary.LittleEndian.AppendUint32(nil, copyMaxChunks)
	out = binary.LittleEndian.AppendUint32(out, copyMaxChunkBytes)
	return binary.LittleEndian.AppendUint32(out, copyMaxTotalBytes)
}

func (c *conn) copyChunk(r *request, dst *open, req *wire.IoctlRequest) wire.Status {
	if dst.pipe != nil {
		return wire.StatusInvalidDeviceRequest
	}
	if req.MaxOutputResponse < 12 {
		return wire.StatusInvalidParameter
	}
	in := req.Input
	if len(in) < 32 {
		return wire.StatusInvalidParameter
	}
	var key [24]byte
	copy(key[:], in)
	count := int(binary.LittleEndian.Uint32(in[24:]))
	invalid := func() wire.Status {
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, dst.id, nil, copyChunkLimits())
		return wire.StatusInvalidParameter
	}
	if count > copyMaxChunks {
		return invalid()
	}
	if len(in) < 32+24*count {
		return wire.StatusInvalidParameter
	}
	type chunk struct {
		src, dst uint64
		n        uint32
	}
	chunks := make([]chunk, count)
	total := uint64(0)
	for i := range chunks {
		b := in[32+24*i:]
		chunks[i] = chunk{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint32(b[16:])}
		if chunks[i].n == 0 || chunks[i].n > copyMaxChunkBytes {
			return invalid()
		}
		total += uint64(chunks[i].n)
	}
	if total > copyMaxTotalBytes {
		return invalid()
	}
	c.srv.mu.Lock()
	src := c.srv.resumeKeys[key]
	c.srv.mu.Unlock()
	if src == nil || src.closed || src.sess != r.sess {
		return wire.StatusObjectNameNotFound
	}
	if src.isDir || dst.isDir {
		return wire.StatusInvalidDeviceRequest
	}
	if src.access&(wire.FileReadData|wire.FileExecute) == 0 {
		return wire.StatusAccessDenied
	}
	need := wire.FileWriteData
	if req.CtlCode == fsctlCopyChunk {
		need |= wire.FileReadData
	}
	if dst.access&need != need {
		return wire.StatusAccessDenied
	}
	var written, totalWritten uint32
	// Errors after the checks report how far the copy got.
	result := func(st wire.Status) wire.Status {
		out := binary.LittleEndian.AppendUint32(nil, written)
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = binary.LittleEndian.AppendUint32(out, totalWritten)
		r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, dst.id, nil, out)
		return st
	}
	buf := make([]byte, 0, copyMaxChunkBytes)
	for _, ch := range chunks {
		size, err := src.size()
		if err != nil {
			return result(statusOf(err))
		}
		if ch.src+uint64(ch.n) > uint64(size) {
			return result(statusInvalidViewSize)
		}
		if st := c.ioConflict(r, src, ch.src, uint64(ch.n), false); st != wire.StatusOK {
			return result(st)
		}
		if st := c.ioConflict(r, dst, ch.dst, uint64(ch.n), true); st != wire.StatusOK {
			return result(st)
		}
		data := buf[:ch.n]
		n, err := src.readAt(data, int64(ch.src))
		if err != nil && err != io.EOF {
			return result(statusOf(err))
		}
		if n < int(ch.n) {
			return result(statusInvalidViewSize)
		}
		if dst.stream != "" {
			_, err = c.writeStream(r, dst, ch.dst, data)
		} else {
			_, err = dst.f.WriteAt(data, int64(ch.dst))
		}
		if err != nil {
			return result(statusOf(err))
		}
		written++
		totalWritten += ch.n
	}
	return result(wire.StatusOK)
}
