package tdb_test

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/tdb"
)

var update = flag.Bool("update", false, "rewrite golden files")

var valueCases = []struct {
	name string
	h    tdb.Header
	data []byte
	hex  string
}{
	{
		name: "zero",
		h:    tdb.Header{},
		data: []byte{},
		hex:  "00000000000000000000000000000000",
	},
	{
		name: "migrated",
		h:    tdb.Header{RSN: 1, DMaster: 2, Flags: tdb.MigratedWithData},
		data: []byte("abc"),
		hex:  "0100000000000000" + "02000000" + "00000100" + "616263",
	},
	{
		name: "all-bits",
		h:    tdb.Header{RSN: 0x0102030405060708, DMaster: 0xfffffffe, Flags: tdb.ROFlags | tdb.Automatic},
		data: []byte{0, 0xff},
		hex:  "0807060504030201" + "feffffff" + "0000040f" + "00ff",
	},
}

func TestValueCodec(t *testing.T) {
	for _, tc := range valueCases {
		t.Run(tc.name, func(t *testing.T) {
			enc := tdb.EncodeValue(tc.h, tc.data)
			assert.Equal(t, tc.hex, hex.EncodeToString(enc))

			golden := filepath.Join("testdata", "golden", "value_"+tc.name+".bin")
			if *update {
				require.NoError(t, os.WriteFile(golden, enc, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, want, enc, "encoding drifted from %s", golden)

			h, data, err := tdb.DecodeValue(want)
			require.NoError(t, err)
			assert.Equal(t, tc.h, h)
			assert.Equal(t, tc.data, data)
			assert.NotNil(t, data, "empty data decodes as empty, not nil")
		})
	}
}

func TestDecodeValueRejectsShortInput(t *testing.T) {
	for n := range tdb.HeaderSize {
		_, _, err := tdb.DecodeValue(make([]byte, n))
		assert.ErrorIs(t, err, tdb.ErrShortValue, "length %d", n)
	}
	_, err := tdb.DecodeHeader(nil)
	assert.ErrorIs(t, err, tdb.ErrShortValue)
}

func TestEncodeValueDoesNotAlias(t *testing.T) {
	data := []byte("data")
	enc := tdb.EncodeValue(tdb.Header{RSN: 7}, data)
	data[0] = 'X'
	_, got, err := tdb.DecodeValue(enc)
	require.NoError(t, err)
	assert.Equal(t, []byte("data"), got)
}

func TestAppendValue(t *testing.T) {
	out := tdb.AppendValue([]byte("pre"), tdb.Header{DMaster: 1}, []byte("x"))
	assert.Equal(t, "pre"+"0000000000000000"+"01000000"+"00000000"+"78", string(out[:3])+hex.EncodeToString(out[3:]))
}

func TestFlags(t *testing.T) {
	tests := []struct {
		flags tdb.Flags
		want  string
	}{
		{0, "0x00000000"},
		{tdb.MigratedWithData, "0x00010000 MIGRATED_WITH_DATA"},
		{tdb.VacuumMigrated | tdb.Automatic, "0x00060000 VACUUM_MIGRATED AUTOMATIC"},
		{tdb.ROFlags, "0x0f000000 RO_HAVE_DELEGATIONS RO_HAVE_READONLY RO_REVOKING_READONLY RO_REVOKE_COMPLETE"},
		{0x80000001, "0x80000001"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.flags.String())
	}
	// CTDB's values (ctdb/protocol/protocol.h).
	assert.EqualValues(t, 0x00010000, tdb.MigratedWithData)
	assert.EqualValues(t, 0x00020000, tdb.VacuumMigrated)
	assert.EqualValues(t, 0x00040000, tdb.Automatic)
	assert.EqualValues(t, 0x01000000, tdb.ROHaveDelegations)
	assert.EqualValues(t, 0x02000000, tdb.ROHaveReadonly)
	assert.EqualValues(t, 0x04000000, tdb.RORevokingReadonly)
	assert.EqualValues(t, 0x08000000, tdb.RORevokeComplete)
}

func FuzzDecodeValue(f *testing.F) {
	golden, err := filepath.Glob(filepath.Join("testdata", "golden", "*.bin"))
	require.NoError(f, err)
	require.NotEmpty(f, golden)
	for _, path := range golden {
		b, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, data, err := tdb.DecodeValue(in)
		if err != nil {
			if len(in) >= tdb.HeaderSize {
				t.Fatalf("rejected %d bytes: %v", len(in), err)
			}
			return
		}
		if re := tdb.EncodeValue(h, data); string(re) != string(in) {
			t.Fatalf("round trip: got %x want %x", re, in)
		}
	})
}
