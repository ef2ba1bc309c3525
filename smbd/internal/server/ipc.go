package server

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"
	"sync"

	"gctdb/smbd/internal/wire"
)

// pipe is an open named pipe on IPC$ carrying DCE/RPC ([C706], [MS-RPCE]).
// Only srvsvc's NetShareEnumAll is served: enough for share browsing.
type pipe struct {
	name  string
	mu    sync.Mutex
	out   []byte // response bytes not yet read by the client
	bound bool
}

var (
	uuidSrvsvc = []byte{0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88}
	uuidNDR    = []byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60}
)

const (
	rpcRequest  = 0
	rpcResponse = 2
	rpcFault    = 3
	rpcBind     = 11
	rpcBindAck  = 12
	rpcAlter    = 14
	rpcAlterRsp = 15

	ncaOpRangeError = 0x1c010002
	ncaProtoError   = 0x1c01000b

	fsctlPipeTransceive = 0x0011C017
	fsctlPipeWait       = 0x00110018
)

func (c *conn) createPipe(r *request, req *wire.CreateRequest) wire.Status {
	name, err := wire.DecodeUTF16(req.NameRaw)
	if err != nil {
		return wire.StatusObjectNameInvalid
	}
	name = strings.ToLower(strings.TrimPrefix(name, "\\"))
	if name != "srvsvc" {
		return wire.StatusObjectNameNotFound
	}
	o := &open{tree: r.tree, sess: r.sess, access: mapGenericAccess(req.DesiredAccess), pipe: &pipe{name: name}}
	c.srv.registerOpen(o)
	resp := wire.CreateResponse{
		CreateAction: wire.FileOpened,
		FileID:       o.id,
		Times:        wire.FileTimes{AllocationSize: 4096, Attributes: wire.AttrNormal},
	}
	r.out = wire.AppendCreateResponse(r.out, 0, &resp)
	r.ch.fileID = o.id
	return wire.StatusOK
}

// write feeds a client PDU to the pipe; its answer waits to be read.
func (c *conn) pipeWrite(p *pipe, in []byte) bool {
	out, ok := c.rpc(p, in)
	if ok {
		p.out = append(p.out, out...)
	}
	return ok
}

// take returns up to n pending bytes and whether more remain.
func (p *pipe) take(n int) ([]byte, bool) {
	n = min(n, len(p.out))
	data := append([]byte(nil), p.out[:n]...)
	p.out = p.out[n:]
	return data, len(p.out) > 0
}

func (c *conn) writePipe(r *request, o *open, req *wire.WriteRequest) wire.Status {
	p := o.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.pipeWrite(p, req.Data) {
		return wire.StatusInvalidParameter
	}
	r.out = wire.AppendWriteResponse(r.out, uint32(len(req.Data)))
	return wire.StatusOK
}

// pipeResult is OK, or BUFFER_OVERFLOW when data remains to be read.
func pipeResult(more bool) wire.Status {
	if more {
		return wire.StatusBufferOverflow
	}
	return wire.StatusOK
}

func (c *conn) readPipe(r *request, o *open, req *wire.ReadRequest) wire.Status {
	p := o.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.out) == 0 {
		return wire.StatusPipeEmpty
	}
	data, more := p.take(int(req.Length))
	r.out = wire.AppendReadResponseHeader(r.out, uint32(len(data)))
	r.out = append(r.out, data...)
	return pipeResult(more)
}

// transceivePipe handles FSCTL_PIPE_TRANSCEIVE: write then read.
func (c *conn) transceivePipe(r *request, o *open, req *wire.IoctlRequest) wire.Status {
	p := o.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if !c.pipeWrite(p, req.Input) {
		return wire.StatusInvalidParameter
	}
	data, more := p.take(int(req.MaxOutputResponse))
	r.out = wire.AppendIoctlResponse(r.out, req.CtlCode, o.id, nil, data)
	return pipeResult(more)
}

func (c *conn) queryPipeInfo(o *open, class uint8) (infoResult, wire.Status) {
	if class != wire.FileStandardInformation {
		return infoResult{}, wire.StatusInvalidParameter
	}
	b := le.AppendUint64(nil, 4096)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint32(b, 1)
	b = append(b, 1, 0)
	return fixedInfo(le.AppendUint16(b, 0))
}

// rpcHeader builds a DCE/RPC header; frag length is patched by finish.
func rpcHeader(ptype byte, callID uint32) []byte {
	b := []byte{5, 0, ptype, 0x03, 0x10, 0, 0, 0, 0, 0, 0, 0}
	return binary.LittleEndian.AppendUint32(b, callID)
}

func rpcFinish(b []byte) []byte {
	binary.LittleEndian.PutUint16(b[8:], uint16(len(b)))
	return b
}

// rpc processes one client PDU and returns the response PDU.
func (c *conn) rpc(p *pipe, in []byte) ([]byte, bool) {
	if len(in) < 16 || in[0] != 5 || in[4]&0xF0 != 0x10 {
		return nil, false
	}
	flen := int(binary.LittleEndian.Uint16(in[8:]))
	if flen > len(in) || flen < 16 {
		return nil, false
	}
	in = in[:flen]
	callID := binary.LittleEndian.Uint32(in[12:])
	switch in[2] {
	case rpcBind, rpcAlter:
		return c.rpcBind(p, in, callID)
	case rpcRequest:
		if !p.bound || len(in) < 24 {
			return rpcFaultPDU(callID, ncaProtoError), true
		}
		opnum := binary.LittleEndian.Uint16(in[22:])
		stub := in[24:]
		if authLen := int(binary.LittleEndian.Uint16(in[10:])); authLen > 0 {
			return rpcFaultPDU(callID, ncaProtoError), true
		}
		if opnum != 15 {
			return rpcFaultPDU(callID, ncaOpRangeError), true
		}
		out := c.srvsvcShareEnumAll(stub)
		b := rpcHeader(rpcResponse, callID)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(out)))
		b = append(b, 0, 0, 0, 0) // context id, cancel count, reserved
		b = append(b, out...)
		return rpcFinish(b), true
	}
	return rpcFaultPDU(callID, ncaProtoError), true
}

func rpcFaultPDU(callID, status uint32) []byte {
	b := rpcHeader(rpcFault, callID)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, status)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return rpcFinish(b)
}

func (c *conn) rpcBind(p *pipe, in []byte, callID uint32) ([]byte, bool) {
	if len(in) < 28 {
		return nil, false
	}
	maxXmit := binary.LittleEndian.Uint16(in[16:])
	maxRecv := binary.LittleEndian.Uint16(in[18:])
	n := int(in[24])
	ctxs := in[28:]
	ptype := byte(rpcBindAck)
	if in[2] == rpcAlter {
		ptype = rpcAlterRsp
	}
	b := rpcHeader(ptype, callID)
	b = binary.LittleEndian.AppendUint16(b, maxXmit)
	b = binary.LittleEndian.AppendUint16(b, maxRecv)
	b = binary.LittleEndian.AppendUint32(b, 0x12345)
	if ptype == rpcBindAck {
		addr := []byte("\\PIPE\\srvsvc\x00")
		b = binary.LittleEndian.AppendUint16(b, uint16(len(addr)))
		b = append(b, addr...)
	} else {
		b = binary.LittleEndian.AppendUint16(b, 0)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	b = append(b, byte(n), 0, 0, 0)
	for i := 0; i < n; i++ {
		if len(ctxs) < 4+20 {
			return nil, false
		}
		nts := int(ctxs[2])
		abstract := ctxs[4:24]
		if len(ctxs) < 24+20*nts {
			return nil, false
		}
		accepted := false
		if bytes.Equal(abstract[:16], uuidSrvsvc) {
			for t := 0; t < nts; t++ {
				ts := ctxs[24+20*t : 44+20*t]
				if bytes.Equal(ts[:16], uuidNDR) && binary.LittleEndian.Uint32(ts[16:]) == 2 && !accepted {
					accepted = true
				}
			}
		}
		if accepted {
			b = append(b, 0, 0, 0, 0)
			b = append(b, uuidNDR...)
			b = binary.LittleEndian.AppendUint32(b, 2)
			p.bound = true
		} else {
			b = binary.LittleEndian.AppendUint16(b, 2) // provider rejection
			b = binary.LittleEndian.AppendUint16(b, 2) // proposed transfer syntaxes not supported
			b = append(b, make([]byte, 20)...)
		}
		ctxs = ctxs[24+20*nts:]
	}
	return rpcFinish(b), true
}

// ndr is a tiny NDR writer with 4-byte alignment and referent ids.
type ndr struct {
	b   []byte
	ref uint32
}

func (w *ndr) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *ndr) ptr() {
	w.ref += 4
	w.u32(0x00020000 + w.ref)
}
func (w *ndr) str(s string) {
	u := wire.AppendUTF16(nil, s)
	u = append(u, 0, 0)
	w.u32(uint32(len(u) / 2))
	w.u32(0)
	w.u32(uint32(len(u) / 2))
	w.b = append(w.b, u...)
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

// srvsvcShareEnumAll answers srvsvc_NetShareEnumAll (opnum 15) for
// levels 0 and 1 ([MS-SRVS] §3.1.4.8).
func (c *conn) srvsvcShareEnumAll(stub []byte) []byte {
	level := uint32(1)
	// Skip the unique server name: referent id and, when present, the
	// conformant varying string.
	if len(stub) >= 4 {
		off := 4
		if binary.LittleEndian.Uint32(stub) != 0 && len(stub) >= 16 {
			n := int(binary.LittleEndian.Uint32(stub[12:]))
			off = 16 + 2*n
			off = (off + 3) &^ 3
		}
		if off+4 <= len(stub) && off >= 0 {
			level = binary.LittleEndian.Uint32(stub[off:])
		}
	}
	type ent struct {
		name, comment string
		typ           uint32
	}
	var shares []ent
	for _, sh := range c.srv.shares {
		if sh.pipe {
			shares = append(shares, ent{"IPC$", "IPC Service (" + c.srv.cfg.NetbiosName + ")", 3 | 0x80000000})
			continue
		}
		if !sh.cfg.Browseable {
			continue
		}
		shares = append(shares, ent{sh.cfg.Name, sh.cfg.Comment, 0})
	}
	sort.Slice(shares, func(i, j int) bool { return strings.ToLower(shares[i].name) < strings.ToLower(shares[j].name) })
	w := &ndr{}
	if level > 1 {
		w.u32(level)
		w.u32(level)
		w.u32(0)
		w.u32(0) // totalentries
		w.u32(0) // resume handle null
		w.u32(0x7c)
		return w.b
	}
	w.u32(level)
	w.u32(level)
	w.ptr() // ctr
	w.u32(uint32(len(shares)))
	w.ptr() // array
	w.u32(uint32(len(shares)))
	for _, s := range shares {
		w.ptr()
		if level == 1 {
			w.u32(s.typ)
			w.ptr()
		}
	}
	for _, s := range shares {
		w.str(s.name)
		if level == 1 {
			w.str(s.comment)
		}
	}
	w.u32(uint32(len(shares))) // totalentries
	w.ptr()                    // resume handle
	w.u32(0)
	w.u32(0) // WERR_OK
	return w.b
}
