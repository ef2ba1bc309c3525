package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func request(cmd Command, body []byte) []byte {
	h := Header{Command: cmd, MessageID: 7, TreeID: 3, SessionID: 0x1122334455667788, Credit: 1}
	return append(AppendHeader(nil, &h), body...)
}

// Golden bytes of a sync request header pin the layout.
func TestHeaderGolden(t *testing.T) {
	h := Header{CreditCharge: 1, Status: 0, Command: CmdCreate, Credit: 31, Flags: FlagSigned,
		NextCommand: 0, MessageID: 0x0102030405060708, TreeID: 5, SessionID: 0xAABBCCDD}
	got := AppendHeader(nil, &h)
	want := "fe534d42" + "4000" + "0100" + "00000000" + "0500" + "1f00" + "08000000" + "00000000" +
		"0807060504030201" + "fffe0000" + "05000000" + "ddccbbaa00000000" + "00000000000000000000000000000000"
	assert.Equal(t, want, hex.EncodeToString(got))
	back, err := DecodeHeader(got)
	require.NoError(t, err)
	assert.Equal(t, h, back)

	h.Flags |= FlagAsync
	h.AsyncID = 99
	back, err = DecodeHeader(AppendHeader(nil, &h))
	require.NoError(t, err)
	assert.Equal(t, uint64(99), back.AsyncID)
	assert.Zero(t, back.TreeID)
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := AppendHeader(nil, &Header{})
	_, err := DecodeHeader(good[:63])
	assert.ErrorIs(t, err, ErrShort)
	bad := append([]byte{}, good...)
	bad[0] = 0xff
	_, err = DecodeHeader(bad)
	assert.ErrorIs(t, err, ErrBadProtocol)
	bad = append([]byte{}, good...)
	bad[4] = 65
	_, err = DecodeHeader(bad)
	assert.ErrorIs(t, err, ErrBadHeader)
}

func TestSplitCompound(t *testing.T) {
	a := request(CmdEcho, []byte{4, 0, 0, 0})
	a = append(a, 0, 0, 0, 0) // pad to 72
	SetNextCommand(a, uint32(len(a)))
	b := request(CmdEcho, []byte{4, 0, 0, 0})
	els, err := SplitCompound(append(append([]byte{}, a...), b...))
	require.NoError(t, err)
	require.Len(t, els, 2)
	assert.Len(t, els[0], 72)

	for name, next := range map[string]uint32{"misaligned": 68, "too small": 8, "beyond end": 4096} {
		t.Run(name, func(t *testing.T) {
			x := append([]byte{}, a...)
			SetNextCommand(x, next)
			_, err := SplitCompound(append(x, b...))
			assert.Error(t, err)
		})
	}
}

func TestCheckBody(t *testing.T) {
	_, err := CheckBody(request(CmdEcho, []byte{4, 0, 0, 0}), CmdEcho)
	assert.NoError(t, err)
	_, err = CheckBody(request(CmdEcho, []byte{5, 0, 0, 0}), CmdEcho)
	assert.ErrorIs(t, err, ErrStructureSize)
	_, err = CheckBody(request(CmdRead, []byte{49, 0, 0}), CmdRead)
	assert.ErrorIs(t, err, ErrShort)
	_, err = CheckBody(request(CmdEcho, nil), CmdEcho)
	assert.Error(t, err)
	_, err = CheckBody(request(0x55, []byte{4, 0, 0, 0}), 0x55)
	assert.Error(t, err)
}

func TestSpanBounds(t *testing.T) {
	msg := make([]byte, 100)
	for _, tc := range []struct {
		off, n uint32
		ok     bool
	}{
		{64, 36, true}, {64, 37, false}, {10, 4, false}, {0xFFFFFFFF, 2, false}, {99, 0, true}, {200, 0, true},
	} {
		_, err := Span(msg, tc.off, tc.n)
		assert.Equal(t, tc.ok, err == nil, "off %d n %d", tc.off, tc.n)
	}
}

func TestUTF16RoundTrip(t *testing.T) {
	for _, s := range []string{"", "abc", "Grüße", "日本語", "emoji 😀", "a\xed\xa0\x80b"} {
		enc := AppendUTF16(nil, s)
		dec, err := DecodeUTF16(enc)
		require.NoError(t, err)
		assert.Equal(t, s, dec)
	}
	// An unpaired surrogate survives both ways.
	raw := []byte{0x41, 0, 0x00, 0xD8, 0x42, 0}
	s, err := DecodeUTF16(raw)
	require.NoError(t, err)
	assert.Equal(t, raw, AppendUTF16(nil, s))
	_, err = DecodeUTF16([]byte{1})
	assert.ErrorIs(t, err, ErrOddUTF16)
}

func TestCreateContextsRoundTrip(t *testing.T) {
	in := []CreateContext{{Name: "MxAc", Data: nil}, {Name: "QFid"}, {Name: "ExtA", Data: []byte("payload")}}
	enc := AppendCreateContexts(nil, in)
	out, err := ParseCreateContexts(enc)
	require.NoError(t, err)
	require.Len(t, out, 3)
	for i := range in {
		assert.Equal(t, in[i].Name, out[i].Name)
		assert.Equal(t, len(in[i].Data), len(out[i].Data))
	}
	enc[0] = 3 // misaligned Next
	_, err = ParseCreateContexts(enc)
	assert.ErrorIs(t, err, ErrBadContext)
}

func TestFrame(t *testing.T) {
	p := FramePrefix(0x123456)
	assert.Equal(t, []byte{0, 0x12, 0x34, 0x56}, p[:])
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 3, 'a', 'b', 'c'})
	f, err := ReadFrame(&buf, 10)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(f))
	assert.GreaterOrEqual(t, cap(f)-len(f), 16)
	buf.Reset()
	buf.Write([]byte{0, 0, 1, 0})
	_, err = ReadFrame(&buf, 10)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	buf.Reset()
	buf.Write([]byte{0x85, 0, 0, 0})
	_, err = ReadFrame(&buf, 10)
	assert.ErrorIs(t, err, ErrBadFrame)
}

func TestTransformRoundTrip(t *testing.T) {
	th := TransformHeader{OriginalMessageSize: 64, Flags: 1, SessionID: 42}
	th.Nonce[0] = 7
	b := AppendTransform(nil, &th)
	require.Len(t, b, TransformHeaderSize)
	b = append(b, make([]byte, 64)...)
	got, payload, err := DecodeTransform(b)
	require.NoError(t, err)
	assert.Equal(t, th, got)
	assert.Len(t, payload, 64)
	_, _, err = DecodeTransform(b[:100])
	assert.ErrorIs(t, err, ErrOutOfBounds)
}

func negotiateRequest(dialects ...uint16) []byte {
	body := make([]byte, 36)
	binary.LittleEndian.PutUint16(body, 36)
	binary.LittleEndian.PutUint16(body[2:], uint16(len(dialects)))
	for _, d := range dialects {
		body = binary.LittleEndian.AppendUint16(body, d)
	}
	return request(CmdNegotiate, body)
}

func TestParseNegotiate(t *testing.T) {
	r, err := ParseNegotiate(negotiateRequest(Dialect202, Dialect300))
	require.NoError(t, err)
	assert.Equal(t, []uint16{Dialect202, Dialect300}, r.Dialects)
	// Count larger than the body.
	msg := negotiateRequest(Dialect202)
	binary.LittleEndian.PutUint16(msg[HeaderSize+2:], 50)
	_, err = ParseNegotiate(msg)
	assert.ErrorIs(t, err, ErrOutOfBounds)
	// 3.1.1 with a context offset outside the message.
	msg = negotiateRequest(Dialect311)
	binary.LittleEndian.PutUint32(msg[HeaderSize+28:], 5000)
	binary.LittleEndian.PutUint16(msg[HeaderSize+32:], 1)
	_, err = ParseNegotiate(msg)
	assert.ErrorIs(t, err, ErrOutOfBounds)
}

// seeds returns well-formed requests of every command for the fuzzer.
func seeds() [][]byte {
	out := [][]byte{negotiateRequest(Dialect202, Dialect311)}
	for cmd := Command(0); cmd < NumCommands; cmd++ {
		size := requestStructureSize[cmd]
		body := make([]byte, max(int(size), 8)+16)
		binary.LittleEndian.PutUint16(body, size)
		out = append(out, request(cmd, body))
	}
	return out
}

// FuzzDecode drives every request decoder with arbitrary bytes: none may
// panic, and whatever decodes must point inside the message.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		els, err := SplitCompound(msg)
		if err != nil {
			return
		}
		for _, el := range els {
			h, err := DecodeHeader(el)
			if err != nil {
				continue
			}
			if _, err := CheckBody(el, h.Command); err != nil {
				continue
			}
			switch h.Command {
			case CmdNegotiate:
				if r, err := ParseNegotiate(el); err == nil {
					for _, c := range r.Contexts {
						_, _ = ParsePreauthContext(c.Data)
						_, _ = ParseIDList(c.Data)
					}
				}
			case CmdSessionSetup:
				_, _ = ParseSessionSetup(el)
			case CmdTreeConnect:
				_, _ = ParseTreeConnect(el)
			case CmdCreate:
				_, _ = ParseCreate(el)
			case CmdClose:
				_, _ = ParseClose(el)
			case CmdFlush:
				_, _ = ParseFlush(el)
			case CmdRead:
				_, _ = ParseRead(el)
			case CmdWrite:
				if w, err := ParseWrite(el); err == nil && len(w.Data) > len(el) {
					t.Fatal("write data larger than the message")
				}
			case CmdLock:
				_, _ = ParseLock(el)
			case CmdIoctl:
				_, _ = ParseIoctl(el)
			case CmdQueryDirectory:
				_, _ = ParseQueryDirectory(el)
			case CmdQueryInfo:
				_, _ = ParseQueryInfo(el)
			case CmdSetInfo:
				_, _ = ParseSetInfo(el)
			case CmdChangeNotify:
				_, _ = ParseChangeNotify(el)
			}
		}
		_, _, _ = DecodeTransform(msg)
		_, _ = ParseCreateContexts(msg)
		_, _ = DecodeUTF16(msg)
	})
}
