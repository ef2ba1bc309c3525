package server

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"time"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/smbcrypto"
	"gctdb/smbd/internal/wire"
)

// cipherPreference is the server's order of ciphers for 3.1.1.
var cipherPreference = []uint16{
	smbcrypto.CipherAES128GCM, smbcrypto.CipherAES128CCM,
	smbcrypto.CipherAES256GCM, smbcrypto.CipherAES256CCM,
}

// signingPreference is the server's order of signing algorithms.
var signingPreference = []uint16{smbcrypto.SigningAESGMAC, smbcrypto.SigningAESCMAC, smbcrypto.SigningHMACSHA256}

func (c *conn) handleNegotiate(r *request) wire.Status {
	if c.negotiated {
		return errDisconnectStatus
	}
	req, err := wire.ParseNegotiate(r.msg)
	if err != nil {
		return wire.StatusInvalidParameter
	}
	if len(req.Dialects) == 0 {
		return wire.StatusInvalidParameter
	}
	cfg := &c.srv.cfg
	dialect := uint16(0)
	for _, d := range req.Dialects {
		if d >= cfg.MinDialect && d <= cfg.MaxDialect && isKnownDialect(d) && d > dialect {
			dialect = d
		}
	}
	if dialect == 0 {
		return wire.StatusNotSupported
	}
	c.dialect = dialect
	c.clientGUID = req.ClientGUID
	c.clientSecMode = req.SecurityMode
	c.clientCaps = req.Capabilities
	c.signingAlg = smbcrypto.SigningHMACSHA256
	if dialect >= wire.Dialect300 {
		c.signingAlg = smbcrypto.SigningAESCMAC
	}
	resp := wire.NegotiateResponse{
		SecurityMode:    wire.SigningEnabled,
		Dialect:         dialect,
		ServerGUID:      cfg.ServerGUID,
		MaxTransactSize: cfg.MaxIOSize,
		MaxReadSize:     cfg.MaxIOSize,
		MaxWriteSize:    cfg.MaxIOSize,
		SystemTime:      auth.FileTime(time.Now()),
		SecurityBuffer:  auth.NegTokenInit2(),
	}
	if cfg.SigningRequired {
		resp.SecurityMode |= wire.SigningRequired
	}
	c.serverSecMode = resp.SecurityMode
	caps := wire.CapDFS
	if dialect >= wire.Dialect210 {
		caps |= wire.CapLargeMTU
	} else {
		resp.MaxTransactSize = min(resp.MaxTransactSize, 65536)
		resp.MaxReadSize = min(resp.MaxReadSize, 65536)
		resp.MaxWriteSize = min(resp.MaxWriteSize, 65536)
	}
	if dialect >= wire.Dialect300 && dialect < wire.Dialect311 && req.Capabilities&wire.CapEncryption != 0 {
		caps |= wire.CapEncryption
		c.cipher = smbcrypto.CipherAES128CCM
	}
	c.serverCaps = caps
	resp.Capabilities = caps
	if dialect == wire.Dialect311 {
		if st := c.negotiateContexts(req, &resp); st != wire.StatusOK {
			return st
		}
		c.preauth.Update(r.msg)
	}
	c.negotiated = true
	r.out = wire.AppendNegotiateResponse(r.out, 0, &resp)
	return wire.StatusOK
}

func isKnownDialect(d uint16) bool {
	switch d {
	case wire.Dialect202, wire.Dialect210, wire.Dialect300, wire.Dialect302, wire.Dialect311:
		return true
	}
	return false
}

// negotiateContexts processes the 3.1.1 contexts ([MS-SMB2] §3.3.5.4).
func (c *conn) negotiateContexts(req *wire.NegotiateRequest, resp *wire.NegotiateResponse) wire.Status {
	var havePreauth, haveEnc, haveSign bool
	var ciphers, signs []uint16
	for _, ctx := range req.Contexts {
		switch ctx.Type {
		case wire.CtxPreauthIntegrity:
			if havePreauth {
				return wire.StatusInvalidParameter
			}
			p, err := wire.ParsePreauthContext(ctx.Data)
			if err != nil {
				return wire.StatusInvalidParameter
			}
			if !slices.Contains(p.Hashes, wire.HashSHA512) {
				return wire.StatusSMBNoPreauthIntegrityHashOverlap
			}
			havePreauth = true
		case wire.CtxEncryption:
			if haveEnc {
				return wire.StatusInvalidParameter
			}
			ids, err := wire.ParseIDList(ctx.Data)
			if err != nil {
				return wire.StatusInvalidParameter
			}
			ciphers, haveEnc = ids, true
		case wire.CtxSigning:
			if haveSign {
				return wire.StatusInvalidParameter
			}
			ids, err := wire.ParseIDList(ctx.Data)
			if err != nil {
				return wire.StatusInvalidParameter
			}
			signs, haveSign = ids, true
		}
	}
	if !havePreauth {
		return wire.StatusInvalidParameter
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return wire.StatusInternalError
	}
	resp.Contexts = append(resp.Contexts, wire.NegContext{
		Type: wire.CtxPreauthIntegrity, Data: wire.AppendPreauthContext(nil, wire.HashSHA512, salt),
	})
	if haveEnc {
		chosen := uint16(0)
		for _, p := range cipherPreference {
			if slices.Contains(ciphers, p) {
				chosen = p
				break
			}
		}
		c.cipher = chosen
		resp.Contexts = append(resp.Contexts, wire.NegContext{Type: wire.CtxEncryption, Data: wire.AppendIDList(nil, chosen)})
	}
	if haveSign {
		chosen := smbcrypto.SigningAESCMAC
		for _, p := range signingPreference {
			if slices.Contains(signs, p) {
				chosen = p
				break
			}
		}
		c.signingAlg = chosen
		resp.Contexts = append(resp.Contexts, wire.NegContext{Type: wire.CtxSigning, Data: wire.AppendIDList(nil, chosen)})
	}
	return wire.StatusOK
}

// handleSMB1Negotiate answers an SMB1 NEGOTIATE that offers SMB2 with an
// SMB2 NEGOTIATE response for dialect 2.??? (or 2.0.2), [MS-SMB2] §3.3.5.3.1.
func (c *conn) handleSMB1Negotiate(frame []byte) error {
	if len(frame) < 35 || frame[4] != 0x72 {
		return errDisconnect
	}
	bc := int(binary.LittleEndian.Uint16(frame[33:]))
	if len(frame) < 35+bc {
		return errDisconnect
	}
	var smb2, wild bool
	for _, d := range splitDialects(frame[35 : 35+bc]) {
		switch d {
		case "SMB 2.002":
			smb2 = true
		case "SMB 2.???":
			wild = true
		}
	}
	if !smb2 && !wild {
		return errDisconnect
	}
	dialect := wire.Dialect202
	if wild && c.srv.cfg.MaxDialect > wire.Dialect202 {
		dialect = wire.DialectWildcard
	}
	if c.srv.cfg.MinDialect > wire.Dialect202 && dialect == wire.Dialect202 {
		return errDisconnect
	}
	resp := wire.NegotiateResponse{
		SecurityMode:    wire.SigningEnabled,
		Dialect:         dialect,
		ServerGUID:      c.srv.cfg.ServerGUID,
		Capabilities:    wire.CapDFS,
		MaxTransactSize: 65536, MaxReadSize: 65536, MaxWriteSize: 65536,
		SystemTime:     auth.FileTime(time.Now()),
		SecurityBuffer: auth.NegTokenInit2(),
	}
	if c.srv.cfg.SigningRequired {
		resp.SecurityMode |= wire.SigningRequired
	}
	h := wire.Header{Command: wire.CmdNegotiate, Flags: wire.FlagResponse, Credit: 1}
	msg := wire.AppendHeader(nil, &h)
	msg = wire.AppendNegotiateResponse(msg, 0, &resp)
	if dialect == wire.Dialect202 {
		c.dialect = dialect
		c.signingAlg = smbcrypto.SigningHMACSHA256
		c.negotiated = true
	}
	// MessageId 0 is used by this exchange.
	c.mu.Lock()
	c.win.low, c.win.size, c.win.granted = 1, 1, 1
	c.mu.Unlock()
	return c.send(msg, nil)
}

func splitDialects(b []byte) []string {
	var out []string
	for len(b) > 1 && b[0] == 0x02 {
		end := 1
		for end < len(b) && b[end] != 0 {
			end++
		}
		out = append(out, string(b[1:end]))
		if end >= len(b) {
			break
		}
		b = b[end+1:]
	}
	return out
}
