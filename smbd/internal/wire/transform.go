package wire

import "encoding/binary"

// TransformHeader is the SMB 3.x TRANSFORM_HEADER ([MS-SMB2] §2.2.41).
type TransformHeader struct {
	Signature           [16]byte
	Nonce               [16]byte
	OriginalMessageSize uint32
	Flags               uint16 // EncryptionAlgorithm in 3.0/3.0.2, Flags in 3.1.1: 1 = encrypted
	SessionID           uint64
}

// DecodeTransform parses a TRANSFORM header and returns it with the
// encrypted payload, checking that OriginalMessageSize matches.
func DecodeTransform(b []byte) (TransformHeader, []byte, error) {
	var t TransformHeader
	if len(b) < TransformHeaderSize {
		return t, nil, ErrShort
	}
	if binary.LittleEndian.Uint32(b) != ProtocolTransform {
		return t, nil, ErrBadProtocol
	}
	copy(t.Signature[:], b[4:20])
	copy(t.Nonce[:], b[20:36])
	t.OriginalMessageSize = binary.LittleEndian.Uint32(b[36:])
	t.Flags = binary.LittleEndian.Uint16(b[42:])
	t.SessionID = binary.LittleEndian.Uint64(b[44:])
	payload := b[TransformHeaderSize:]
	if uint64(t.OriginalMessageSize) != uint64(len(payload)) || t.OriginalMessageSize < HeaderSize {
		return t, nil, ErrOutOfBounds
	}
	return t, payload, nil
}

// AppendTransform appends the header; the signature field is written as
// given (callers patch it after sealing).
func AppendTransform(b []byte, t *TransformHeader) []byte {
	b = binary.LittleEndian.AppendUint32(b, ProtocolTransform)
	b = append(b, t.Signature[:]...)
	b = append(b, t.Nonce[:]...)
	b = binary.LittleEndian.AppendUint32(b, t.OriginalMessageSize)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint16(b, t.Flags)
	return binary.LittleEndian.AppendUint64(b, t.SessionID)
}

// TransformAAD returns the authenticated bytes of an encoded header: the
// 32 bytes from Nonce to the end.
func TransformAAD(hdr []byte) []byte { return hdr[20:TransformHeaderSize] }
