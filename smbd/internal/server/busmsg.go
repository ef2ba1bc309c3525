package server

import (
	"encoding/binary"
	"errors"
)

// Messages between smbd processes (state.Bus). Each starts with a version
// byte and a kind byte; the rest is fixed little-endian fields.
const (
	busMsgVersion = 1
	busKindOplock = 1
	oplockMsgSize = 2 + 8 + 1 + 1
)

var errBadBusMsg = errors.New("server: malformed message from another smbd")

// oplockMsg asks the process serving an open to change its oplock level
// and/or notify its client of a break.
type oplockMsg struct {
	openID uint64
	level  uint8
	what   uint8 // oplockMsg* bits
}

func encodeOplockMsg(m oplockMsg) []byte {
	b := make([]byte, 0, oplockMsgSize)
	b = append(b, busMsgVersion, busKindOplock)
	b = binary.LittleEndian.AppendUint64(b, m.openID)
	return append(b, m.level, m.what)
}

func decodeOplockMsg(b []byte) (oplockMsg, error) {
	if len(b) != oplockMsgSize || b[0] != busMsgVersion || b[1] != busKindOplock {
		return oplockMsg{}, errBadBusMsg
	}
	return oplockMsg{openID: binary.LittleEndian.Uint64(b[2:]), level: b[10], what: b[11]}, nil
}
