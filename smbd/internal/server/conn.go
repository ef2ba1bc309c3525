package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"

	"gctdb/smbd/internal/iobuf"
	"gctdb/smbd/internal/smbcrypto"
	"gctdb/smbd/internal/wire"
)

// errDisconnect makes the connection drop instead of answering.
var errDisconnect = errors.New("server: protocol violation, disconnecting")

// conn is one client transport connection.
type conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger

	sendMu sync.Mutex

	// Negotiated parameters, written once by NEGOTIATE on the read loop.
	negotiated    bool
	dialect       uint16
	clientGUID    [16]byte
	clientSecMode uint16
	clientCaps    uint32
	serverCaps    uint32
	signingAlg    uint16
	cipher        uint16
	preauth       smbcrypto.PreauthHash
	serverSecMode uint16

	mu        sync.Mutex
	win       *seqWindow
	async     map[uint64]*asyncOp // by AsyncId
	asyncMID  map[uint64]*asyncOp // by MessageId
	nextAsync uint64
	sessions  map[uint64]*session // sessions bound to this connection

	ioSlots chan struct{} // bounds READs/WRITEs served concurrently
	ioWG    sync.WaitGroup
}

// maxParallelIO is how many READ/WRITE requests of one connection run at
// once.
const maxParallelIO = 4

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv:      s,
		nc:       nc,
		log:      s.log.With("client", nc.RemoteAddr().String()),
		win:      newSeqWindow(),
		async:    map[uint64]*asyncOp{},
		asyncMID: map[uint64]*asyncOp{},
		sessions: map[uint64]*session{},
		ioSlots:  make(chan struct{}, maxParallelIO),
	}
}

func (c *conn) serve(ctx context.Context) {
	defer c.cleanup(ctx)
	defer func() {
		// A bug must cost one connection, never the server.
		if p := recover(); p != nil {
			c.log.Error("connection handler panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	limit := int(c.srv.cfg.MaxIOSize) + 1<<20
	for {
		if n, ok := peekStreamableWrite(br, limit); ok {
			if err := c.serveStreamedWrite(ctx, br, n); err != nil {
				c.log.Debug("dropping connection", "err", err)
				return
			}
			continue
		}
		frame, err := wire.ReadFrame(br, limit)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				c.log.Debug("read", "err", err)
			}
			return
		}
		if err := c.handleFrame(ctx, frame); err != nil {
			c.log.Debug("dropping connection", "err", err)
			return
		}
	}
}

func (c *conn) cleanup(ctx context.Context) {
	c.nc.Close()
	c.ioWG.Wait()
	c.mu.Lock()
	ops := make([]*asyncOp, 0, len(c.async))
	for _, op := range c.async {
		ops = append(ops, op)
	}
	sessions := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	for _, op := range ops {
		op.cancel(wire.StatusCancelled)
		<-op.done
	}
	for _, s := range sessions {
		c.srv.logoff(ctx, s)
	}
}

// chain carries what related compound elements inherit.
type chain struct {
	sessionID uint64
	treeID    uint32
	fileID    wire.FileID
	chainErr  wire.Status // error later related elements inherit
	encrypted bool
	sess      *session      // session of the transform, for the response
	afterSend []func()      // async work to start once the responses are out
	release   [][]byte      // iobuf buffers to recycle once the responses are out
	stream    *streamedData // data of a WRITE still on the socket
}

// response is one built response element.
type response struct {
	buf    []byte // header + body
	sign   smbcrypto.Signer
	status wire.Status
	file   *fileTail // data sent from a file after buf (unsigned, unencrypted READ)
}

func (c *conn) handleFrame(ctx context.Context, frame []byte) error {
	if len(frame) < 4 {
		return errDisconnect
	}
	ch := &chain{}
	msg := frame
	switch binary.LittleEndian.Uint32(frame) {
	case wire.ProtocolTransform:
		var err error
		msg, ch.sess, err = c.decrypt(frame)
		if err != nil {
			return err
		}
		ch.encrypted = true
	case wire.ProtocolSMB2:
	case wire.ProtocolSMB1:
		if c.negotiated {
			return errDisconnect
		}
		return c.handleSMB1Negotiate(frame)
	default:
		return fmt.Errorf("%w: protocol %#x", errDisconnect, binary.LittleEndian.Uint32(frame))
	}
	elems, err := wire.SplitCompound(msg)
	if err != nil {
		return fmt.Errorf("%w: %v", errDisconnect, err)
	}
	if len(elems) == 1 && c.parallelIO(elems[0]) {
		// Lone READs and WRITEs run beside the read loop so a client's
		// outstanding I/O requests overlap; a failure drops the
		// connection by closing it.
		c.ioSlots <- struct{}{}
		c.ioWG.Add(1)
		go func() {
			defer c.ioWG.Done()
			defer func() { <-c.ioSlots }()
			if err := c.serveElements(ctx, ch, elems); err != nil {
				c.log.Debug("dropping connection", "err", err)
				c.nc.Close()
			}
			// READ and WRITE keep nothing of their request once answered.
			iobuf.Put(frame)
		}()
		return nil
	}
	return c.serveElements(ctx, ch, elems)
}

// parallelIO reports whether a lone request may be served concurrently
// with the following ones.
func (c *conn) parallelIO(el []byte) bool {
	if len(el) < wire.HeaderSize {
		return false
	}
	cmd := wire.Command(binary.LittleEndian.Uint16(el[12:]))
	return cmd == wire.CmdRead || cmd == wire.CmdWrite
}

func (c *conn) serveElements(ctx context.Context, ch *chain, elems [][]byte) error {
	var out []*response
	for i, el := range elems {
		r, err := c.processElement(ctx, ch, el, i, len(elems))
		if err != nil {
			return err
		}
		if r == nil {
			continue // CANCEL
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	err := c.sendResponses(out, ch)
	for _, b := range ch.release {
		iobuf.Put(b)
	}
	for _, f := range ch.afterSend {
		f()
	}
	return err
}

// sendResponses pads, signs, optionally encrypts and sends a compound.
func (c *conn) sendResponses(out []*response, ch *chain) error {
	var msg []byte
	if len(out) == 1 && out[0].file != nil {
		return c.sendWithFile(out[0].buf, out[0].file)
	}
	if len(out) == 1 {
		msg = out[0].buf
		if out[0].sign != nil && !ch.encrypted {
			out[0].sign.Sign(msg)
		}
	} else {
		total := 0
		for _, r := range out {
			total += (len(r.buf) + 7) &^ 7
		}
		msg = make([]byte, 0, total)
		for i, r := range out {
			start := len(msg)
			msg = append(msg, r.buf...)
			for (len(msg)-start)%8 != 0 {
				msg = append(msg, 0)
			}
			if i < len(out)-1 {
				wire.SetNextCommand(msg[start:], uint32(len(msg)-start))
			}
			if r.sign != nil && !ch.encrypted {
				r.sign.Sign(msg[start:])
			}
		}
	}
	return c.send(msg, ch)
}

// send frames (and encrypts when ch says so) and writes one message.
// Encryption happens in place when msg has 16 bytes of spare capacity
// for the tag.
func (c *conn) send(msg []byte, ch *chain) error {
	var th []byte
	if ch != nil && ch.encrypted && ch.sess != nil && ch.sess.enc != nil {
		th, msg = ch.sess.encrypt(msg)
	}
	pfx := wire.FramePrefix(len(th) + len(msg))
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	bufs := net.Buffers{pfx[:], th, msg}
	_, err := bufs.WriteTo(c.nc)
	return err
}

func (c *conn) decrypt(frame []byte) ([]byte, *session, error) {
	th, payload, err := wire.DecodeTransform(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errDisconnect, err)
	}
	if c.dialect < wire.Dialect300 || th.Flags != 1 {
		return nil, nil, errDisconnect
	}
	sess := c.srv.lookupSession(th.SessionID)
	if sess == nil || sess.dec == nil {
		return nil, nil, fmt.Errorf("%w: transform for unknown session %#x", errDisconnect, th.SessionID)
	}
	plain, err := sess.dec.Open(payload[:0], th.Nonce[:], payload, th.Signature, wire.TransformAAD(frame))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errDisconnect, err)
	}
	return plain, sess, nil
}

// needsTree lists commands that act on a tree connect.
var needsTree = [wire.NumCommands]bool{
	wire.CmdTreeDisconnect: true, wire.CmdCreate: true, wire.CmdClose: true, wire.CmdFlush: true,
	wire.CmdRead: true, wire.CmdWrite: true, wire.CmdLock: true, wire.CmdIoctl: true,
	wire.CmdQueryDirectory: true, wire.CmdChangeNotify: true, wire.CmdQueryInfo: true,
	wire.CmdSetInfo: true, wire.CmdOplockBreak: true,
}

// request is the context of one compound element being served.
type request struct {
	c         *conn
	ctx       context.Context
	hdr       wire.Header
	msg       []byte
	sess      *session
	tree      *tree
	ch        *chain
	signed    bool
	last      bool      // last element of its compound
	lone      bool      // the only element of its message
	file      *fileTail // READ data to send from the file
	out       []byte    // response: 64 bytes reserved for the header, then the body
	errData   []byte    // ErrorData of an error response
	respSess  uint64    // SessionId to answer with
	signWith  smbcrypto.Signer
	forceSign bool
	async     *asyncOp

	badSignature bool
	breakWait    any      // *breakWait: set by a CREATE that must wait for oplock breaks
	preauthFold  *session // 3.1.1: fold this interim SESSION_SETUP response into the session hash
}

func (c *conn) processElement(ctx context.Context, ch *chain, el []byte, idx, n int) (*response, error) {
	hdr, err := wire.DecodeHeader(el)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDisconnect, err)
	}
	if hdr.Flags&wire.FlagResponse != 0 {
		return nil, errDisconnect
	}
	if !c.negotiated && hdr.Command != wire.CmdNegotiate {
		return nil, errDisconnect
	}
	if hdr.Command == wire.CmdCancel {
		c.handleCancel(&hdr, el)
		return nil, nil
	}
	c.mu.Lock()
	ok := c.win.consume(hdr.MessageID, uint64(hdr.CreditCharge))
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: message id %d outside the window", errDisconnect, hdr.MessageID)
	}
	r := &request{c: c, ctx: ctx, hdr: hdr, msg: el, ch: ch, last: idx == n-1, lone: n == 1, signed: hdr.Flags&wire.FlagSigned != 0,
		out: make([]byte, wire.HeaderSize, 256)}
	related := hdr.Flags&wire.FlagRelated != 0
	status := wire.StatusOK
	if !related {
		// Only related elements may use the chained handle.
		ch.fileID = wire.FileID{}
	}
	switch {
	case related && idx == 0:
		status = wire.StatusInvalidParameter
		ch.chainErr = status
	case related && ch.chainErr != 0:
		status = ch.chainErr
	case related && ch.sessionID == 0:
		status = wire.StatusInvalidParameter
	case related:
		r.hdr.SessionID = ch.sessionID
		r.hdr.TreeID = ch.treeID
	}
	r.respSess = r.hdr.SessionID
	if status == wire.StatusOK && int(hdr.Command) >= wire.NumCommands {
		status = wire.StatusInvalidParameter
	}
	if status == wire.StatusOK {
		status = c.checkRequest(r)
		ch.sessionID = 0
		if r.sess != nil {
			ch.sessionID = r.sess.id
		}
		if needsTree[hdr.Command] {
			ch.treeID = 0
			if r.tree != nil {
				ch.treeID = r.tree.id
			}
		}
	}
	if status == wire.StatusOK {
		if _, err := wire.CheckBody(el, hdr.Command); err != nil || !c.chargeCovers(el, &hdr) {
			status = wire.StatusInvalidParameter
		} else {
			status = c.dispatch(r)
		}
	}
	if errors.Is(status, errDisconnectStatus) {
		return nil, errDisconnect
	}
	if hdr.Command == wire.CmdSessionSetup || hdr.Command == wire.CmdTreeConnect {
		// These create the ids later elements inherit.
		ch.sessionID = r.respSess
		if hdr.Command == wire.CmdTreeConnect && status == wire.StatusOK {
			ch.treeID = r.hdr.TreeID
		}
	}
	if hdr.Command == wire.CmdCreate && !(related && status == ch.chainErr && status != 0) {
		ch.chainErr = 0
		if status.IsError() {
			ch.chainErr = status
		}
	}
	if ch.sess == nil && r.sess != nil {
		ch.sess = r.sess
	}
	c.log.Debug("request", "cmd", hdr.Command, "mid", hdr.MessageID, "status", status)
	resp := c.buildResponse(r, status)
	if r.preauthFold != nil {
		r.preauthFold.preauth.Update(resp.buf)
	}
	if hdr.Command == wire.CmdNegotiate && status == wire.StatusOK && c.dialect == wire.Dialect311 {
		c.preauth.Update(resp.buf)
	}
	return resp, nil
}

// chargeCovers checks that a large request paid for its size with
// CreditCharge ([MS-SMB2] §3.3.5.2.5): one credit per 64 KiB of the
// larger of its payload and its expected response.
func (c *conn) chargeCovers(el []byte, h *wire.Header) bool {
	body := el[wire.HeaderSize:]
	var size uint32
	switch h.Command {
	case wire.CmdRead:
		size = le.Uint32(body[4:])
	case wire.CmdWrite:
		size = le.Uint32(body[4:])
	case wire.CmdIoctl:
		size = max(le.Uint32(body[28:]), le.Uint32(body[44:]))
	case wire.CmdQueryDirectory:
		size = le.Uint32(body[28:])
	case wire.CmdQueryInfo:
		size = max(le.Uint32(body[4:]), le.Uint32(body[12:]))
	case wire.CmdChangeNotify:
		size = le.Uint32(body[4:])
	default:
		return true
	}
	if c.dialect == wire.Dialect202 {
		return size <= 65536
	}
	need := (uint64(size) + 65535) / 65536
	return uint64(max(h.CreditCharge, 1)) >= need
}

// errDisconnectStatus is a pseudo status a handler returns to drop the
// connection (VALIDATE_NEGOTIATE mismatch, second NEGOTIATE).
const errDisconnectStatus wire.Status = 0xFFFFFFFF

// checkRequest looks up session and tree and enforces signing and
// encryption rules before dispatch.
func (c *conn) checkRequest(r *request) wire.Status {
	cmd := r.hdr.Command
	if cmd == wire.CmdNegotiate {
		if r.signed {
			return wire.StatusInvalidParameter
		}
		return wire.StatusOK
	}
	if r.hdr.SessionID != 0 {
		r.sess = c.srv.lookupSession(r.hdr.SessionID)
	}
	if r.sess == nil || (r.sess.conn != c) {
		r.sess = nil
		switch {
		case cmd == wire.CmdEcho:
			return wire.StatusOK
		case cmd == wire.CmdSessionSetup && r.hdr.SessionID == 0:
			return wire.StatusOK
		}
		return wire.StatusUserSessionDeleted
	}
	s := r.sess
	if r.signed && !r.ch.encrypted {
		if s.signer == nil {
			if cmd != wire.CmdSessionSetup {
				return wire.StatusAccessDenied
			}
		} else if err := s.signer.Verify(r.msg); err != nil {
			r.badSignature = true
			return wire.StatusAccessDenied
		}
	}
	if cmd == wire.CmdSessionSetup {
		return wire.StatusOK
	}
	if !s.valid() {
		if s.expired {
			return wire.StatusNetworkSessionExpired
		}
		return wire.StatusUserSessionDeleted
	}
	if !r.signed && !r.ch.encrypted && s.signingRequired && cmd != wire.CmdEcho {
		return wire.StatusAccessDenied
	}
	if s.encryptData && !r.ch.encrypted {
		return wire.StatusAccessDenied
	}
	if r.ch.encrypted && r.ch.sess != nil && r.ch.sess != s {
		return wire.StatusAccessDenied
	}
	if needsTree[cmd] {
		r.tree = s.lookupTree(r.hdr.TreeID)
		if r.tree == nil {
			return wire.StatusNetworkNameDeleted
		}
		if r.tree.encrypt && !r.ch.encrypted {
			return wire.StatusAccessDenied
		}
	}
	return wire.StatusOK
}

// buildResponse assembles the header and body of one response element.
func (c *conn) buildResponse(r *request, status wire.Status) *response {
	h := wire.Header{
		CreditCharge: r.hdr.CreditCharge,
		Status:       uint32(status),
		Command:      r.hdr.Command,
		Flags:        wire.FlagResponse | r.hdr.Flags&wire.FlagRelated,
		MessageID:    r.hdr.MessageID,
		TreeID:       r.hdr.TreeID,
		SessionID:    r.respSess,
	}
	if r.hdr.Flags&wire.FlagAsync != 0 {
		h.Flags |= wire.FlagAsync
	}
	allowExtra := r.hdr.Command != wire.CmdNegotiate && !(r.hdr.Command == wire.CmdSessionSetup && status.IsError() && status != wire.StatusMoreProcessingRequired)
	c.mu.Lock()
	h.Credit = c.win.grant(r.hdr.CreditCharge, r.hdr.Credit, allowExtra)
	c.mu.Unlock()
	if status == wire.StatusPending && r.async != nil {
		h.Flags |= wire.FlagAsync
		h.AsyncID = r.async.id
	}
	buf := r.out
	wire.AppendHeader(buf[:0], &h)
	if status != wire.StatusOK && !(bodyOnError(r.hdr.Command, status) && len(r.out) > wire.HeaderSize) {
		buf = wire.ErrorBody(buf[:wire.HeaderSize], r.errData)
	}
	resp := &response{buf: buf, status: status}
	resp.sign = c.responseSigner(r, status)
	if status == wire.StatusOK {
		resp.file = r.file
	}
	return resp
}

// bodyOnError lists errors that carry a normal response body.
func bodyOnError(cmd wire.Command, st wire.Status) bool {
	switch {
	case st == wire.StatusBufferOverflow:
		return cmd == wire.CmdQueryInfo || cmd == wire.CmdIoctl || cmd == wire.CmdRead || cmd == wire.CmdQueryDirectory
	case cmd == wire.CmdSessionSetup && st == wire.StatusMoreProcessingRequired:
		return true
	case cmd == wire.CmdIoctl:
		return true // copychunk answers its errors with a response body
	}
	return false
}

func (c *conn) responseSigner(r *request, status wire.Status) smbcrypto.Signer {
	if r.signWith != nil {
		return r.signWith
	}
	s := r.sess
	if s == nil || s.signer == nil || s.anonymous || s.guest {
		return nil
	}
	if r.badSignature {
		return nil // never sign the answer to a forged request
	}
	if r.signed || s.signingRequired || r.forceSign {
		return s.signer
	}
	return nil
}
