package wire

import (
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrOddUTF16 reports a UTF-16 buffer with an odd byte count.
var ErrOddUTF16 = errors.New("wire: odd UTF-16 length")

// DecodeUTF16 converts UTF-16LE to a Go string. Unpaired surrogates, which
// Windows allows in names, are kept as their 3-byte generalized UTF-8
// form (WTF-8) so that EncodeUTF16 restores them exactly.
func DecodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", ErrOddUTF16
	}
	out := make([]byte, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		switch {
		case utf16.IsSurrogate(u) && u < 0xDC00 && i+3 < len(b):
			u2 := rune(binary.LittleEndian.Uint16(b[i+2:]))
			if r := utf16.DecodeRune(u, u2); r != utf8.RuneError {
				out = utf8.AppendRune(out, r)
				i += 2
				continue
			}
			out = appendSurrogate(out, u)
		case utf16.IsSurrogate(u):
			out = appendSurrogate(out, u)
		default:
			out = utf8.AppendRune(out, u)
		}
	}
	return string(out), nil
}

func appendSurrogate(b []byte, u rune) []byte {
	return append(b, 0xE0|byte(u>>12), 0x80|byte(u>>6)&0x3F, 0x80|byte(u)&0x3F)
}

// AppendUTF16 appends s as UTF-16LE, restoring WTF-8 surrogates.
func AppendUTF16(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		if s[i] == 0xED && i+2 < len(s) && s[i+1] >= 0xA0 && s[i+1] <= 0xBF {
			u := uint16(0xD000) | uint16(s[i+1]&0x3F)<<6 | uint16(s[i+2]&0x3F)
			b = binary.LittleEndian.AppendUint16(b, u)
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = binary.LittleEndian.AppendUint16(b, uint16(r1))
			b = binary.LittleEndian.AppendUint16(b, uint16(r2))
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(r))
	}
	return b
}
