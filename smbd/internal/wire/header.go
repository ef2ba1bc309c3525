// Package wire encodes and decodes SMB2/3 messages: the direct-TCP
// framing, the SMB2 and TRANSFORM headers, the command bodies, negotiate
// and create contexts and the FSCC information classes. Decoders never
// copy the payload and reject every offset or length that points outside
// the message; encoders append to a caller's buffer.
package wire

import (
	"encoding/binary"
	"errors"
)

// Command is an SMB2 command code.
type Command uint16

// SMB2 commands ([MS-SMB2] §2.2.1).
const (
	CmdNegotiate      Command = 0x00
	CmdSessionSetup   Command = 0x01
	CmdLogoff         Command = 0x02
	CmdTreeConnect    Command = 0x03
	CmdTreeDisconnect Command = 0x04
	CmdCreate         Command = 0x05
	CmdClose          Command = 0x06
	CmdFlush          Command = 0x07
	CmdRead           Command = 0x08
	CmdWrite          Command = 0x09
	CmdLock           Command = 0x0A
	CmdIoctl          Command = 0x0B
	CmdCancel         Command = 0x0C
	CmdEcho           Command = 0x0D
	CmdQueryDirectory Command = 0x0E
	CmdChangeNotify   Command = 0x0F
	CmdQueryInfo      Command = 0x10
	CmdSetInfo        Command = 0x11
	CmdOplockBreak    Command = 0x12
	NumCommands               = 0x13
)

// Header flags.
const (
	FlagResponse    uint32 = 0x00000001
	FlagAsync       uint32 = 0x00000002
	FlagRelated     uint32 = 0x00000004
	FlagSigned      uint32 = 0x00000008
	FlagPriorityMsk uint32 = 0x00000070
	FlagDFS         uint32 = 0x10000000
	FlagReplay      uint32 = 0x20000000
)

// Sizes and magic numbers.
const (
	HeaderSize          = 64
	TransformHeaderSize = 52
	ProtocolSMB2        = 0x424D53FE // "\xfeSMB" little-endian
	ProtocolTransform   = 0x424D53FD // "\xfdSMB"
	ProtocolSMB1        = 0x424D53FF // "\xffSMB"
)

// Errors returned by the decoders.
var (
	ErrShort         = errors.New("wire: message too short")
	ErrBadProtocol   = errors.New("wire: bad protocol id")
	ErrBadHeader     = errors.New("wire: bad header")
	ErrOutOfBounds   = errors.New("wire: offset or length outside the message")
	ErrStructureSize = errors.New("wire: wrong structure size")
	ErrFrameTooLarge = errors.New("wire: frame too large")
	ErrBadFrame      = errors.New("wire: bad transport frame")
	ErrBadContext    = errors.New("wire: malformed context")
	ErrBadAlignment  = errors.New("wire: misaligned compound element")
)

// Header is a decoded SMB2 header; sync and async forms share it.
type Header struct {
	CreditCharge uint16
	// Status is the status in responses and the ChannelSequence (low 16
	// bits) in 3.x requests.
	Status      uint32
	Command     Command
	Credit      uint16
	Flags       uint32
	NextCommand uint32
	MessageID   uint64
	AsyncID     uint64 // valid when Flags&FlagAsync
	TreeID      uint32 // valid when not async
	SessionID   uint64
	Signature   [16]byte
}

// DecodeHeader parses the 64-byte header at the start of b.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	if binary.LittleEndian.Uint32(b) != ProtocolSMB2 {
		return h, ErrBadProtocol
	}
	if binary.LittleEndian.Uint16(b[4:]) != HeaderSize {
		return h, ErrBadHeader
	}
	h.CreditCharge = binary.LittleEndian.Uint16(b[6:])
	h.Status = binary.LittleEndian.Uint32(b[8:])
	h.Command = Command(binary.LittleEndian.Uint16(b[12:]))
	h.Credit = binary.LittleEndian.Uint16(b[14:])
	h.Flags = binary.LittleEndian.Uint32(b[16:])
	h.NextCommand = binary.LittleEndian.Uint32(b[20:])
	h.MessageID = binary.LittleEndian.Uint64(b[24:])
	if h.Flags&FlagAsync != 0 {
		h.AsyncID = binary.LittleEndian.Uint64(b[32:])
	} else {
		h.TreeID = binary.LittleEndian.Uint32(b[36:])
	}
	h.SessionID = binary.LittleEndian.Uint64(b[40:])
	copy(h.Signature[:], b[48:64])
	return h, nil
}

// AppendHeader appends h in wire form.
func AppendHeader(b []byte, h *Header) []byte {
	b = binary.LittleEndian.AppendUint32(b, ProtocolSMB2)
	b = binary.LittleEndian.AppendUint16(b, HeaderSize)
	b = binary.LittleEndian.AppendUint16(b, h.CreditCharge)
	b = binary.LittleEndian.AppendUint32(b, h.Status)
	b = binary.LittleEndian.AppendUint16(b, uint16(h.Command))
	b = binary.LittleEndian.AppendUint16(b, h.Credit)
	b = binary.LittleEndian.AppendUint32(b, h.Flags)
	b = binary.LittleEndian.AppendUint32(b, h.NextCommand)
	b = binary.LittleEndian.AppendUint64(b, h.MessageID)
	if h.Flags&FlagAsync != 0 {
		b = binary.LittleEndian.AppendUint64(b, h.AsyncID)
	} else {
		b = binary.LittleEndian.AppendUint32(b, 0xFEFF) // Reserved (ProcessId)
		b = binary.LittleEndian.AppendUint32(b, h.TreeID)
	}
	b = binary.LittleEndian.AppendUint64(b, h.SessionID)
	return append(b, h.Signature[:]...)
}

// SetNextCommand patches the NextCommand field of the header at msg[0:].
func SetNextCommand(msg []byte, next uint32) {
	binary.LittleEndian.PutUint32(msg[20:], next)
}

// SetFlags patches the Flags field of the header at msg[0:].
func SetFlags(msg []byte, flags uint32) {
	binary.LittleEndian.PutUint32(msg[16:], flags)
}

// SplitCompound returns the elements of a (possibly compounded) SMB2
// message. Every element but the last must be 8-byte aligned and at least
// a header long; NextCommand must stay inside the message.
func SplitCompound(msg []byte) ([][]byte, error) {
	var out [][]byte
	for {
		if len(msg) < HeaderSize {
			return nil, ErrShort
		}
		if binary.LittleEndian.Uint32(msg) != ProtocolSMB2 {
			return nil, ErrBadProtocol
		}
		next := binary.LittleEndian.Uint32(msg[20:])
		if next == 0 {
			return append(out, msg), nil
		}
		if next%8 != 0 {
			return nil, ErrBadAlignment
		}
		if next < HeaderSize || uint64(next) > uint64(len(msg)) {
			return nil, ErrOutOfBounds
		}
		out = append(out, msg[:next])
		msg = msg[next:]
		if len(out) > 512 {
			return nil, ErrBadHeader
		}
	}
}
