package wire

import (
	"encoding/binary"
	"fmt"
)

// FileID is an SMB2 file handle ([MS-SMB2] §2.2.14.1).
type FileID struct {
	Persistent uint64
	Volatile   uint64
}

// RelatedFileID is the FileId that means "the handle of the previous
// request in a related compound".
var RelatedFileID = FileID{^uint64(0), ^uint64(0)}

func getFileID(b []byte) FileID {
	return FileID{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
}

// AppendFileID appends f in wire form.
func AppendFileID(b []byte, f FileID) []byte {
	b = binary.LittleEndian.AppendUint64(b, f.Persistent)
	return binary.LittleEndian.AppendUint64(b, f.Volatile)
}

// requestStructureSize is the StructureSize every request must carry.
var requestStructureSize = [NumCommands]uint16{
	CmdNegotiate: 36, CmdSessionSetup: 25, CmdLogoff: 4, CmdTreeConnect: 9,
	CmdTreeDisconnect: 4, CmdCreate: 57, CmdClose: 24, CmdFlush: 24,
	CmdRead: 49, CmdWrite: 49, CmdLock: 48, CmdIoctl: 57, CmdCancel: 4,
	CmdEcho: 4, CmdQueryDirectory: 33, CmdChangeNotify: 32, CmdQueryInfo: 41,
	CmdSetInfo: 33, CmdOplockBreak: 24,
}

// CheckBody validates the StructureSize of a request element and that its
// fixed part is present. The low bit of a size announces a variable part,
// of which at least one byte is normally present but not required.
func CheckBody(msg []byte, cmd Command) ([]byte, error) {
	if int(cmd) >= NumCommands {
		return nil, fmt.Errorf("%w: command %#x", ErrBadHeader, cmd)
	}
	body := msg[HeaderSize:]
	if len(body) < 2 {
		return nil, ErrStructureSize
	}
	got := binary.LittleEndian.Uint16(body)
	want := requestStructureSize[cmd]
	if cmd == CmdOplockBreak && (got == 24 || got == 36) {
		want = got
	}
	if got != want {
		return nil, fmt.Errorf("%w: %d, want %d", ErrStructureSize, got, want)
	}
	if len(body) < int(want&^1) {
		return nil, ErrShort
	}
	return body, nil
}

// Span returns msg[off:off+n] where off is relative to the start of the
// element's header, or an error if it leaves the element. A zero length
// yields an empty span regardless of the offset.
func Span(msg []byte, off, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	end := uint64(off) + uint64(n)
	if off < HeaderSize || end > uint64(len(msg)) {
		return nil, ErrOutOfBounds
	}
	return msg[off:end], nil
}

// ErrorBody appends the 9-byte error response body with optional data
// ([MS-SMB2] §2.2.2).
func ErrorBody(b []byte, data []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, 9)
	b = append(b, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	if len(data) == 0 {
		return append(b, 0)
	}
	return append(b, data...)
}

// AppendChained appends n entries that each start with a NextEntryOffset
// (u32) field, padding every entry but the last to align bytes and
// patching the offsets, as FSCC lists (streams, EAs, contexts) require.
func AppendChained(b []byte, n, align int, entry func(b []byte, i int) []byte) []byte {
	for i := 0; i < n; i++ {
		start := len(b)
		b = entry(b, i)
		if i < n-1 {
			for (len(b)-start)%align != 0 {
				b = append(b, 0)
			}
			binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
		}
	}
	return b
}
