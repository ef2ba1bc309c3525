package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/pion/dtls/v3/pkg/crypto/ccm"
)

// Cipher ids of the ENCRYPTION_CAPABILITIES context ([MS-SMB2] §2.2.3.1.2).
const (
	CipherAES128CCM uint16 = 1
	CipherAES128GCM uint16 = 2
	CipherAES256CCM uint16 = 3
	CipherAES256GCM uint16 = 4
)

// ErrDecrypt reports a TRANSFORM message that does not authenticate.
var ErrDecrypt = errors.New("smbcrypto: decryption failed")

// CipherKeyBits returns the key size of a cipher id (0 for unknown ids).
func CipherKeyBits(id uint16) int {
	switch id {
	case CipherAES128CCM, CipherAES128GCM:
		return 128
	case CipherAES256CCM, CipherAES256GCM:
		return 256
	}
	return 0
}

// AEAD seals and opens SMB3 TRANSFORM payloads. NonceSize is 11 for CCM
// and 12 for GCM; the 16-byte nonce field of the header carries it
// left-aligned.
type AEAD struct {
	aead cipher.AEAD
}

// NewAEAD builds the cipher id with key (16 or 32 bytes as the id demands).
func NewAEAD(id uint16, key []byte) (*AEAD, error) {
	bits := CipherKeyBits(id)
	if bits == 0 {
		return nil, fmt.Errorf("smbcrypto: unknown cipher %d", id)
	}
	if len(key) < bits/8 {
		return nil, fmt.Errorf("smbcrypto: cipher %d needs a %d-bit key", id, bits)
	}
	b, err := aes.NewCipher(key[:bits/8])
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: %w", err)
	}
	var a cipher.AEAD
	switch id {
	case CipherAES128CCM, CipherAES256CCM:
		a, err = ccm.NewCCM(b, 16, 11)
	default:
		a, err = cipher.NewGCM(b)
	}
	if err != nil {
		return nil, fmt.Errorf("smbcrypto: %w", err)
	}
	return &AEAD{aead: a}, nil
}

// NonceSize is the number of significant nonce bytes.
func (a *AEAD) NonceSize() int { return a.aead.NonceSize() }

// Seal encrypts plaintext in place (dst may alias plaintext[:0]) and
// returns ciphertext and the 16-byte tag separately, as the TRANSFORM
// header stores the tag before the payload.
func (a *AEAD) Seal(dst, nonce, plaintext, aad []byte) (ciphertext []byte, tag [16]byte) {
	out := a.aead.Seal(dst, nonce[:a.aead.NonceSize()], plaintext, aad)
	n := len(out) - 16
	copy(tag[:], out[n:])
	return out[:n], tag
}

// Open decrypts ciphertext with its tag; dst may alias ciphertext[:0].
func (a *AEAD) Open(dst, nonce, ciphertext []byte, tag [16]byte, aad []byte) ([]byte, error) {
	// The AEAD interface wants the tag after the data; callers that leave
	// 16 bytes of spare capacity avoid the copy.
	var buf []byte
	if cap(ciphertext)-len(ciphertext) >= 16 {
		buf = append(ciphertext, tag[:]...)
	} else {
		buf = make([]byte, 0, len(ciphertext)+16)
		buf = append(append(buf, ciphertext...), tag[:]...)
	}
	out, err := a.aead.Open(dst, nonce[:a.aead.NonceSize()], buf, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}
