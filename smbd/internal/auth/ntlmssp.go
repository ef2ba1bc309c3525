package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// NTLMSSP negotiate flags ([MS-NLMP] §2.2.2.5).
const (
	flagUnicode          uint32 = 0x00000001
	flagOEM              uint32 = 0x00000002
	flagRequestTarget    uint32 = 0x00000004
	flagSign             uint32 = 0x00000010
	flagSeal             uint32 = 0x00000020
	flagNTLM             uint32 = 0x00000200
	flagAnonymous        uint32 = 0x00000800
	flagAlwaysSign       uint32 = 0x00008000
	flagTargetTypeServer uint32 = 0x00020000
	flagExtendedSecurity uint32 = 0x00080000
	flagTargetInfo       uint32 = 0x00800000
	flagVersion          uint32 = 0x02000000
	flag128              uint32 = 0x20000000
	flagKeyExch          uint32 = 0x40000000
	flag56               uint32 = 0x80000000
)

// AV pair ids ([MS-NLMP] §2.2.2.1).
const (
	avEOL             uint16 = 0
	avNbComputerName  uint16 = 1
	avNbDomainName    uint16 = 2
	avDNSComputerName uint16 = 3
	avDNSDomainName   uint16 = 4
	avFlags           uint16 = 6
	avTimestamp       uint16 = 7
)

const (
	ntlmSignature = "NTLMSSP\x00"
	msgNegotiate  = 1
	msgChallenge  = 2
	msgAuth       = 3
	micOffset     = 72
)

// Authentication errors; the server maps them to NT status codes.
var (
	ErrLogonFailure     = errors.New("auth: logon failure")
	ErrAccountDisabled  = errors.New("auth: account disabled")
	ErrInvalidParameter = errors.New("auth: invalid parameter")
	ErrBadState         = errors.New("auth: unexpected message")
)

var ntlmVersion = []byte{6, 1, 0xb1, 0x1d, 0, 0, 0, 15}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func fromUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// field reads an NTLMSSP (len, maxlen, offset) triple at b[at:] and
// returns the payload it points to.
func field(msg []byte, at int) ([]byte, error) {
	if len(msg) < at+8 {
		return nil, ErrMalformed
	}
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off < 0 || off > len(msg) || n > len(msg)-off {
		return nil, ErrMalformed
	}
	return msg[off : off+n], nil
}

func checkHeader(msg []byte, typ uint32) error {
	if len(msg) < 12 || string(msg[:8]) != ntlmSignature || binary.LittleEndian.Uint32(msg[8:]) != typ {
		return fmt.Errorf("%w: not an NTLMSSP message of type %d", ErrMalformed, typ)
	}
	return nil
}

// authenticateMessage is a parsed AUTHENTICATE message.
type authenticateMessage struct {
	lm, nt, domain, user, workstation, encKey []byte
	flags                                     uint32
	hasMICSpace                               bool
}

func parseAuthenticate(msg []byte) (*authenticateMessage, error) {
	if err := checkHeader(msg, msgAuth); err != nil {
		return nil, err
	}
	if len(msg) < 64 {
		return nil, ErrMalformed
	}
	a := &authenticateMessage{}
	var err error
	fields := []*[]byte{&a.lm, &a.nt, &a.domain, &a.user, &a.workstation, &a.encKey}
	minOff := len(msg)
	for i, f := range fields {
		if *f, err = field(msg, 12+8*i); err != nil {
			return nil, err
		}
		if len(*f) > 0 {
			minOff = min(minOff, int(binary.LittleEndian.Uint32(msg[12+8*i+4:])))
		}
	}
	a.flags = binary.LittleEndian.Uint32(msg[60:])
	a.hasMICSpace = minOff >= micOffset+16 && len(msg) >= micOffset+16
	return a, nil
}

// avPairs parses an AV pair list up to MsvAvEOL; anything truncated or
// missing its terminator is an error.
func avPairs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for {
		if len(b) < 4 {
			return nil, ErrInvalidParameter
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if len(b) < 4+n {
			return nil, ErrInvalidParameter
		}
		if id == avEOL {
			return out, nil
		}
		out[id] = b[4 : 4+n]
		b = b[4+n:]
	}
}

func appendAV(b []byte, id uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// sealKeys holds the NTLMSSP signing and sealing state for one direction
// ([MS-NLMP] §3.4.4.2, §3.4.5.2, §3.4.5.3).
type sealKeys struct {
	signKey []byte
	seal    *rc4.Cipher
	seq     uint32
	keyExch bool
}

func newSealKeys(exported []byte, signMagic, sealMagic string, keyExch bool) (*sealKeys, error) {
	sk := md5.Sum(append(append([]byte(nil), exported...), signMagic...))
	ek := md5.Sum(append(append([]byte(nil), exported...), sealMagic...))
	c, err := rc4.NewCipher(ek[:])
	if err != nil {
		return nil, err
	}
	return &sealKeys{signKey: sk[:], seal: c, keyExch: keyExch}, nil
}

// sign computes the 16-byte NTLMSSP signature of msg and advances the
// sequence number.
func (k *sealKeys) sign(msg []byte) []byte {
	var seq [4]byte
	binary.LittleEndian.PutUint32(seq[:], k.seq)
	k.seq++
	sum := hmacMD5(k.signKey, seq[:], msg)[:8]
	if k.keyExch {
		k.seal.XORKeyStream(sum, sum)
	}
	out := make([]byte, 0, 16)
	out = binary.LittleEndian.AppendUint32(out, 1)
	out = append(out, sum...)
	return append(out, seq[:]...)
}

const (
	magicClientSign = "session key to client-to-server signing key magic constant\x00"
	magicServerSign = "session key to server-to-client signing key magic constant\x00"
	magicClientSeal = "session key to client-to-server sealing key magic constant\x00"
	magicServerSeal = "session key to server-to-client sealing key magic constant\x00"
)

// ntlmServer runs the server side of one NTLMSSP exchange.
type ntlmServer struct {
	cfg        *Config
	negotiate  []byte
	challenge  []byte
	serverChal [8]byte
	flags      uint32
	result     *Result
	exported   []byte
	hadMIC     bool
}

func (s *ntlmServer) handleNegotiate(msg []byte) ([]byte, error) {
	if err := checkHeader(msg, msgNegotiate); err != nil {
		return nil, err
	}
	if len(msg) < 16 {
		return nil, ErrMalformed
	}
	s.negotiate = append([]byte(nil), msg...)
	cf := binary.LittleEndian.Uint32(msg[12:])
	flags := flagUnicode | flagRequestTarget | flagNTLM | flagAlwaysSign | flagTargetTypeServer |
		flagExtendedSecurity | flagTargetInfo | flagVersion
	flags |= cf & (flagSign | flagSeal | flag128 | flagKeyExch | flag56)
	if cf&flagUnicode == 0 && cf&flagOEM != 0 {
		return nil, fmt.Errorf("%w: OEM only client", ErrInvalidParameter)
	}
	s.flags = flags
	if _, err := s.cfg.Rand.Read(s.serverChal[:]); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	target := utf16le(strings.ToUpper(s.cfg.Domain))
	var ti []byte
	ti = appendAV(ti, avNbDomainName, target)
	ti = appendAV(ti, avNbComputerName, utf16le(strings.ToUpper(s.cfg.NetbiosName)))
	ti = appendAV(ti, avDNSDomainName, utf16le(strings.ToLower(s.cfg.DNSDomain)))
	ti = appendAV(ti, avDNSComputerName, utf16le(strings.ToLower(s.cfg.DNSName)))
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], FileTime(s.cfg.Now()))
	ti = appendAV(ti, avTimestamp, ts[:])
	ti = appendAV(ti, avEOL, nil)

	const fixed = 56
	c := make([]byte, 0, fixed+len(target)+len(ti))
	c = append(c, ntlmSignature...)
	c = binary.LittleEndian.AppendUint32(c, msgChallenge)
	c = binary.LittleEndian.AppendUint16(c, uint16(len(target)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(target)))
	c = binary.LittleEndian.AppendUint32(c, fixed)
	c = binary.LittleEndian.AppendUint32(c, flags)
	c = append(c, s.serverChal[:]...)
	c = append(c, make([]byte, 8)...)
	c = binary.LittleEndian.AppendUint16(c, uint16(len(ti)))
	c = binary.LittleEndian.AppendUint16(c, uint16(len(ti)))
	c = binary.LittleEndian.AppendUint32(c, uint32(fixed+len(target)))
	c = append(c, ntlmVersion...)
	c = append(c, target...)
	c = append(c, ti...)
	s.challenge = c
	return c, nil
}

// handleAuthenticate verifies the AUTHENTICATE message and fills result.
func (s *ntlmServer) handleAuthenticate(ctx context.Context, msg []byte) error {
	a, err := parseAuthenticate(msg)
	if err != nil {
		return err
	}
	user := fromUTF16(a.user)
	domain := fromUTF16(a.domain)
	if a.flags&flagUnicode == 0 {
		user, domain = string(a.user), string(a.domain)
	}
	if user == "" && len(a.nt) == 0 && (len(a.lm) == 0 || bytes.Equal(a.lm, []byte{0})) {
		s.result = &Result{Anonymous: true, Domain: domain}
		return nil
	}
	if len(a.nt) < 16+28 {
		// Only NTLMv2 is accepted: NTLMv1 responses are 24 bytes.
		return ErrLogonFailure
	}
	proof, temp := a.nt[:16], a.nt[16:]
	if temp[0] != 1 || temp[1] != 1 {
		return ErrInvalidParameter
	}
	avs, err := avPairs(temp[28:])
	if err != nil {
		return err
	}
	u, err := s.cfg.Users.LookupUser(ctx, user)
	if err != nil {
		return ErrLogonFailure
	}
	var baseKey []byte
	for _, d := range []string{domain, ""} {
		owf := hmacMD5(u.NTHash[:], utf16le(strings.ToUpper(user)+d))
		want := hmacMD5(owf, s.serverChal[:], temp)
		if subtle.ConstantTimeCompare(want, proof) == 1 {
			baseKey = hmacMD5(owf, proof)
			break
		}
	}
	if baseKey == nil {
		return ErrLogonFailure
	}
	if u.Disabled {
		return ErrAccountDisabled
	}
	exported := baseKey
	if a.flags&flagKeyExch != 0 && s.flags&flagKeyExch != 0 {
		if len(a.encKey) != 16 {
			return ErrInvalidParameter
		}
		c, err := rc4.NewCipher(baseKey)
		if err != nil {
			return err
		}
		exported = make([]byte, 16)
		c.XORKeyStream(exported, a.encKey)
	}
	if f, ok := avs[avFlags]; ok && len(f) == 4 && binary.LittleEndian.Uint32(f)&0x2 != 0 {
		if !a.hasMICSpace {
			return ErrLogonFailure
		}
		mic := append([]byte(nil), msg[micOffset:micOffset+16]...)
		zeroed := append([]byte(nil), msg...)
		clear(zeroed[micOffset : micOffset+16])
		want := hmacMD5(exported, s.negotiate, s.challenge, zeroed)
		if subtle.ConstantTimeCompare(want, mic) != 1 {
			return ErrLogonFailure
		}
		s.hadMIC = true
	}
	s.flags = s.flags&^(flagKeyExch|flagSign|flagSeal) | a.flags&s.flags&(flagKeyExch|flagSign|flagSeal)
	s.exported = exported
	s.result = &Result{User: u.Name, Domain: domain, SessionKey: exported}
	return nil
}
