package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"fmt"
)

// CMAC computes AES-CMAC (RFC 4493) tags with one key.
type CMAC struct {
	block  cipher.Block
	k1, k2 [16]byte
}

// NewCMAC prepares AES-CMAC for a 16, 24 or 32 byte AES key.
func NewCMAC(key []byte) (*CMAC, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cmac: %w", err)
	}
	c := &CMAC{block: b}
	var l [16]byte
	b.Encrypt(l[:], l[:])
	c.k1 = dbl(l)
	c.k2 = dbl(c.k1)
	return c, nil
}

// dbl doubles a block in GF(2^128) as RFC 4493 §2.3 describes.
func dbl(in [16]byte) [16]byte {
	var out [16]byte
	carry := in[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15] << 1
	out[15] ^= byte(subtle.ConstantTimeByteEq(carry, 1)) * 0x87
	return out
}

// Sum returns the tag of the concatenation of parts, so callers can MAC a
// message in pieces without joining it first.
func (c *CMAC) Sum(parts ...[]byte) [16]byte {
	var x, buf [16]byte
	n := 0 // bytes in buf
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	seen := 0
	for _, p := range parts {
		for len(p) > 0 {
			if n == 16 {
				// A full buffer is only processed when more data follows,
				// because the last block gets the subkey treatment.
				subtle.XORBytes(x[:], x[:], buf[:])
				c.block.Encrypt(x[:], x[:])
				n = 0
			}
			k := copy(buf[n:], p)
			n += k
			p = p[k:]
			seen += k
		}
	}
	var last [16]byte
	if total > 0 && n == 16 {
		subtle.XORBytes(last[:], buf[:], c.k1[:])
	} else {
		copy(last[:], buf[:n])
		last[n] = 0x80
		subtle.XORBytes(last[:], last[:], c.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	c.block.Encrypt(x[:], x[:])
	return x
}
