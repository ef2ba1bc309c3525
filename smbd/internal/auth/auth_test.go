package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	ntlmclient "github.com/Azure/go-ntlmssp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func testConfig(users UserDB) *Config {
	return &Config{
		Users: users, NetbiosName: "GCTDB", Domain: "WORKGROUP", DNSName: "gctdb", DNSDomain: "",
		Now: time.Now, Rand: rand.Reader,
	}
}

func TestNTHash(t *testing.T) {
	h := NTHash("Password")
	assert.Equal(t, "a4f49c406510bdcab6824ee7c30fd852", hex.EncodeToString(h[:]))
}

// buildAuth builds an AUTHENTICATE message with the given payload fields.
func buildAuth(lm, nt, domain, user, ws, encKey []byte, flags uint32, mic bool) []byte {
	payload := [][]byte{lm, nt, domain, user, ws, encKey}
	fixed := 64 + 8
	if mic {
		fixed += 16
	}
	msg := append([]byte(ntlmSignature), 3, 0, 0, 0)
	off := fixed
	for _, p := range payload {
		msg = binary.LittleEndian.AppendUint16(msg, uint16(len(p)))
		msg = binary.LittleEndian.AppendUint16(msg, uint16(len(p)))
		msg = binary.LittleEndian.AppendUint32(msg, uint32(off))
		off += len(p)
	}
	msg = binary.LittleEndian.AppendUint32(msg, flags)
	msg = append(msg, ntlmVersion...)
	if mic {
		msg = append(msg, make([]byte, 16)...)
	}
	for _, p := range payload {
		msg = append(msg, p...)
	}
	return msg
}

// [MS-NLMP] §4.2.4 NTLMv2 authentication vectors.
func TestNLMPVectors(t *testing.T) {
	users := NewMemoryUsers()
	users.Add("User", "Password")
	s := &ntlmServer{cfg: testConfig(users)}
	copy(s.serverChal[:], unhex(t, "0123456789abcdef"))
	s.challenge = []byte("x")
	s.negotiate = []byte("x")
	s.flags = flagKeyExch | flagSign | flagSeal | flagUnicode | flagExtendedSecurity
	temp := unhex(t, "0101000000000000"+"0000000000000000"+"aaaaaaaaaaaaaaaa"+"00000000"+
		"02000c0044006f006d00610069006e00"+"01000c005300650072007600650072000000000000000000")
	nt := append(unhex(t, "68cd0ab851e51c96aabc927bebef6a1c"), temp...)
	enc := unhex(t, "c5dad2544fc9799094ce1ce90bc9d03e")
	msg := buildAuth(make([]byte, 24), nt, utf16le("Domain"), utf16le("User"), utf16le("COMPUTER"), enc,
		flagKeyExch|flagSign|flagSeal|flagUnicode|flagExtendedSecurity, false)
	require.NoError(t, s.handleAuthenticate(context.Background(), msg))
	assert.Equal(t, bytes.Repeat([]byte{0x55}, 16), s.result.SessionKey, "exported session key")

	// Base key check: RC4(SessionBaseKey, 0x55...) is the vector's
	// EncryptedRandomSessionKey, so KEY_EXCH unwrapped it correctly.
	c, err := rc4.NewCipher(unhex(t, "8de40ccadbc14a82f15cb0ad0de95ca3"))
	require.NoError(t, err)
	out := make([]byte, 16)
	c.XORKeyStream(out, bytes.Repeat([]byte{0x55}, 16))
	assert.Equal(t, enc, out)

	// A wrong proof fails.
	nt[0] ^= 1
	msg = buildAuth(nil, nt, utf16le("Domain"), utf16le("User"), nil, enc, flagKeyExch|flagUnicode, false)
	assert.ErrorIs(t, s.handleAuthenticate(context.Background(), msg), ErrLogonFailure)
}

func TestTruncatedAVPairsIsInvalidParameter(t *testing.T) {
	users := NewMemoryUsers()
	users.Add("User", "Password")
	s := &ntlmServer{cfg: testConfig(users), challenge: []byte("x")}
	temp := unhex(t, "0101000000000000"+"0000000000000000"+"aaaaaaaaaaaaaaaa"+"00000000"+"02000c0044006f00")
	nt := append(make([]byte, 16), temp...)
	msg := buildAuth(nil, nt, nil, utf16le("User"), nil, nil, flagUnicode, false)
	assert.ErrorIs(t, s.handleAuthenticate(context.Background(), msg), ErrInvalidParameter)
}

func wrapInit(mechToken []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tagApp0, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSPNEGO)
		b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidNTLMSSP)
					})
				})
				b.AddASN1(tagContext2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(mechToken) })
			})
		})
	})
	return b.BytesOrPanic()
}

// The Azure client is an independent NTLMv2 implementation.
func TestAgainstAzureClient(t *testing.T) {
	users := NewMemoryUsers()
	users.Add("alice", "s3cret")
	for _, tc := range []struct {
		name, user, pass string
		wantErr          error
	}{
		{"ok", "alice", "s3cret", nil},
		{"case-insensitive user", "ALICE", "s3cret", nil},
		{"wrong password", "alice", "nope", ErrLogonFailure},
		{"unknown user", "bob", "s3cret", ErrLogonFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExchange(testConfig(users))
			neg, err := ntlmclient.NewNegotiateMessage("", "")
			require.NoError(t, err)
			out, done, err := e.Step(context.Background(), wrapInit(neg))
			require.NoError(t, err)
			require.False(t, done)
			resp, err := parseNegTokenResp(out)
			require.NoError(t, err)
			assert.True(t, resp.mech.Equal(oidNTLMSSP))
			am, err := ntlmclient.ProcessChallenge(resp.token, tc.user, tc.pass, false)
			require.NoError(t, err)
			var b cryptobyte.Builder
			b.AddASN1(tagContext1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(tagContext2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(am) })
				})
			})
			out, done, err = e.Step(context.Background(), b.BytesOrPanic())
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, done)
			final, err := parseNegTokenResp(out)
			require.NoError(t, err)
			assert.Equal(t, negAcceptCompleted, final.state)
			assert.Equal(t, "alice", e.Result().User)
			assert.Len(t, e.Result().SessionKey, 16)
		})
	}
}

func TestDisabledUser(t *testing.T) {
	users := NewMemoryUsers()
	users.Put(User{Name: "carol", NTHash: NTHash("pw"), Disabled: true})
	e := NewExchange(testConfig(users))
	neg, err := ntlmclient.NewNegotiateMessage("", "")
	require.NoError(t, err)
	chal, _, err := e.Step(context.Background(), neg)
	require.NoError(t, err)
	am, err := ntlmclient.ProcessChallenge(chal, "carol", "pw", false)
	require.NoError(t, err)
	_, _, err = e.Step(context.Background(), am)
	assert.ErrorIs(t, err, ErrAccountDisabled)
}

func TestNegTokenInit2Parses(t *testing.T) {
	init, err := parseNegTokenInit(NegTokenInit2())
	require.NoError(t, err)
	require.Len(t, init.mechs, 1)
	assert.True(t, init.mechs[0].Equal(oidNTLMSSP))
}

func FuzzSPNEGO(f *testing.F) {
	f.Add(NegTokenInit2())
	f.Add(wrapInit([]byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2")))
	f.Add(buildNegTokenResp(1, oidNTLMSSP, []byte("tok"), []byte("mic")))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseNegTokenInit(b)
		_, _ = parseNegTokenResp(b)
		users := NewMemoryUsers()
		users.Add("u", "p")
		e := NewExchange(testConfig(users))
		_, _, _ = e.Step(context.Background(), b)
		_, _, _ = e.Step(context.Background(), b)
	})
}

func FuzzNTLMSSP(f *testing.F) {
	f.Add(buildAuth(nil, make([]byte, 60), nil, utf16le("u"), nil, nil, flagUnicode, true))
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		users := NewMemoryUsers()
		users.Add("u", "p")
		s := &ntlmServer{cfg: testConfig(users)}
		_, _ = s.handleNegotiate(b)
		_ = s.handleAuthenticate(context.Background(), b)
		_, _ = avPairs(b)
	})
}
