package server

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/state"
	"gctdb/smbd/internal/wire"
)

func TestSeqWindow(t *testing.T) {
	w := newSeqWindow()
	assert.False(t, w.consume(1, 1), "id beyond the window")
	assert.True(t, w.consume(0, 1))
	assert.False(t, w.consume(0, 1), "ids are single use")
	assert.Equal(t, uint16(1), w.grant(1, 1, false))
	assert.Equal(t, uint16(10), w.grant(1, 10, true))
	// Out of order use keeps the window anchored at the lowest free id.
	assert.True(t, w.consume(5, 1))
	assert.True(t, w.consume(1, 4))
	assert.Equal(t, uint64(6), w.low)
	assert.False(t, w.consume(6, 100), "charge beyond the granted credits")
	// Grants never exceed the window size.
	w.grant(1, 65535, true)
	assert.LessOrEqual(t, w.size, uint64(MaxCredits))
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		match         bool
	}{
		{"*", "anything", true},
		{"*.txt", "FILE.TXT", true},
		{"*.txt", "file.doc", false},
		{"f?le", "file", true},
		{"f?le", "fle", false},
		{"file", "FILE", true},
		{"<.txt", "a.b.txt", true},
		{"a>", "a", true},
		{"a\"b", "a.b", true},
		{"***************************************x", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", false},
	} {
		assert.Equal(t, tc.match, matchPattern(tc.pattern, tc.name), "%q ~ %q", tc.pattern, tc.name)
	}
}

func TestShortName(t *testing.T) {
	assert.Equal(t, "", shortName("README.TXT"), "already 8.3")
	sn := shortName("torture_search.txt")
	assert.Regexp(t, `^TORTU~[0-9A-Z]{2}\.TXT$`, sn)
	assert.Equal(t, sn, shortName("torture_search.txt"), "stable")
	assert.True(t, is83(shortName("a very long name with spaces.jpeg")))
}

func TestSplitStream(t *testing.T) {
	for _, tc := range []struct {
		in, base, stream string
		st               wire.Status
	}{
		{"file", "file", "", wire.StatusOK},
		{"file::$DATA", "file", "", wire.StatusOK},
		{"file:s", "file", "s", wire.StatusOK},
		{"dir\\file:s:$DATA", "dir\\file", "s", wire.StatusOK},
		{"file:s:$INDEX_ALLOCATION", "", "", wire.StatusObjectNameInvalid},
		{"file:", "", "", wire.StatusObjectNameInvalid},
		{"file:a\\b", "", "", wire.StatusObjectNameInvalid},
	} {
		base, stream, st := splitStream(tc.in)
		assert.Equal(t, tc.st, st, tc.in)
		if st == wire.StatusOK {
			assert.Equal(t, tc.base, base, tc.in)
			assert.Equal(t, tc.stream, stream, tc.in)
		}
	}
}

func TestSecurityDescriptorRoundTrip(t *testing.T) {
	raw := buildSecurityDescriptor(1000, 100, 0o640, false, secOwner|secGroup|secDACL)
	sd, err := parseSD(raw)
	if !assert.NoError(t, err) {
		return
	}
	assert.Equal(t, raw, sd.encode(secOwner|secGroup|secDACL))
	owner := sd.owner
	granted := grantedBy(sd, [][]byte{owner})
	assert.NotZero(t, granted&wire.FileWriteData, "owner may write with mode 0640")
	assert.Zero(t, grantedBy(sd, [][]byte{sidEveryone})&wire.FileReadData, "others may not read with mode 0640")
	_, err = parseSD(raw[:30])
	assert.Error(t, err)
}

func TestOplockMsgRoundTrip(t *testing.T) {
	m := oplockMsg{openID: 0x0102030405060708, level: oplockII, what: oplockMsgSetLevel | oplockMsgNotify}
	b := encodeOplockMsg(m)
	assert.Equal(t, "01010807060504030201"+"01"+"03", hex.EncodeToString(b), "golden bytes")
	got, err := decodeOplockMsg(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	for _, bad := range [][]byte{nil, b[:5], append(b, 0), {2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, err := decodeOplockMsg(bad)
		assert.ErrorIs(t, err, errBadBusMsg)
	}
}

func FuzzDecodeOplockMsg(f *testing.F) {
	f.Add(encodeOplockMsg(oplockMsg{openID: 7, level: 1, what: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeOplockMsg(b)
		if err == nil {
			assert.Equal(t, b, encodeOplockMsg(m))
		}
	})
}

// TestOpensOfGoneProcessesAreDropped: entries of another smbd process
// stay while it lives and go once the bus says it is gone.
func TestOpensOfGoneProcessesAreDropped(t *testing.T) {
	cluster := state.NewMemoryCluster()
	srv, err := New(Config{Users: auth.NewMemoryUsers(), Store: cluster.Join(0)})
	require.NoError(t, err)
	other := cluster.Join(1)
	peer := other.Bus.(*state.MemoryBus)
	ctx := context.Background()
	key := state.FileKey{Dev: 1, Ino: 2}
	theirs := state.OpenRef{Node: 1, Server: peer.Self().Instance, OpenID: 7}
	mine := state.OpenRef{Node: 0, Server: srv.self.Instance, OpenID: 8}
	require.NoError(t, other.ModifyShareModes(ctx, key, func(m *state.ShareModes) error {
		m.Entries = append(m.Entries, state.ShareEntry{Open: theirs, Access: 1, OplockLevel: oplockII},
			state.ShareEntry{Open: mine, Access: 1})
		return nil
	}))
	require.NoError(t, other.ModifyLocks(ctx, key, func(l *state.Locks) error {
		l.Locks = append(l.Locks, state.Lock{Open: theirs, Length: 10, Exclusive: true})
		l.LevelII = 1
		return nil
	}))
	owners := []state.Process{peer.Self()}

	assert.False(t, srv.dropGoneOwners(ctx, key, owners), "a live process keeps its opens")
	m, err := other.ReadShareModes(ctx, key)
	require.NoError(t, err)
	assert.Len(t, m.Entries, 2)

	peer.Leave()
	srv.live.alive = map[state.Process]time.Time{} // forget the cached answer
	assert.True(t, srv.dropGoneOwners(ctx, key, owners))
	m, err = other.ReadShareModes(ctx, key)
	require.NoError(t, err)
	require.Len(t, m.Entries, 1)
	assert.Equal(t, mine, m.Entries[0].Open)
	l, err := other.ReadLocks(ctx, key)
	require.NoError(t, err)
	assert.Empty(t, l.Locks)
	assert.Zero(t, l.LevelII, "the gone open's level II oplock is no longer counted")
}
