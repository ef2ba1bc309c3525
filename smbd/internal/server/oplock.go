package server

import (
	"context"
	"time"

	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/wire"
)

// Oplock levels ([MS-SMB2] §2.2.13).
const (
	oplockNone      = 0x00
	oplockII        = 0x01
	oplockExclusive = 0x08
	oplockBatch     = 0x09
	oplockLease     = 0xFF

	// oplockBreakTimeout is how long an open waits for a holder to
	// acknowledge a break before the server acknowledges it itself
	// ([MS-SMB2] §3.3.2.1, 35 s like Windows and Samba).
	oplockBreakTimeout = 35 * time.Second
)

// markBreaks flags the batch oplocks of m (or, with batchOnly false, the
// exclusive ones too) for a break to breakTo and appends the newly flagged
// entries to out. It reports whether the new open must wait.
func markBreaks(m *state.ShareModes, breakTo uint8, out *[]state.ShareEntry, batchOnly bool) bool {
	wait := false
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.OplockLevel != oplockBatch && (batchOnly || e.OplockLevel != oplockExclusive) {
			continue
		}
		wait = true
		if e.Flags&state.ShareFlagBreaking == 0 {
			e.Flags |= state.ShareFlagBreaking
			e.BreakTo = breakTo
			*out = append(*out, *e)
		}
	}
	return wait
}

// grantOplock decides the oplock of a new open given the other opens:
// the requested exclusive or batch oplock only when it is alone, level II
// when the others hold at most level II.
func grantOplock(m *state.ShareModes, requested uint8, isDir bool, access uint32) uint8 {
	if isDir || requested == oplockLease || requested == oplockNone || state.IsStatOpen(access) {
		return oplockNone
	}
	others := 0
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Flags&state.ShareFlagStatOpen != 0 {
			continue
		}
		others++
		if e.OplockLevel == oplockExclusive || e.OplockLevel == oplockBatch {
			return oplockNone
		}
	}
	switch {
	case others == 0 && (requested == oplockExclusive || requested == oplockBatch || requested == oplockII):
		return requested
	case requested >= oplockII:
		return oplockII
	}
	return oplockNone
}

// adjustLevelII keeps the count of level II oplocks in the lock record.
func (srv *Server) adjustLevelII(ctx context.Context, key state.FileKey, delta int) {
	err := srv.cfg.Store.ModifyLocks(ctx, key, func(l *state.Locks) error {
		if delta < 0 && l.LevelII == 0 {
			return nil
		}
		l.LevelII = uint32(int(l.LevelII) + delta)
		return nil
	})
	if err != nil {
		srv.log.Warn("update level II count", "err", err)
	}
}

// expireBreaks acknowledges on the holders' behalf the breaks that timed
// out.
func (srv *Server) expireBreaks(ctx context.Context, key state.FileKey) {
	toII := 0
	err := srv.cfg.Store.ModifyShareModes(ctx, key, func(m *state.ShareModes) error {
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Flags&state.ShareFlagBreaking != 0 {
				e.Flags &^= state.ShareFlagBreaking
				e.OplockLevel = e.BreakTo
				if e.BreakTo == oplockII {
					toII++
				}
				srv.oplockChanged(e.Open, e.BreakTo, oplockMsgSetLevel)
			}
		}
		return nil
	})
	if err != nil {
		srv.log.Warn("expire oplock breaks", "err", err)
	}
	if toII > 0 {
		srv.adjustLevelII(ctx, key, toII)
	}
}

// breakLevelII breaks every other open's level II oplock to none after a
// write, truncate or lock by open (no acknowledgement is expected).
func (srv *Server) breakLevelII(ctx context.Context, o *open) {
	var broken []state.OpenRef
	err := srv.cfg.Store.ModifyShareModes(ctx, o.key, func(m *state.ShareModes) error {
		broken = broken[:0]
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.OplockLevel == oplockII && e.Open != o.ref {
				e.OplockLevel = oplockNone
				broken = append(broken, e.Open)
			}
		}
		return nil
	})
	if err != nil {
		srv.log.Warn("break level II oplocks", "err", err)
		return
	}
	if len(broken) == 0 {
		return
	}
	srv.adjustLevelII(ctx, o.key, -len(broken))
	for _, ref := range broken {
		srv.oplockChanged(ref, oplockNone, oplockMsgSetLevel|oplockMsgNotify)
	}
}

// What an oplock message asks of the process serving an open.
const (
	oplockMsgSetLevel = 1 << 0 // the open's oplock level is now the given one
	oplockMsgNotify   = 1 << 1 // send the client an oplock break to the level
)

// oplockChanged tells the process serving ref about its oplock: directly
// when that is this process, otherwise as a message on the bus.
func (srv *Server) oplockChanged(ref state.OpenRef, level uint8, what uint8) {
	if ref.Node == srv.self.Node && ref.Server == srv.self.Instance {
		srv.applyOplockChange(ref.OpenID, level, what)
		return
	}
	msg := encodeOplockMsg(oplockMsg{openID: ref.OpenID, level: level, what: what})
	if err := srv.cfg.Store.Bus.Send(state.Process{Node: ref.Node, Instance: ref.Server}, msg); err != nil {
		srv.log.Debug("oplock message", "node", ref.Node, "open", ref.OpenID, "err", err)
	}
}

// handleBusMessage serves a message from another smbd process.
func (srv *Server) handleBusMessage(b []byte) {
	m, err := decodeOplockMsg(b)
	if err != nil {
		srv.log.Warn("bad message from another smbd", "err", err)
		return
	}
	srv.applyOplockChange(m.openID, m.level, m.what)
}

func (srv *Server) applyOplockChange(openID uint64, level, what uint8) {
	srv.mu.Lock()
	o := srv.opens[openID]
	srv.mu.Unlock()
	if o == nil {
		return // closed meanwhile
	}
	if what&oplockMsgSetLevel != 0 {
		o.mu.Lock()
		o.oplock = level
		o.mu.Unlock()
	}
	if what&oplockMsgNotify != 0 {
		srv.notifyOplockBreak(o, level)
	}
}

// sendOplockBreak asks the holder of an oplock to break it to level.
func (srv *Server) sendOplockBreak(ref state.OpenRef, level uint8) {
	srv.oplockChanged(ref, level, oplockMsgNotify)
}

// notifyOplockBreak sends a local open's client an oplock break
// notification ([MS-SMB2] §2.2.23.1).
func (srv *Server) notifyOplockBreak(o *open, level uint8) {
	s := o.sess
	c := s.conn
	h := wire.Header{
		Command:   wire.CmdOplockBreak,
		Flags:     wire.FlagResponse,
		MessageID: ^uint64(0),
	}
	if c.dialect >= wire.Dialect300 {
		h.SessionID = s.id
	}
	msg := wire.AppendHeader(make([]byte, 0, wire.HeaderSize+24), &h)
	msg = appendOplockBreakBody(msg, level, o.id)
	ch := &chain{}
	if s.encryptData || o.tree.encrypt {
		ch.encrypted, ch.sess = true, s
	} else if c.dialect >= wire.Dialect300 && s.signer != nil && !s.anonymous && !s.guest && s.signingRequired {
		s.signer.Sign(msg)
	}
	if err := c.send(msg, ch); err != nil {
		srv.log.Debug("send oplock break", "err", err)
	}
}

func appendOplockBreakBody(b []byte, level uint8, fid wire.FileID) []byte {
	b = append(b, 24, 0, level, 0, 0, 0, 0, 0)
	return wire.AppendFileID(b, fid)
}

// handleOplockBreak processes an oplock break acknowledgement.
func (c *conn) handleOplockBreak(r *request) wire.Status {
	body := r.msg[wire.HeaderSize:]
	if le.Uint16(body) != 24 {
		// Lease acknowledgements: leases are not granted.
		return wire.StatusInvalidParameter
	}
	level := body[2]
	o, st := r.lookupOpen(wire.FileID{Persistent: le.Uint64(body[8:]), Volatile: le.Uint64(body[16:])})
	if st != wire.StatusOK {
		return st
	}
	if level != oplockNone && level != oplockII {
		return wire.StatusInvalidParameter
	}
	status := wire.StatusOK
	wasII := false
	err := c.srv.cfg.Store.ModifyShareModes(r.ctx, o.key, func(m *state.ShareModes) error {
		e := m.Find(o.ref)
		if e == nil || e.Flags&state.ShareFlagBreaking == 0 {
			status = wire.StatusInvalidOplockProtocol
			return nil
		}
		if level > e.BreakTo {
			level = e.BreakTo
		}
		wasII = e.OplockLevel == oplockII
		e.Flags &^= state.ShareFlagBreaking
		e.OplockLevel = level
		return nil
	})
	if err != nil {
		return statusOf(err)
	}
	if status != wire.StatusOK {
		return status
	}
	switch {
	case level == oplockII && !wasII:
		c.srv.adjustLevelII(r.ctx, o.key, 1)
	case level != oplockII && wasII:
		c.srv.adjustLevelII(r.ctx, o.key, -1)
	}
	o.mu.Lock()
	o.oplock = level
	o.mu.Unlock()
	r.out = appendOplockBreakBody(r.out, level, o.id)
	return wire.StatusOK
}
