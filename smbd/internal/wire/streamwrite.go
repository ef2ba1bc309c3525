package wire

import "encoding/binary"

// WriteHeadSize is the size of a WRITE request's header and fixed body;
// its data usually follows at this offset.
const WriteHeadSize = HeaderSize + 48

// StreamableWrite looks at the start of a frame — the 4-byte transport
// prefix and at least WriteHeadSize bytes — and reports whether it is a
// lone (not compounded), unsigned, unencrypted WRITE request whose data
// directly follows its fixed body and fills the rest of the frame. Such a
// WRITE can be served while its data is still arriving: nothing in the
// data needs to be checked before it is written. It returns the data
// length.
func StreamableWrite(head []byte) (dataLen int, ok bool) {
	if len(head) < 4+WriteHeadSize || head[0] != 0 {
		return 0, false
	}
	frame := int(binary.BigEndian.Uint32(head) & MaxFrame)
	m := head[4:]
	if binary.LittleEndian.Uint32(m) != ProtocolSMB2 || binary.LittleEndian.Uint16(m[4:]) != HeaderSize {
		return 0, false
	}
	flags := binary.LittleEndian.Uint32(m[16:])
	if Command(binary.LittleEndian.Uint16(m[12:])) != CmdWrite ||
		flags&(FlagResponse|FlagRelated|FlagSigned) != 0 ||
		binary.LittleEndian.Uint32(m[20:]) != 0 { // NextCommand
		return 0, false
	}
	body := m[HeaderSize:]
	if binary.LittleEndian.Uint16(body) != 49 || binary.LittleEndian.Uint16(body[2:]) != WriteHeadSize {
		return 0, false
	}
	n := int(binary.LittleEndian.Uint32(body[4:]))
	if frame < WriteHeadSize || n != frame-WriteHeadSize {
		return 0, false
	}
	return n, true
}

// ParseWriteHead decodes a WRITE request of which only the header and
// fixed body are in msg (its data is streamed separately); Data is nil.
func ParseWriteHead(msg []byte) (*WriteRequest, error) {
	body, err := CheckBody(msg, CmdWrite)
	if err != nil {
		return nil, err
	}
	return &WriteRequest{
		Offset:  le.Uint64(body[8:]),
		FileID:  getFileID(body[16:]),
		Channel: le.Uint32(body[32:]),
		Flags:   le.Uint32(body[44:]),
	}, nil
}
