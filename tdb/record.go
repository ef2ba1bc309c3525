package tdb

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// HeaderSize is the size in bytes of an encoded Header.
const HeaderSize = 16

// Flags are the record flags kept in a Header.
type Flags uint32

// Record flags, with the values CTDB gives them (ctdb/protocol/protocol.h),
// so that tools and operators see the bits they know.
const (
	// MigratedWithData marks a record that reached this node by a migration
	// that carried data; vacuuming must not delete it locally.
	MigratedWithData Flags = 0x00010000
	// VacuumMigrated marks a record that was migrated by vacuuming.
	VacuumMigrated Flags = 0x00020000
	// Automatic marks a record created implicitly (for example by a fetch of
	// a missing record) rather than by a client store.
	Automatic Flags = 0x00040000
	// ROHaveDelegations: the data master has handed out read-only copies.
	ROHaveDelegations Flags = 0x01000000
	// ROHaveReadonly: this node holds a read-only copy.
	ROHaveReadonly Flags = 0x02000000
	// RORevokingReadonly: the read-only copies are being revoked.
	RORevokingReadonly Flags = 0x04000000
	// RORevokeComplete: revoking the read-only copies has finished.
	RORevokeComplete Flags = 0x08000000

	// ROFlags is the mask of all read-only delegation flags.
	ROFlags = ROHaveDelegations | ROHaveReadonly | RORevokingReadonly | RORevokeComplete
)

// flagNames lists the known flags in bit order with the names `ctdb catdb`
// prints for them.
var flagNames = []struct {
	flag Flags
	name string
}{
	{MigratedWithData, "MIGRATED_WITH_DATA"},
	{VacuumMigrated, "VACUUM_MIGRATED"},
	{Automatic, "AUTOMATIC"},
	{ROHaveDelegations, "RO_HAVE_DELEGATIONS"},
	{ROHaveReadonly, "RO_HAVE_READONLY"},
	{RORevokingReadonly, "RO_REVOKING_READONLY"},
	{RORevokeComplete, "RO_REVOKE_COMPLETE"},
}

// Names returns CTDB's names of the known flags set in f, in bit order.
// Unknown bits have no name; String shows them.
func (f Flags) Names() []string {
	var names []string
	for _, fn := range flagNames {
		if f&fn.flag != 0 {
			names = append(names, fn.name)
		}
	}
	return names
}

// String formats f as CTDB's catdb does: the hex value followed by the
// names of the known flags, e.g. "0x00010000 MIGRATED_WITH_DATA".
func (f Flags) String() string {
	s := fmt.Sprintf("0x%08x", uint32(f))
	if names := f.Names(); len(names) > 0 {
		s += " " + strings.Join(names, " ")
	}
	return s
}

// Header is the per-record header CTDB keeps in front of every value
// (struct ctdb_ltdb_header without its reserved field).
type Header struct {
	// RSN is the record sequence number; it grows on every migration, and
	// recovery keeps the copy with the highest RSN.
	RSN uint64
	// DMaster is the PNN of the node that holds the current copy.
	DMaster uint32
	// Flags are the record flags.
	Flags Flags
}

// AppendTo appends the 16-byte little-endian encoding of h to b:
// RSN u64 | DMaster u32 | Flags u32.
func (h Header) AppendTo(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, h.RSN)
	b = binary.LittleEndian.AppendUint32(b, h.DMaster)
	return binary.LittleEndian.AppendUint32(b, uint32(h.Flags))
}

// DecodeHeader decodes the header at the start of b. It rejects input
// shorter than HeaderSize.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("decode header: %d bytes, need %d: %w", len(b), HeaderSize, ErrShortValue)
	}
	return Header{
		RSN:     binary.LittleEndian.Uint64(b[0:8]),
		DMaster: binary.LittleEndian.Uint32(b[8:12]),
		Flags:   Flags(binary.LittleEndian.Uint32(b[12:16])),
	}, nil
}

// AppendValue appends the stored form of a record value, the header
// followed by the data, to dst.
func AppendValue(dst []byte, h Header, data []byte) []byte {
	return append(h.AppendTo(dst), data...)
}

// EncodeValue returns the stored form of a record value: the 16-byte header
// followed by data. The result never aliases data.
func EncodeValue(h Header, data []byte) []byte {
	return AppendValue(make([]byte, 0, HeaderSize+len(data)), h, data)
}

// DecodeValue splits a stored value into its header and data. The data
// aliases v (it is empty, not nil, when there is none). Input shorter than
// a header is rejected with ErrShortValue.
func DecodeValue(v []byte) (Header, []byte, error) {
	h, err := DecodeHeader(v)
	if err != nil {
		return Header{}, nil, err
	}
	return h, v[HeaderSize:], nil
}

// Record is one record of a database. Records returned by this package own
// their Key and Data slices.
type Record struct {
	Key    []byte
	Header Header
	Data   []byte
}

// decodeRecord builds a Record owning copies of key and of the data in the
// stored value v.
func decodeRecord(key, v []byte) (Record, error) {
	h, data, err := DecodeValue(v)
	if err != nil {
		return Record{}, fmt.Errorf("%w: key %x: %w", ErrCorrupt, key, err)
	}
	return Record{Key: clone(key), Header: h, Data: clone(data)}, nil
}

// clone copies b; unlike bytes.Clone it returns a non-nil empty slice for
// empty input, so callers never have to tell nil data from empty data.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
