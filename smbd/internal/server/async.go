package server

import (
	"context"

	"gctdb/smbd/internal/smbcrypto"
	"gctdb/smbd/internal/wire"
)

// asyncOp is a request that answered STATUS_PENDING and completes later
// ([MS-SMB2] §3.3.4.2). Its goroutine is owned by the connection, which
// cancels and joins it on disconnect.
type asyncOp struct {
	id       uint64
	mid      uint64
	c        *conn
	o        *open
	cancelCh chan wire.Status
	done     chan struct{}
	// cleanup is the status when the open, tree or session goes away
	// (NOTIFY_CLEANUP for notifications, CANCELLED otherwise).
	cleanup wire.Status
}

// cancel asks the operation to finish with st (first call wins).
func (op *asyncOp) cancel(st wire.Status) {
	select {
	case op.cancelCh <- st:
	default:
	}
}

// asyncWork runs in the operation's goroutine. It returns the final
// status and response body (without the header); cancelled delivers the
// status a cancel asked for.
type asyncWork func(ctx context.Context, cancelled <-chan wire.Status) (wire.Status, []byte)

// goAsync registers an async operation for r; the handler then returns
// StatusPending and work starts once the interim response is sent.
func (r *request) goAsync(o *open, work asyncWork, cleanup ...wire.Status) wire.Status {
	if !r.last {
		// Only the last element of a compound may go async; Windows
		// fails the others with INTERNAL_ERROR ([MS-SMB2] <159>).
		return wire.StatusInternalError
	}
	c := r.c
	op := &asyncOp{mid: r.hdr.MessageID, c: c, o: o, cancelCh: make(chan wire.Status, 1), done: make(chan struct{}),
		cleanup: wire.StatusCancelled}
	if len(cleanup) > 0 {
		op.cleanup = cleanup[0]
	}
	c.mu.Lock()
	c.nextAsync++
	op.id = c.nextAsync
	c.async[op.id] = op
	c.asyncMID[op.mid] = op
	c.mu.Unlock()
	if o != nil {
		o.mu.Lock()
		if o.pending == nil {
			o.pending = map[*asyncOp]struct{}{}
		}
		o.pending[op] = struct{}{}
		o.mu.Unlock()
	}
	r.async = op
	hdr := r.hdr
	sess := r.sess
	signed := r.signed
	encrypted := r.ch.encrypted
	r.ch.afterSend = append(r.ch.afterSend, func() {
		go func() {
			defer close(op.done)
			st, body := work(r.ctx, op.cancelCh)
			c.finishAsync(op, &hdr, sess, signed, encrypted, st, body)
		}()
	})
	return wire.StatusPending
}

// finishAsync unregisters op and sends its final response.
func (c *conn) finishAsync(op *asyncOp, req *wire.Header, sess *session, signed, encrypted bool, st wire.Status, body []byte) {
	c.mu.Lock()
	delete(c.async, op.id)
	delete(c.asyncMID, op.mid)
	c.mu.Unlock()
	if op.o != nil {
		op.o.mu.Lock()
		delete(op.o.pending, op)
		op.o.mu.Unlock()
	}
	h := wire.Header{
		CreditCharge: req.CreditCharge,
		Status:       uint32(st),
		Command:      req.Command,
		Flags:        wire.FlagResponse | wire.FlagAsync,
		MessageID:    req.MessageID,
		AsyncID:      op.id,
		SessionID:    req.SessionID,
	}
	msg := wire.AppendHeader(make([]byte, 0, wire.HeaderSize+len(body)+16), &h)
	if st != wire.StatusOK {
		msg = wire.ErrorBody(msg, nil)
	} else {
		msg = append(msg, body...)
	}
	var signer smbcrypto.Signer
	if sess != nil && sess.signer != nil && !sess.anonymous && !sess.guest && (signed || sess.signingRequired) && !encrypted {
		signer = sess.signer
		signer.Sign(msg)
	}
	ch := &chain{encrypted: encrypted, sess: sess}
	if err := c.send(msg, ch); err != nil {
		c.log.Debug("send async response", "err", err)
	}
}

// handleCancel cancels the request a CANCEL names; it never answers.
func (c *conn) handleCancel(h *wire.Header, msg []byte) {
	if h.Flags&wire.FlagSigned != 0 {
		if s := c.srv.lookupSession(h.SessionID); s != nil && s.signer != nil && s.signer.Verify(msg) != nil {
			return
		}
	}
	c.mu.Lock()
	var op *asyncOp
	if h.Flags&wire.FlagAsync != 0 {
		op = c.async[h.AsyncID]
	} else {
		op = c.asyncMID[h.MessageID]
	}
	c.mu.Unlock()
	if op != nil {
		op.cancel(wire.StatusCancelled)
	}
}
