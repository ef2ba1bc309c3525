package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	"gctdb/smbd/internal/iobuf"
)

// MaxFrame is the largest direct-TCP frame the 24-bit length can carry.
const MaxFrame = 0xFFFFFF

// ReadFrame reads one direct-TCP frame ([MS-SMB2] §2.1): a zero byte, a
// 24-bit big-endian length and the message. Frames longer than limit are
// refused without reading them. The returned slice has 16 spare bytes of
// capacity so decryption can append the tag without copying. Large frames
// come from iobuf: a caller that is done with one may recycle it with
// iobuf.Put.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	var pfx [4]byte
	if _, err := io.ReadFull(r, pfx[:]); err != nil {
		return nil, err
	}
	if pfx[0] != 0 {
		return nil, fmt.Errorf("%w: first byte %#x", ErrBadFrame, pfx[0])
	}
	n := int(binary.BigEndian.Uint32(pfx[:]) & MaxFrame)
	if n > limit {
		return nil, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, n, limit)
	}
	buf := iobuf.Get(n + 16)[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// FramePrefix returns the 4-byte transport prefix for a message of n bytes.
func FramePrefix(n int) [4]byte {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(n)&MaxFrame)
	return p
}
