package wire

import "encoding/binary"

// Dialects.
const (
	Dialect202      uint16 = 0x0202
	Dialect210      uint16 = 0x0210
	Dialect300      uint16 = 0x0300
	Dialect302      uint16 = 0x0302
	Dialect311      uint16 = 0x0311
	DialectWildcard uint16 = 0x02FF
)

// Security mode bits.
const (
	SigningEnabled  uint16 = 0x0001
	SigningRequired uint16 = 0x0002
)

// Global capabilities.
const (
	CapDFS               uint32 = 0x00000001
	CapLeasing           uint32 = 0x00000002
	CapLargeMTU          uint32 = 0x00000004
	CapMultiChannel      uint32 = 0x00000008
	CapPersistentHandles uint32 = 0x00000010
	CapDirectoryLeasing  uint32 = 0x00000020
	CapEncryption        uint32 = 0x00000040
)

// Negotiate context types ([MS-SMB2] §2.2.3.1).
const (
	CtxPreauthIntegrity uint16 = 0x0001
	CtxEncryption       uint16 = 0x0002
	CtxCompression      uint16 = 0x0003
	CtxNetname          uint16 = 0x0005
	CtxTransport        uint16 = 0x0006
	CtxRDMATransform    uint16 = 0x0007
	CtxSigning          uint16 = 0x0008
)

// HashSHA512 is the only preauth integrity hash algorithm.
const HashSHA512 uint16 = 1

// NegotiateRequest is a decoded NEGOTIATE request.
type NegotiateRequest struct {
	SecurityMode uint16
	Capabilities uint32
	ClientGUID   [16]byte
	Dialects     []uint16
	Contexts     []NegContext
}

// NegContext is one negotiate context; Data points into the message.
type NegContext struct {
	Type uint16
	Data []byte
}

// ParseNegotiate decodes a NEGOTIATE request element (header included).
func ParseNegotiate(msg []byte) (*NegotiateRequest, error) {
	body, err := CheckBody(msg, CmdNegotiate)
	if err != nil {
		return nil, err
	}
	r := &NegotiateRequest{}
	count := int(binary.LittleEndian.Uint16(body[2:]))
	r.SecurityMode = binary.LittleEndian.Uint16(body[4:])
	r.Capabilities = binary.LittleEndian.Uint32(body[8:])
	copy(r.ClientGUID[:], body[12:28])
	if len(body) < 36+2*count {
		return nil, ErrOutOfBounds
	}
	r.Dialects = make([]uint16, count)
	has311 := false
	for i := range r.Dialects {
		r.Dialects[i] = binary.LittleEndian.Uint16(body[36+2*i:])
		if r.Dialects[i] == Dialect311 {
			has311 = true
		}
	}
	if !has311 {
		return r, nil
	}
	ctxOff := binary.LittleEndian.Uint32(body[28:])
	ctxCount := int(binary.LittleEndian.Uint16(body[32:]))
	if ctxCount == 0 {
		return r, nil
	}
	if uint64(ctxOff) > uint64(len(msg)) || ctxOff < HeaderSize {
		return nil, ErrOutOfBounds
	}
	rest := msg[ctxOff:]
	for i := 0; i < ctxCount; i++ {
		if i > 0 {
			// Contexts after the first start 8-byte aligned.
			pad := (8 - (len(msg)-len(rest))%8) % 8
			if pad > len(rest) {
				return nil, ErrBadContext
			}
			rest = rest[pad:]
		}
		if len(rest) < 8 {
			return nil, ErrBadContext
		}
		t := binary.LittleEndian.Uint16(rest)
		n := int(binary.LittleEndian.Uint16(rest[2:]))
		if len(rest) < 8+n {
			return nil, ErrBadContext
		}
		r.Contexts = append(r.Contexts, NegContext{Type: t, Data: rest[8 : 8+n]})
		rest = rest[8+n:]
	}
	return r, nil
}

// NegotiateResponse is the NEGOTIATE response.
type NegotiateResponse struct {
	SecurityMode    uint16
	Dialect         uint16
	ServerGUID      [16]byte
	Capabilities    uint32
	MaxTransactSize uint32
	MaxReadSize     uint32
	MaxWriteSize    uint32
	SystemTime      uint64
	ServerStartTime uint64
	SecurityBuffer  []byte
	Contexts        []NegContext
}

// AppendNegotiateResponse appends the body; b must start at the header
// (offsets are computed from len(b) at the header start minus 64).
func AppendNegotiateResponse(b []byte, hdrStart int, r *NegotiateResponse) []byte {
	b = binary.LittleEndian.AppendUint16(b, 65)
	b = binary.LittleEndian.AppendUint16(b, r.SecurityMode)
	b = binary.LittleEndian.AppendUint16(b, r.Dialect)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Contexts)))
	b = append(b, r.ServerGUID[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Capabilities)
	b = binary.LittleEndian.AppendUint32(b, r.MaxTransactSize)
	b = binary.LittleEndian.AppendUint32(b, r.MaxReadSize)
	b = binary.LittleEndian.AppendUint32(b, r.MaxWriteSize)
	b = binary.LittleEndian.AppendUint64(b, r.SystemTime)
	b = binary.LittleEndian.AppendUint64(b, r.ServerStartTime)
	secOff := HeaderSize + 64
	b = binary.LittleEndian.AppendUint16(b, uint16(secOff))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.SecurityBuffer)))
	ctxOffPos := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(b, r.SecurityBuffer...)
	if len(r.SecurityBuffer) == 0 {
		b = append(b, 0)
	}
	if len(r.Contexts) == 0 {
		return b
	}
	for (len(b)-hdrStart)%8 != 0 {
		b = append(b, 0)
	}
	binary.LittleEndian.PutUint32(b[ctxOffPos:], uint32(len(b)-hdrStart))
	for i, c := range r.Contexts {
		if i > 0 {
			for (len(b)-hdrStart)%8 != 0 {
				b = append(b, 0)
			}
		}
		b = binary.LittleEndian.AppendUint16(b, c.Type)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Data)))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = append(b, c.Data...)
	}
	return b
}

// ParseIDList parses the "count u16, ... , ids u16[count]" layout of the
// encryption and signing capability contexts: skip bytes precede the ids.
func ParseIDList(data []byte) ([]uint16, error) {
	if len(data) < 2 {
		return nil, ErrBadContext
	}
	n := int(binary.LittleEndian.Uint16(data))
	if n == 0 || len(data) < 2+2*n {
		return nil, ErrBadContext
	}
	ids := make([]uint16, n)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint16(data[2+2*i:])
	}
	return ids, nil
}

// PreauthContext is a decoded PREAUTH_INTEGRITY_CAPABILITIES context.
type PreauthContext struct {
	Hashes []uint16
	Salt   []byte
}

// ParsePreauthContext decodes PREAUTH_INTEGRITY_CAPABILITIES data.
func ParsePreauthContext(data []byte) (PreauthContext, error) {
	var p PreauthContext
	if len(data) < 4 {
		return p, ErrBadContext
	}
	n := int(binary.LittleEndian.Uint16(data))
	sl := int(binary.LittleEndian.Uint16(data[2:]))
	if n == 0 || len(data) < 4+2*n+sl {
		return p, ErrBadContext
	}
	for i := 0; i < n; i++ {
		p.Hashes = append(p.Hashes, binary.LittleEndian.Uint16(data[4+2*i:]))
	}
	p.Salt = data[4+2*n : 4+2*n+sl]
	return p, nil
}

// AppendPreauthContext encodes one hash id and a salt.
func AppendPreauthContext(b []byte, hash uint16, salt []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(salt)))
	b = binary.LittleEndian.AppendUint16(b, hash)
	return append(b, salt...)
}

// AppendIDList encodes a one-entry id list (encryption or signing reply).
func AppendIDList(b []byte, id uint16) []byte {
	b = binary.LittleEndian.AppendUint16(b, 1)
	return binary.LittleEndian.AppendUint16(b, id)
}
