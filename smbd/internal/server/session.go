package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/smbcrypto"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/wire"
)

// session is an SMB session (one channel for now; the channel list is
// where multichannel will hang its per-connection signing keys).
type session struct {
	id   uint64
	conn *conn

	mu        sync.Mutex
	exchange  *auth.Exchange
	preauth   smbcrypto.PreauthHash
	authDone  bool
	expired   bool
	loggedOff bool

	user            string
	anonymous       bool
	guest           bool
	sessionKey      []byte
	signer          smbcrypto.Signer
	signingRequired bool
	encryptData     bool
	enc, dec        *smbcrypto.AEAD
	nonceCounter    atomic.Uint64
	noncePrefix     [4]byte
	appKey          []byte

	trees    map[uint32]*tree
	nextTree uint32
}

func (s *session) userName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

func (s *session) valid() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authDone && !s.loggedOff
}

func (s *session) lookupTree(id uint32) *tree {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trees[id]
}

// encrypt wraps msg in a TRANSFORM header with the session's key.
// encrypt seals msg for the session and returns the TRANSFORM header and
// the ciphertext, which overwrites msg when it has 16 bytes of spare
// capacity.
func (s *session) encrypt(msg []byte) (header, ciphertext []byte) {
	th := wire.TransformHeader{OriginalMessageSize: uint32(len(msg)), Flags: 1, SessionID: s.id}
	n := s.nonceCounter.Add(1)
	binary.LittleEndian.PutUint64(th.Nonce[:], n)
	if s.enc.NonceSize() == 12 {
		copy(th.Nonce[8:12], s.noncePrefix[:])
	} else {
		copy(th.Nonce[8:11], s.noncePrefix[:3])
	}
	hdr := wire.AppendTransform(make([]byte, 0, wire.TransformHeaderSize), &th)
	ct, tag := s.enc.Seal(msg[:0], th.Nonce[:], msg, wire.TransformAAD(hdr))
	copy(hdr[4:20], tag[:])
	return hdr, ct
}

func (srv *Server) lookupSession(id uint64) *session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

func (c *conn) handleSessionSetup(r *request) wire.Status {
	req, err := wire.ParseSessionSetup(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if req.Flags&wire.SessionFlagBinding != 0 {
		// Multichannel binding comes with M5.
		return wire.StatusRequestNotAccepted
	}
	s := r.sess
	if s == nil {
		if r.hdr.SessionID != 0 {
			return wire.StatusUserSessionDeleted
		}
		s = c.srv.newSession(c)
		r.sess = s
	}
	r.respSess = s.id
	s.mu.Lock()
	reauth := s.authDone
	if s.exchange == nil {
		s.exchange = auth.NewExchange(c.srv.authCfg)
		if !reauth {
			s.preauth = c.preauth
		}
	}
	ex := s.exchange
	s.mu.Unlock()
	if c.dialect == wire.Dialect311 && !reauth {
		s.preauth.Update(r.msg)
	}
	token, done, aerr := ex.Step(r.ctx, req.SecurityBuffer)
	if aerr != nil {
		c.log.Info("authentication failed", "err", aerr)
		status := wire.StatusLogonFailure
		switch {
		case errors.Is(aerr, auth.ErrInvalidParameter):
			status = wire.StatusInvalidParameter
		case errors.Is(aerr, auth.ErrAccountDisabled):
			status = wire.StatusAccountDisabled
		case errors.Is(aerr, auth.ErrMalformed), errors.Is(aerr, auth.ErrNoMech):
			status = wire.StatusInvalidParameter
		}
		// A failed authentication deletes the session, re-auth included.
		c.srv.logoff(r.ctx, s)
		return status
	}
	if !done {
		r.out = wire.AppendSessionSetupResponse(r.out, 0, token)
		if c.dialect == wire.Dialect311 && !reauth {
			// The interim response joins the hash; c.preauthResponse
			// hashes the built message after the header is known.
			r.preauthFold = s
		}
		return wire.StatusMoreProcessingRequired
	}
	res := ex.Result()
	s.mu.Lock()
	s.exchange = nil
	s.mu.Unlock()
	if reauth {
		// Re-authentication keeps the session, its opens and its keys and
		// takes on the new credentials (Samba behaviour; binding is where
		// a different user is refused).
		s.mu.Lock()
		s.user, s.anonymous, s.guest = res.User, res.Anonymous, res.Guest
		s.mu.Unlock()
		r.out = wire.AppendSessionSetupResponse(r.out, sessionFlags(s), token)
		r.forceSign = true
		return wire.StatusOK
	}
	if st := c.establish(r, s, req, res); st != wire.StatusOK {
		c.srv.logoff(r.ctx, s)
		return st
	}
	if req.PreviousSessionID != 0 && req.PreviousSessionID != s.id {
		// A reconnecting client replaces its old session ([MS-SMB2]
		// §3.3.5.5.3); its opens are closed (durable handles come later).
		if prev := c.srv.lookupSession(req.PreviousSessionID); prev != nil && !s.anonymous &&
			strings.EqualFold(prev.userName(), s.user) {
			c.srv.logoff(r.ctx, prev)
		}
	}
	r.out = wire.AppendSessionSetupResponse(r.out, sessionFlags(s), token)
	if s.signer != nil && !s.anonymous && !s.guest && (c.dialect >= wire.Dialect300 || s.signingRequired) {
		r.signWith = s.signer
	}
	return wire.StatusOK
}

func sessionFlags(s *session) uint16 {
	var f uint16
	if s.guest {
		f |= wire.SessionFlagIsGuest
	}
	if s.encryptData && !s.anonymous && !s.guest {
		f |= wire.SessionFlagEncryptData
	}
	return f
}

// establish derives the keys and makes the session valid.
func (c *conn) establish(r *request, s *session, req *wire.SessionSetupRequest, res *auth.Result) wire.Status {
	cfg := &c.srv.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.anonymous, s.guest = res.User, res.Anonymous, res.Guest
	if s.anonymous && cfg.Encrypt == EncryptRequired {
		return wire.StatusAccessDenied
	}
	if !s.anonymous {
		s.sessionKey = res.SessionKey
		var keys smbcrypto.SessionKeys
		bits := smbcrypto.CipherKeyBits(c.cipher)
		switch {
		case c.dialect >= wire.Dialect311:
			keys = smbcrypto.DeriveKeys(s.sessionKey, s.preauth[:], bits)
		case c.dialect >= wire.Dialect300:
			keys = smbcrypto.DeriveKeys(s.sessionKey, nil, bits)
		default:
			keys.Signing = s.sessionKey
		}
		signer, err := smbcrypto.NewSigner(c.signingAlg, keys.Signing)
		if err != nil {
			return wire.StatusInternalError
		}
		s.signer = signer
		s.appKey = keys.App
		if c.cipher != 0 && keys.Encryption != nil {
			if s.enc, err = smbcrypto.NewAEAD(c.cipher, keys.Encryption); err != nil {
				return wire.StatusInternalError
			}
			if s.dec, err = smbcrypto.NewAEAD(c.cipher, keys.Decryption); err != nil {
				return wire.StatusInternalError
			}
			if _, err := rand.Read(s.noncePrefix[:]); err != nil {
				return wire.StatusInternalError
			}
		}
		s.signingRequired = cfg.SigningRequired || uint16(req.SecurityMode)&wire.SigningRequired != 0 ||
			c.clientSecMode&wire.SigningRequired != 0
		if cfg.Encrypt == EncryptRequired || cfg.Encrypt == EncryptDesired && s.enc != nil {
			if s.enc == nil {
				return wire.StatusAccessDenied
			}
			s.encryptData = true
		}
		if s.encryptData {
			s.signingRequired = false
		}
	}
	s.authDone = true
	if err := c.srv.cfg.Store.PutSession(r.ctx, state.Session{
		ID: s.id, ClientGUID: c.clientGUID, Node: c.srv.self.Node, Dialect: c.dialect, User: s.user,
	}); err != nil {
		c.log.Warn("store session", "err", err)
		return wire.StatusInsufficientResources
	}
	return wire.StatusOK
}

func (srv *Server) newSession(c *conn) *session {
	s := &session{
		id:       srv.nextSession.Add(1),
		conn:     c,
		trees:    map[uint32]*tree{},
		nextTree: 0,
	}
	srv.mu.Lock()
	srv.sessions[s.id] = s
	srv.mu.Unlock()
	c.mu.Lock()
	c.sessions[s.id] = s
	c.mu.Unlock()
	return s
}

// logoff tears a session down: its trees, opens and pending requests.
func (srv *Server) logoff(ctx context.Context, s *session) {
	srv.mu.Lock()
	delete(srv.sessions, s.id)
	srv.mu.Unlock()
	s.conn.mu.Lock()
	delete(s.conn.sessions, s.id)
	s.conn.mu.Unlock()
	s.mu.Lock()
	s.loggedOff = true
	wasValid := s.authDone
	trees := make([]*tree, 0, len(s.trees))
	for _, t := range s.trees {
		trees = append(trees, t)
	}
	s.trees = map[uint32]*tree{}
	s.mu.Unlock()
	slices.SortFunc(trees, func(a, b *tree) int { return int(a.id) - int(b.id) })
	for _, t := range trees {
		srv.disconnectTree(ctx, t)
	}
	if wasValid {
		if err := srv.cfg.Store.DeleteSession(ctx, s.id); err != nil {
			srv.log.Warn("delete session record", "err", err)
		}
	}
}

func (c *conn) handleLogoff(r *request) wire.Status {
	c.srv.logoff(r.ctx, r.sess)
	r.out = wire.AppendSimpleBody(r.out)
	r.forceSign = r.signed
	return wire.StatusOK
}
