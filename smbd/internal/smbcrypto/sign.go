package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Signing algorithm ids of the SIGNING_CAPABILITIES context ([MS-SMB2] §2.2.3.1.7).
const (
	SigningHMACSHA256 uint16 = 0
	SigningAESCMAC    uint16 = 1
	SigningAESGMAC    uint16 = 2
)

// Offsets into the 64-byte SMB2 header used by the signers.
const (
	hdrCommand   = 12
	hdrFlags     = 16
	hdrMessageID = 24
	hdrSignature = 48
	hdrSize      = 64

	flagServerToRedir = 0x1
	flagSigned        = 0x8
	cmdCancel         = 0x0c
)

// ErrBadSignature reports a message whose signature does not verify.
var ErrBadSignature = errors.New("smbcrypto: bad signature")

// Signer signs and verifies whole SMB2 messages (one compound element,
// padding included).
type Signer interface {
	// Sign sets the SIGNED flag, computes the signature over msg and
	// stores it in the signature field.
	Sign(msg []byte)
	// Verify checks msg's signature. It zeroes and restores the field.
	Verify(msg []byte) error
}

// NewSigner returns the signer for algorithm alg with key.
func NewSigner(alg uint16, key []byte) (Signer, error) {
	switch alg {
	case SigningHMACSHA256:
		k := make([]byte, 16)
		copy(k, key)
		return hmacSigner{key: k}, nil
	case SigningAESCMAC:
		c, err := NewCMAC(key[:16])
		if err != nil {
			return nil, err
		}
		return cmacSigner{c}, nil
	case SigningAESGMAC:
		b, err := aes.NewCipher(key[:16])
		if err != nil {
			return nil, fmt.Errorf("gmac: %w", err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, fmt.Errorf("gmac: %w", err)
		}
		return gmacSigner{g}, nil
	}
	return nil, fmt.Errorf("smbcrypto: unknown signing algorithm %d", alg)
}

type sumFunc func(msg []byte) [16]byte

func sign(msg []byte, f sumFunc) {
	if len(msg) < hdrSize {
		return
	}
	msg[hdrFlags] |= flagSigned
	clear(msg[hdrSignature : hdrSignature+16])
	s := f(msg)
	copy(msg[hdrSignature:], s[:])
}

func verify(msg []byte, f sumFunc) error {
	if len(msg) < hdrSize {
		return ErrBadSignature
	}
	var got [16]byte
	copy(got[:], msg[hdrSignature:])
	clear(msg[hdrSignature : hdrSignature+16])
	want := f(msg)
	copy(msg[hdrSignature:], got[:])
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrBadSignature
	}
	return nil
}

type hmacSigner struct{ key []byte }

func (h hmacSigner) sum(msg []byte) [16]byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(msg)
	var out [16]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (h hmacSigner) Sign(msg []byte)         { sign(msg, h.sum) }
func (h hmacSigner) Verify(msg []byte) error { return verify(msg, h.sum) }

type cmacSigner struct{ c *CMAC }

func (c cmacSigner) sum(msg []byte) [16]byte { return c.c.Sum(msg) }
func (c cmacSigner) Sign(msg []byte)         { sign(msg, c.sum) }
func (c cmacSigner) Verify(msg []byte) error { return verify(msg, c.sum) }

type gmacSigner struct{ g cipher.AEAD }

// sum builds the GMAC nonce from the header ([MS-SMB2] §3.1.4.1): the
// MessageId, then a word whose bit 0 is "response" and bit 1 "cancel".
func (g gmacSigner) sum(msg []byte) [16]byte {
	var nonce [12]byte
	copy(nonce[:8], msg[hdrMessageID:hdrMessageID+8])
	var role uint32
	if binary.LittleEndian.Uint32(msg[hdrFlags:])&flagServerToRedir != 0 {
		role |= 1
	}
	if binary.LittleEndian.Uint16(msg[hdrCommand:]) == cmdCancel {
		role |= 2
	}
	binary.LittleEndian.PutUint32(nonce[8:], role)
	var out [16]byte
	copy(out[:], g.g.Seal(nil, nonce[:], nil, msg))
	return out
}

func (g gmacSigner) Sign(msg []byte)         { sign(msg, g.sum) }
func (g gmacSigner) Verify(msg []byte) error { return verify(msg, g.sum) }
