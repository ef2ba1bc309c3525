package smbcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"github.com/pion/dtls/v3/pkg/crypto/ccm"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// RFC 4493 §4 test vectors.
func TestCMACRFC4493(t *testing.T) {
	key := "2b7e151628aed2a6abf7158809cf4f3c"
	msg := "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
	cases := []struct {
		name string
		n    int
		tag  string
	}{
		{"empty", 0, "bb1d6929e95937287fa37d129b756746"},
		{"16", 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{"40", 40, "dfa66747de9ae63030ca32611497c827"},
		{"64", 64, "51f0bebf7e3b9d92fc49741779363cfe"},
	}
	c, err := NewCMAC(unhex(t, key))
	require.NoError(t, err)
	m := unhex(t, msg)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Sum(m[:tc.n])
			assert.Equal(t, tc.tag, hex.EncodeToString(got[:]))
			// Split input must give the same tag.
			if tc.n > 3 {
				got2 := c.Sum(m[:3], m[3:tc.n-1], m[tc.n-1:tc.n])
				assert.Equal(t, got, got2)
			}
		})
	}
}

func TestKDFMatchesDefinition(t *testing.T) {
	key := unhex(t, "000102030405060708090a0b0c0d0e0f")
	got := KDF(key, LabelSigning30, ContextSigning30, 128)
	m := hmac.New(sha256.New, key)
	m.Write([]byte{0, 0, 0, 1})
	m.Write([]byte("SMB2AESCMAC\x00"))
	m.Write([]byte{0})
	m.Write([]byte("SmbSign\x00"))
	m.Write([]byte{0, 0, 0, 128})
	assert.Equal(t, m.Sum(nil)[:16], got)
	assert.Len(t, KDF(key, LabelC2SCipher311, make([]byte, 64), 256), 32)
}

// [MS-SMB2] §3.1.4.2 for AES-256: the full 32-byte session key is used.
func TestDeriveKeysAES256UsesFullKey(t *testing.T) {
	sk := make([]byte, 32)
	for i := range sk {
		sk[i] = byte(i)
	}
	var pre PreauthHash
	k := DeriveKeys(sk, pre[:], 256)
	assert.Len(t, k.Encryption, 32)
	assert.Len(t, k.Signing, 16)
	assert.Equal(t, KDF(sk, LabelS2CCipher311, pre[:], 256), k.Encryption)
	assert.Equal(t, KDF(sk[:16], LabelSigning311, pre[:], 128), k.Signing)
	k30 := DeriveKeys(sk[:16], nil, 128)
	assert.Equal(t, KDF(sk[:16], LabelCipher30, ContextServerIn30, 128), k30.Decryption)
}

func testMessage(cmd uint16, flags uint32, mid uint64) []byte {
	msg := make([]byte, 64+24)
	copy(msg, "\xfeSMB")
	binary.LittleEndian.PutUint16(msg[4:], 64)
	binary.LittleEndian.PutUint16(msg[12:], cmd)
	binary.LittleEndian.PutUint32(msg[16:], flags)
	binary.LittleEndian.PutUint64(msg[24:], mid)
	for i := 64; i < len(msg); i++ {
		msg[i] = byte(i)
	}
	return msg
}

func TestSignersRoundTrip(t *testing.T) {
	key := unhex(t, "0123456789abcdef0123456789abcdef")
	for _, alg := range []uint16{SigningHMACSHA256, SigningAESCMAC, SigningAESGMAC} {
		s, err := NewSigner(alg, key)
		require.NoError(t, err)
		msg := testMessage(8, 0x8, 7)
		s.Sign(msg)
		assert.NotEqual(t, make([]byte, 16), msg[48:64])
		require.NoError(t, s.Verify(msg))
		msg[70] ^= 1
		assert.ErrorIs(t, s.Verify(msg), ErrBadSignature, "alg %d", alg)
	}
}

func TestGMACNonceDependsOnRoleAndCancel(t *testing.T) {
	s, err := NewSigner(SigningAESGMAC, make([]byte, 16))
	require.NoError(t, err)
	a := testMessage(8, 0, 5)
	b := testMessage(8, 1, 5)
	c := testMessage(cmdCancel, 0, 5)
	s.Sign(a)
	s.Sign(b)
	s.Sign(c)
	// b differs from a in its header flag too, so compare c and a's
	// signatures after giving them equal bodies: the nonce must differ.
	assert.NotEqual(t, a[48:64], b[48:64])
	assert.NotEqual(t, a[48:64], c[48:64])
}

func TestHMACSignerIsTruncatedHMACSHA256(t *testing.T) {
	key := unhex(t, "00112233445566778899aabbccddeeff")
	s, err := NewSigner(SigningHMACSHA256, key)
	require.NoError(t, err)
	msg := testMessage(8, 0x8, 1)
	s.Sign(msg)
	sig := append([]byte(nil), msg[48:64]...)
	clear(msg[48:64])
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	assert.Equal(t, m.Sum(nil)[:16], sig)
}

func TestAEADRoundTrip(t *testing.T) {
	for _, id := range []uint16{CipherAES128CCM, CipherAES128GCM, CipherAES256CCM, CipherAES256GCM} {
		key := make([]byte, CipherKeyBits(id)/8)
		key[0] = byte(id)
		a, err := NewAEAD(id, key)
		require.NoError(t, err)
		nonce := make([]byte, 16)
		nonce[0] = 9
		aad := []byte("0123456789abcdef0123456789abcdef")
		pt := []byte("hello, encrypted SMB world")
		ct, tag := a.Seal(nil, nonce, append([]byte(nil), pt...), aad)
		assert.NotEqual(t, pt, ct)
		out, err := a.Open(nil, nonce, ct, tag, aad)
		require.NoError(t, err)
		assert.Equal(t, pt, out)
		tag[0] ^= 1
		_, err = a.Open(nil, nonce, ct, tag, aad)
		assert.ErrorIs(t, err, ErrDecrypt)
	}
	_, err := NewAEAD(9, make([]byte, 16))
	assert.Error(t, err)
}

// RFC 3610 packet vector #1 through the same CCM construction with the
// RFC's parameters (M=8, 13-byte nonce), guarding the CCM dependency.
func TestCCMRFC3610Vector1(t *testing.T) {
	a, err := newCCMForTest(unhex(t, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"), 8, 13)
	require.NoError(t, err)
	nonce := unhex(t, "00000003020100a0a1a2a3a4a5")
	aad := unhex(t, "0001020304050607")
	pt := unhex(t, "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e")
	out := a.Seal(nil, nonce, pt, aad)
	assert.Equal(t, "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", hex.EncodeToString(out))
}

func TestPreauthHash(t *testing.T) {
	var h PreauthHash
	h.Update([]byte("abc"))
	want := sha512.Sum512(append(make([]byte, 64), "abc"...))
	assert.Equal(t, want[:], h[:])
	h.Update([]byte("d"))
	want2 := sha512.Sum512(append(want[:], 'd'))
	assert.Equal(t, want2[:], h[:])
}

func newCCMForTest(key []byte, tag, nonce int) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return ccm.NewCCM(b, tag, nonce)
}
