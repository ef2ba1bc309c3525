package wire

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// framedWrite builds the transport prefix, header and fixed body of a
// WRITE of n data bytes (the data itself is left out).
func framedWrite(n int, mutate func(m []byte)) []byte {
	body := make([]byte, 48)
	binary.LittleEndian.PutUint16(body, 49)
	binary.LittleEndian.PutUint16(body[2:], WriteHeadSize)
	binary.LittleEndian.PutUint32(body[4:], uint32(n))
	binary.LittleEndian.PutUint64(body[8:], 4096)
	m := request(CmdWrite, body)
	if mutate != nil {
		mutate(m)
	}
	pfx := FramePrefix(len(m) + n)
	return append(pfx[:], m...)
}

func TestStreamableWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		head   []byte
		wantN  int
		wantOK bool
	}{
		{"plain write", framedWrite(1<<20, nil), 1 << 20, true},
		{"empty write", framedWrite(0, nil), 0, true},
		{"signed", framedWrite(1<<20, func(m []byte) { m[16] |= byte(FlagSigned) }), 0, false},
		{"related", framedWrite(1<<20, func(m []byte) { m[16] |= byte(FlagRelated) }), 0, false},
		{"response", framedWrite(1<<20, func(m []byte) { m[16] |= byte(FlagResponse) }), 0, false},
		{"compound", framedWrite(1<<20, func(m []byte) { m[20] = 8 }), 0, false},
		{"read", framedWrite(1<<20, func(m []byte) { m[12] = byte(CmdRead) }), 0, false},
		{"data elsewhere", framedWrite(1<<20, func(m []byte) { m[HeaderSize+2] = 0x78 }), 0, false},
		{"length beyond frame", framedWrite(1<<20, func(m []byte) { m[HeaderSize+7] = 1 }), 0, false},
		{"bad structure size", framedWrite(1<<20, func(m []byte) { m[HeaderSize] = 48 }), 0, false},
		{"transform", framedWrite(1<<20, func(m []byte) { m[0] = 0xFD }), 0, false},
		{"short", framedWrite(1<<20, nil)[:4+WriteHeadSize-1], 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := StreamableWrite(tc.head)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.wantN, n)
		})
	}
}

func TestParseWriteHead(t *testing.T) {
	head := framedWrite(100, nil)[4:]
	w, err := ParseWriteHead(head)
	require.NoError(t, err)
	assert.Equal(t, uint64(4096), w.Offset)
	assert.Nil(t, w.Data)
	_, err = ParseWriteHead(head[:HeaderSize+10])
	assert.Error(t, err)
}

// FuzzStreamableWrite: whatever StreamableWrite accepts has a head that
// decodes and a data length that exactly fills the frame.
func FuzzStreamableWrite(f *testing.F) {
	f.Add(framedWrite(1<<20, nil))
	f.Add(framedWrite(0, nil))
	f.Add(framedWrite(5, func(m []byte) { m[16] = 8 }))
	f.Fuzz(func(t *testing.T, head []byte) {
		n, ok := StreamableWrite(head)
		if !ok {
			return
		}
		frame := int(binary.BigEndian.Uint32(head) & MaxFrame)
		if n < 0 || WriteHeadSize+n != frame {
			t.Fatalf("data length %d does not fill frame %d", n, frame)
		}
		if _, err := ParseWriteHead(head[4 : 4+WriteHeadSize]); err != nil {
			t.Fatalf("accepted head does not decode: %v", err)
		}
	})
}
