// Package auth authenticates SMB sessions: SPNEGO ([MS-SPNG], RFC 4178)
// carrying NTLMSSP ([MS-NLMP]) with NTLMv2, key exchange, the message
// integrity code and the mechListMIC, against a user database of NT
// hashes.
package auth

import (
	"errors"
	"fmt"

	"encoding/asn1"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers used in SPNEGO.
var (
	oidSPNEGO  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	oidNTLMSSP = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
)

// Errors of SPNEGO parsing.
var (
	ErrMalformed = errors.New("auth: malformed token")
	ErrNoMech    = errors.New("auth: no supported mechanism")
)

// SPNEGO negotiation states (NegTokenResp negState).
const (
	negAcceptCompleted  = 0
	negAcceptIncomplete = 1
	negReject           = 2
)

// Context-specific constructed tags [0]..[3] and [APPLICATION 0].
const (
	tagContext0 cbasn1.Tag = 0xA0
	tagContext1 cbasn1.Tag = 0xA1
	tagContext2 cbasn1.Tag = 0xA2
	tagContext3 cbasn1.Tag = 0xA3
	tagApp0     cbasn1.Tag = 0x60
)

// negTokenInit is the part of a client's initial token we use.
type negTokenInit struct {
	mechTypesDER []byte // the exact DER of the mechTypes SEQUENCE
	mechs        []asn1.ObjectIdentifier
	mechToken    []byte
	mechListMIC  []byte
}

// negTokenResp is a client's or server's continuation token.
type negTokenResp struct {
	state       int
	hasState    bool
	mech        asn1.ObjectIdentifier
	token       []byte
	mechListMIC []byte
}

func readOID(s *cryptobyte.String) (asn1.ObjectIdentifier, bool) {
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&oid) {
		return nil, false
	}
	return oid, true
}

// parseNegTokenInit parses [APPLICATION 0] { OID spnego, [0] NegTokenInit }.
func parseNegTokenInit(b []byte) (*negTokenInit, error) {
	s := cryptobyte.String(b)
	var app, body cryptobyte.String
	if !s.ReadASN1(&app, tagApp0) || !s.Empty() {
		return nil, fmt.Errorf("%w: no application wrapper", ErrMalformed)
	}
	oid, ok := readOID(&app)
	if !ok || !oid.Equal(oidSPNEGO) {
		return nil, fmt.Errorf("%w: not SPNEGO", ErrMalformed)
	}
	if !app.ReadASN1(&body, tagContext0) || !app.Empty() {
		return nil, fmt.Errorf("%w: no NegTokenInit", ErrMalformed)
	}
	var seq cryptobyte.String
	if !body.ReadASN1(&seq, cbasn1.SEQUENCE) || !body.Empty() {
		return nil, ErrMalformed
	}
	t := &negTokenInit{}
	var mt cryptobyte.String
	if !seq.ReadASN1(&mt, tagContext0) {
		return nil, fmt.Errorf("%w: no mechTypes", ErrMalformed)
	}
	var der cryptobyte.String
	if !mt.ReadASN1Element(&der, cbasn1.SEQUENCE) || !mt.Empty() {
		return nil, ErrMalformed
	}
	t.mechTypesDER = der
	var list cryptobyte.String
	if !der.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, ErrMalformed
	}
	for !list.Empty() {
		oid, ok := readOID(&list)
		if !ok {
			return nil, ErrMalformed
		}
		t.mechs = append(t.mechs, oid)
	}
	var skip cryptobyte.String
	if seq.PeekASN1Tag(tagContext1) && !seq.ReadASN1(&skip, tagContext1) {
		return nil, ErrMalformed
	}
	if seq.PeekASN1Tag(tagContext2) {
		var w cryptobyte.String
		if !seq.ReadASN1(&w, tagContext2) || !w.ReadASN1Bytes(&t.mechToken, cbasn1.OCTET_STRING) {
			return nil, ErrMalformed
		}
	}
	if seq.PeekASN1Tag(tagContext3) {
		var w cryptobyte.String
		// Some clients put negHints here; a non-OCTET STRING is ignored.
		if !seq.ReadASN1(&w, tagContext3) {
			return nil, ErrMalformed
		}
		if w.PeekASN1Tag(cbasn1.OCTET_STRING) {
			w.ReadASN1Bytes(&t.mechListMIC, cbasn1.OCTET_STRING)
		}
	}
	return t, nil
}

// parseNegTokenResp parses [1] NegTokenResp.
func parseNegTokenResp(b []byte) (*negTokenResp, error) {
	s := cryptobyte.String(b)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, tagContext1) || !s.Empty() {
		return nil, fmt.Errorf("%w: no NegTokenResp", ErrMalformed)
	}
	if !body.ReadASN1(&seq, cbasn1.SEQUENCE) || !body.Empty() {
		return nil, ErrMalformed
	}
	t := &negTokenResp{}
	if seq.PeekASN1Tag(tagContext0) {
		var w, e cryptobyte.String
		if !seq.ReadASN1(&w, tagContext0) || !w.ReadASN1(&e, cbasn1.ENUM) || len(e) != 1 {
			return nil, ErrMalformed
		}
		t.state, t.hasState = int(e[0]), true
	}
	if seq.PeekASN1Tag(tagContext1) {
		var w cryptobyte.String
		if !seq.ReadASN1(&w, tagContext1) {
			return nil, ErrMalformed
		}
		oid, ok := readOID(&w)
		if !ok {
			return nil, ErrMalformed
		}
		t.mech = oid
	}
	if seq.PeekASN1Tag(tagContext2) {
		var w cryptobyte.String
		if !seq.ReadASN1(&w, tagContext2) || !w.ReadASN1Bytes(&t.token, cbasn1.OCTET_STRING) {
			return nil, ErrMalformed
		}
	}
	if seq.PeekASN1Tag(tagContext3) {
		var w cryptobyte.String
		if !seq.ReadASN1(&w, tagContext3) || !w.ReadASN1Bytes(&t.mechListMIC, cbasn1.OCTET_STRING) {
			return nil, ErrMalformed
		}
	}
	return t, nil
}

func addOID(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1ObjectIdentifier(oid)
}

// NegTokenInit2 builds the server's hint for the NEGOTIATE response:
// NTLMSSP as the only mechanism and the conventional negHints.
func NegTokenInit2() []byte {
	var b cryptobyte.Builder
	b.AddASN1(tagApp0, func(b *cryptobyte.Builder) {
		addOID(b, oidSPNEGO)
		b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addOID(b, oidNTLMSSP)
					})
				})
				b.AddASN1(tagContext3, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.GeneralString, func(b *cryptobyte.Builder) {
								b.AddBytes([]byte("not_defined_in_RFC4178@please_ignore"))
							})
						})
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// buildNegTokenResp encodes a NegTokenResp; mech is added when non-nil.
func buildNegTokenResp(state int, mech asn1.ObjectIdentifier, token, mic []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tagContext1, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(tagContext0, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(state)) })
			})
			if mech != nil {
				b.AddASN1(tagContext1, func(b *cryptobyte.Builder) { addOID(b, mech) })
			}
			if token != nil {
				b.AddASN1(tagContext2, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(token)
				})
			}
			if mic != nil {
				b.AddASN1(tagContext3, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(mic)
				})
			}
		})
	})
	return b.BytesOrPanic()
}
