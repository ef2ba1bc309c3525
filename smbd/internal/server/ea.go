package server

import (
	"encoding/binary"
	"os"
	"strings"

	"gctdb/smbd/internal/vfs"
	"gctdb/smbd/internal/wire"
)

// maxEAName is the longest EA name FILE_FULL_EA_INFORMATION can carry.
const maxEAName = 255

// parseFullEAs decodes a FILE_FULL_EA_INFORMATION list ([MS-FSCC] §2.4.15).
func parseFullEAs(b []byte) ([]vfs.EA, wire.Status) {
	var out []vfs.EA
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, wire.StatusInvalidParameter
		}
		next := binary.LittleEndian.Uint32(b)
		nameLen := int(b[5])
		valLen := int(binary.LittleEndian.Uint16(b[6:]))
		end := 8 + nameLen + 1 + valLen
		if end > len(b) || nameLen == 0 || b[8+nameLen] != 0 {
			return nil, wire.StatusInvalidParameter
		}
		name := string(b[8 : 8+nameLen])
		if strings.ContainsAny(name, "\x00\"*+,/:;<=>?[\\]|") {
			return nil, wire.StatusInvalidParameter
		}
		out = append(out, vfs.EA{Name: name, Value: b[9+nameLen : end]})
		if next == 0 {
			break
		}
		if uint64(next) > uint64(len(b)) || next < uint32(end) && next < 8 {
			return nil, wire.StatusInvalidParameter
		}
		b = b[next:]
	}
	return out, wire.StatusOK
}

// appendFullEAs encodes EAs as FILE_FULL_EA_INFORMATION, 4-byte aligned.
func appendFullEAs(b []byte, eas []vfs.EA) []byte {
	return wire.AppendChained(b, len(eas), 4, func(b []byte, i int) []byte {
		e := eas[i]
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = append(b, 0, byte(len(e.Name)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.Value)))
		b = append(b, strings.ToUpper(e.Name)...)
		b = append(b, 0)
		return append(b, e.Value...)
	})
}

// eaSize is the EaSize Windows reports: the size of the full list.
func eaSize(f *os.File) uint32 {
	eas, err := vfs.ListEAs(f)
	if err != nil || len(eas) == 0 {
		return 0
	}
	return uint32(len(appendFullEAs(nil, eas)))
}

// setEAs stores a list of EAs on an open file.
func setEAs(f *os.File, eas []vfs.EA) wire.Status {
	for _, e := range eas {
		if len(e.Name) > maxEAName {
			return wire.StatusInvalidParameter
		}
		if err := vfs.SetEA(f, e.Name, e.Value); err != nil {
			return statusOf(err)
		}
	}
	return wire.StatusOK
}
