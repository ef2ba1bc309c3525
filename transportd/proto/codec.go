package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Decoding errors. Every decoder failure wraps one of these.
var (
	ErrShort     = errors.New("proto: short buffer")
	ErrTooLarge  = errors.New("proto: length exceeds limit")
	ErrTrailing  = errors.New("proto: trailing bytes")
	ErrMalformed = errors.New("proto: malformed")
)

// MaxBlob bounds any single variable-length field; nothing legitimate comes
// close, and it stops a hostile length from forcing a huge allocation.
const MaxBlob = MaxFrameSize

// Payload is implemented by every message body and by every composite
// type inside one.
type Payload interface {
	// AppendTo appends the encoding to b.
	AppendTo(b []byte) []byte
	// DecodeFrom replaces the receiver's contents with fields read from d;
	// errors are recorded in d.
	DecodeFrom(d *Decoder)
}

// Unmarshal decodes b into p strictly: trailing bytes are an error.
func Unmarshal(b []byte, p Payload) error {
	d := NewDecoder(b, false)
	p.DecodeFrom(d)
	return d.Finish()
}

// Marshal returns the encoding of p.
func Marshal(p Payload) []byte { return p.AppendTo(nil) }

// Encoder helpers: append fixed little-endian scalars and length-prefixed
// blobs. They never fail; the caller's buffer grows as needed.

// AppendU8 appends v.
func AppendU8(b []byte, v uint8) []byte { return append(b, v) }

// AppendU16 appends v little-endian.
func AppendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }

// AppendU32 appends v little-endian.
func AppendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// AppendU64 appends v little-endian.
func AppendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// AppendI32 appends v little-endian, two's complement.
func AppendI32(b []byte, v int32) []byte { return AppendU32(b, uint32(v)) }

// AppendI64 appends v little-endian, two's complement.
func AppendI64(b []byte, v int64) []byte { return AppendU64(b, uint64(v)) }

// AppendBool appends v as one byte, 0 or 1.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendBytes appends a u32 length followed by p.
func AppendBytes(b []byte, p []byte) []byte {
	b = AppendU32(b, uint32(len(p)))
	return append(b, p...)
}

// AppendString appends a u32 length followed by the bytes of s.
func AppendString(b []byte, s string) []byte {
	b = AppendU32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendF64 appends the IEEE-754 bits of v.
func AppendF64(b []byte, v float64) []byte { return AppendU64(b, math.Float64bits(v)) }

// Decoder reads scalars and blobs from a buffer with a sticky error: after
// the first failure every read returns the zero value, so decoders can be
// written as straight-line code and check Err (or Finish) once.
type Decoder struct {
	buf []byte
	off int
	err error
	// lenient allows trailing bytes (newer payload version).
	lenient bool
}

// NewDecoder returns a decoder over b. Trailing bytes are an error at
// Finish unless lenient is true.
func NewDecoder(b []byte, lenient bool) *Decoder { return &Decoder{buf: b, lenient: lenient} }

// Err returns the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Fail records err unless an earlier error is already recorded.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Finish returns the sticky error, or ErrTrailing if unread bytes remain
// and the decoder is not lenient.
func (d *Decoder) Finish() error {
	if d.err != nil {
		return d.err
	}
	if !d.lenient && d.off != len(d.buf) {
		return fmt.Errorf("%w: %d bytes", ErrTrailing, len(d.buf)-d.off)
	}
	return nil
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, n, d.off, len(d.buf)-d.off)
		return nil
	}
	p := d.buf[d.off : d.off+n]
	d.off += n
	return p
}

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// U16 reads a little-endian u16.
func (d *Decoder) U16() uint16 {
	p := d.take(2)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

// U32 reads a little-endian u32.
func (d *Decoder) U32() uint32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// U64 reads a little-endian u64.
func (d *Decoder) U64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(p)
}

// I32 reads a little-endian two's complement i32.
func (d *Decoder) I32() int32 { return int32(d.U32()) }

// I64 reads a little-endian two's complement i64.
func (d *Decoder) I64() int64 { return int64(d.U64()) }

// F64 reads IEEE-754 bits.
func (d *Decoder) F64() float64 { return math.Float64frombits(d.U64()) }

// Bool reads one byte that must be 0 or 1.
func (d *Decoder) Bool() bool {
	v := d.U8()
	if v > 1 {
		d.Fail(fmt.Errorf("%w: bool byte %d", ErrMalformed, v))
		return false
	}
	return v == 1
}

// Count reads a u32 element count and checks that count elements of at
// least minSize bytes each can still be present, so a hostile count cannot
// force a large allocation.
func (d *Decoder) Count(minSize int) int {
	n := d.U32()
	if d.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if uint64(n)*uint64(minSize) > uint64(d.Remaining()) {
		d.Fail(fmt.Errorf("%w: count %d of %d-byte elements exceeds %d remaining bytes", ErrShort, n, minSize, d.Remaining()))
		return 0
	}
	return int(n)
}

// Bytes reads a u32-length-prefixed blob of at most max bytes. The result
// is a copy, so it stays valid after the frame buffer is reused.
func (d *Decoder) Bytes(max int) []byte {
	n := d.U32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.Fail(fmt.Errorf("%w: blob of %d bytes, limit %d", ErrTooLarge, n, max))
		return nil
	}
	p := d.take(int(n))
	if p == nil {
		return nil
	}
	out := make([]byte, len(p))
	copy(out, p)
	return out
}

// String reads a u32-length-prefixed string of at most max bytes.
func (d *Decoder) String(max int) string {
	n := d.U32()
	if d.err != nil {
		return ""
	}
	if uint64(n) > uint64(max) {
		d.Fail(fmt.Errorf("%w: string of %d bytes, limit %d", ErrTooLarge, n, max))
		return ""
	}
	return string(d.take(int(n)))
}

// Rest returns a copy of all unread bytes and consumes them.
func (d *Decoder) Rest() []byte {
	p := d.take(d.Remaining())
	if p == nil {
		return nil
	}
	out := make([]byte, len(p))
	copy(out, p)
	return out
}
