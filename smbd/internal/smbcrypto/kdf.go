package smbcrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// SMB key-derivation labels and 3.0/3.0.2 contexts ([MS-SMB2] §3.1.4.2,
// §3.3.5.5.3). Every one includes its trailing NUL.
var (
	LabelSigning30     = []byte("SMB2AESCMAC\x00")
	ContextSigning30   = []byte("SmbSign\x00")
	LabelCipher30      = []byte("SMB2AESCCM\x00")
	ContextServerIn30  = []byte("ServerIn \x00")
	ContextServerOut30 = []byte("ServerOut\x00")
	LabelApp30         = []byte("SMB2APP\x00")
	ContextApp30       = []byte("SmbRpc\x00")
	LabelSigning311    = []byte("SMBSigningKey\x00")
	LabelC2SCipher311  = []byte("SMBC2SCipherKey\x00")
	LabelS2CCipher311  = []byte("SMBS2CCipherKey\x00")
	LabelApp311        = []byte("SMBAppKey\x00")
)

// KDF is the SP800-108 counter-mode KDF with HMAC-SHA256 as PRF and a
// 32-bit counter and length, returning bits/8 bytes.
func KDF(key, label, context []byte, bits int) []byte {
	out := make([]byte, 0, bits/8+sha256.Size)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], uint32(bits))
	for i := uint32(1); len(out) < bits/8; i++ {
		m := hmac.New(sha256.New, key)
		var ctr [4]byte
		binary.BigEndian.PutUint32(ctr[:], i)
		m.Write(ctr[:])
		m.Write(label)
		m.Write([]byte{0})
		m.Write(context)
		m.Write(tail[:])
		out = m.Sum(out)
	}
	return out[:bits/8]
}

// SessionKeys are the keys an SMB 3.x session derives from its session key.
type SessionKeys struct {
	Signing    []byte
	Encryption []byte // server to client
	Decryption []byte // client to server
	App        []byte
}

// DeriveKeys derives the SMB 3.x keys. preauth is nil for 3.0/3.0.2 and the
// session's preauth hash for 3.1.1; cipherBits is 256 for AES-256 ciphers.
func DeriveKeys(sessionKey []byte, preauth []byte, cipherBits int) SessionKeys {
	k16 := make([]byte, 16)
	copy(k16, sessionKey)
	encKey := k16
	if cipherBits == 256 && len(sessionKey) > 16 {
		encKey = sessionKey
	}
	if cipherBits == 0 {
		cipherBits = 128
	}
	if preauth == nil {
		return SessionKeys{
			Signing:    KDF(k16, LabelSigning30, ContextSigning30, 128),
			Encryption: KDF(encKey, LabelCipher30, ContextServerOut30, cipherBits),
			Decryption: KDF(encKey, LabelCipher30, ContextServerIn30, cipherBits),
			App:        KDF(k16, LabelApp30, ContextApp30, 128),
		}
	}
	return SessionKeys{
		Signing:    KDF(k16, LabelSigning311, preauth, 128),
		Encryption: KDF(encKey, LabelS2CCipher311, preauth, cipherBits),
		Decryption: KDF(encKey, LabelC2SCipher311, preauth, cipherBits),
		App:        KDF(k16, LabelApp311, preauth, 128),
	}
}
