package proto

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Frame constants.
const (
	// Magic is "GCTD" read as bytes on the wire.
	Magic uint32 = 0x44544347
	// HeaderSize is the fixed size of every frame header.
	HeaderSize = 56
	// MaxFrameSize bounds a whole frame; larger frames are refused before
	// any allocation. Bulk transfers (recovery, traverse) are chunked well
	// below it.
	MaxFrameSize = 32 << 20
	// PayloadVersion is the payload format version this code writes.
	PayloadVersion uint16 = 1
)

// Protocol versions spoken by this build. A connection uses the highest
// version both ends support.
const (
	MinProtocolVersion uint16 = 1
	MaxProtocolVersion uint16 = 1
)

// Header flags.
const (
	// FlagRequest marks a frame that expects a reply with the same reqid.
	FlagRequest uint32 = 1 << 0
	// FlagReply marks a reply; its payload starts with the reply envelope.
	FlagReply uint32 = 1 << 1
	// FlagPriority puts a frame in the high-priority queue of a link, ahead
	// of data traffic (leader broadcasts, membership, elections).
	FlagPriority uint32 = 1 << 2

	knownFlags = FlagRequest | FlagReply | FlagPriority
)

// Special node numbers, as CTDB's.
const (
	PNNUnknown            uint32 = 0xFFFFFFFF
	PNNLocal              uint32 = 0xF0000001 // the node that receives the frame first
	PNNBroadcastAll       uint32 = 0xF0000002 // every node in the nodes file
	PNNBroadcastVNNMap    uint32 = 0xF0000003 // every node in the current vnnmap
	PNNBroadcastConnected uint32 = 0xF0000004 // every connected node, this one included
	PNNBroadcastActive    uint32 = 0xF0000005 // every connected node that is not inactive
)

// IsBroadcast reports whether pnn names a set of nodes.
func IsBroadcast(pnn uint32) bool {
	return pnn >= PNNBroadcastAll && pnn <= PNNBroadcastActive
}

// Endpoint addresses a service instance: a node, a service on it and an
// instance id (a client connection, a message srvid, a lock holder...).
type Endpoint struct {
	PNN     uint32
	Service ServiceID
	ID      uint64
}

// EndpointSize is the encoded size of an Endpoint.
const EndpointSize = 16

// AppendTo appends the endpoint encoding.
func (e Endpoint) AppendTo(b []byte) []byte {
	b = AppendU32(b, e.PNN)
	b = AppendU32(b, uint32(e.Service))
	return AppendU64(b, e.ID)
}

// DecodeFrom reads an endpoint.
func (e *Endpoint) DecodeFrom(d *Decoder) {
	e.PNN = d.U32()
	e.Service = ServiceID(d.U32())
	e.ID = d.U64()
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%s/%s/%d", pnnString(e.PNN), e.Service, e.ID)
}

func pnnString(pnn uint32) string {
	switch pnn {
	case PNNUnknown:
		return "unknown"
	case PNNLocal:
		return "local"
	case PNNBroadcastAll:
		return "all"
	case PNNBroadcastVNNMap:
		return "vnnmap"
	case PNNBroadcastConnected:
		return "connected"
	case PNNBroadcastActive:
		return "active"
	}
	return fmt.Sprint(pnn)
}

// Header is the fixed frame header.
type Header struct {
	Length          uint32
	Magic           uint32
	ProtocolVersion uint16
	PayloadVersion  uint16
	Dst             Endpoint
	Src             Endpoint
	Flags           uint32
	ReqID           uint32
	Opcode          Opcode
}

// AppendTo appends the 56-byte header.
func (h *Header) AppendTo(b []byte) []byte {
	b = AppendU32(b, h.Length)
	b = AppendU32(b, h.Magic)
	b = AppendU16(b, h.ProtocolVersion)
	b = AppendU16(b, h.PayloadVersion)
	b = h.Dst.AppendTo(b)
	b = h.Src.AppendTo(b)
	b = AppendU32(b, h.Flags)
	b = AppendU32(b, h.ReqID)
	return AppendU32(b, uint32(h.Opcode))
}

// DecodeFrom reads a header without validating it.
func (h *Header) DecodeFrom(d *Decoder) {
	h.Length = d.U32()
	h.Magic = d.U32()
	h.ProtocolVersion = d.U16()
	h.PayloadVersion = d.U16()
	h.Dst.DecodeFrom(d)
	h.Src.DecodeFrom(d)
	h.Flags = d.U32()
	h.ReqID = d.U32()
	h.Opcode = Opcode(d.U32())
}

// Validate checks the fields every frame must satisfy: magic, length
// bounds, known flags, a sane flag combination and a payload version. The protocol version is
// checked by the connection against the negotiated one.
func (h *Header) Validate(maxFrame int) error {
	if h.Magic != Magic {
		return fmt.Errorf("%w: bad magic 0x%08x", ErrMalformed, h.Magic)
	}
	if h.Length < HeaderSize {
		return fmt.Errorf("%w: frame length %d below header size", ErrMalformed, h.Length)
	}
	if int64(h.Length) > int64(maxFrame) {
		return fmt.Errorf("%w: frame length %d, limit %d", ErrTooLarge, h.Length, maxFrame)
	}
	if h.Flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags 0x%x", ErrMalformed, h.Flags&^knownFlags)
	}
	if h.Flags&FlagRequest != 0 && h.Flags&FlagReply != 0 {
		return fmt.Errorf("%w: frame is both request and reply", ErrMalformed)
	}
	// Every sender writes a payload version (Encode defaults it to
	// PayloadVersion); 0 would not survive re-encoding.
	if h.PayloadVersion == 0 {
		return fmt.Errorf("%w: payload version 0", ErrMalformed)
	}
	return nil
}

// Message is one frame: header plus raw payload.
type Message struct {
	Header
	Payload []byte
}

// IsRequest reports whether the sender waits for a reply.
func (m *Message) IsRequest() bool { return m.Flags&FlagRequest != 0 }

// IsReply reports whether the frame answers a request.
func (m *Message) IsReply() bool { return m.Flags&FlagReply != 0 }

// Encode returns the frame bytes, setting Length, Magic and the payload
// version if unset.
func (m *Message) Encode() []byte {
	return m.AppendFrame(make([]byte, 0, HeaderSize+len(m.Payload)))
}

// AppendFrame appends the whole frame to b.
func (m *Message) AppendFrame(b []byte) []byte {
	h := m.Header
	h.Length = uint32(HeaderSize + len(m.Payload))
	h.Magic = Magic
	if h.PayloadVersion == 0 {
		h.PayloadVersion = PayloadVersion
	}
	b = h.AppendTo(b)
	return append(b, m.Payload...)
}

// DecodeFrame parses one complete frame held in b (exactly one frame).
func DecodeFrame(b []byte, maxFrame int) (*Message, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrShort, len(b))
	}
	m := &Message{}
	d := NewDecoder(b[:HeaderSize], false)
	m.Header.DecodeFrom(d)
	if err := d.Finish(); err != nil {
		return nil, err
	}
	if err := m.Header.Validate(maxFrame); err != nil {
		return nil, err
	}
	if int(m.Length) != len(b) {
		return nil, fmt.Errorf("%w: header length %d, frame %d bytes", ErrMalformed, m.Length, len(b))
	}
	m.Payload = b[HeaderSize:]
	return m, nil
}

// ReadFrame reads one frame from r. The header is validated before the
// payload is allocated, so a hostile length costs nothing.
func ReadFrame(r io.Reader, maxFrame int) (*Message, error) {
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return nil, err
	}
	m := &Message{}
	d := NewDecoder(hb[:], false)
	m.Header.DecodeFrom(d)
	if err := m.Header.Validate(maxFrame); err != nil {
		return nil, err
	}
	n := int(m.Length) - HeaderSize
	if n > 0 {
		m.Payload = make([]byte, n)
		if _, err := io.ReadFull(r, m.Payload); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read payload of %d bytes: %w", n, err)
		}
	}
	return m, nil
}

// PeekLength returns the frame length stored in the first four bytes of a
// header, for stream reassembly.
func PeekLength(hdr []byte) uint32 { return binary.LittleEndian.Uint32(hdr) }

// DecodePayload decodes m's payload into p. Trailing bytes are allowed
// only when the sender wrote a newer payload version than this build knows.
func DecodePayload(m *Message, p Payload) error {
	d := NewDecoder(m.Payload, m.PayloadVersion > PayloadVersion)
	p.DecodeFrom(d)
	if err := d.Finish(); err != nil {
		return fmt.Errorf("decode %s payload: %w", m.Opcode, err)
	}
	return nil
}
