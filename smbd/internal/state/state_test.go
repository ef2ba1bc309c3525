package state

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShareConflict(t *testing.T) {
	const (
		read  = accessReadData
		write = accessWriteData
		del   = accessDelete
		attr  = 0x80
	)
	for _, tc := range []struct {
		name              string
		exAccess, exShare uint32
		access, share     uint32
		conflict          bool
	}{
		{"read/read shared", read, shareRead, read, shareRead, false},
		{"write vs no write share", write, shareRead, read, shareRead, true},
		{"read vs existing denies read", read, 0, read, shareRead | shareWrite, true},
		{"delete needs share delete", read, shareRead, del, shareRead, true},
		{"delete shared", read, shareRead | shareDelete, del, shareRead, false},
		{"stat open never conflicts", read, 0, attr, 0, false},
	} {
		e := &ShareEntry{Access: tc.exAccess, ShareAccess: tc.exShare}
		assert.Equal(t, tc.conflict, ShareConflict(e, tc.access, tc.share), tc.name)
	}
}

func TestLockRules(t *testing.T) {
	a := OpenRef{Node: 0, Server: 1, OpenID: 1}
	b := OpenRef{Node: 1, Server: 2, OpenID: 2}
	l := &Locks{}
	ex := Lock{Open: a, Offset: 100, Length: 10, Exclusive: true}
	require.True(t, l.CanLock(&ex))
	l.Locks = append(l.Locks, ex)
	for _, tc := range []struct {
		name string
		req  Lock
		ok   bool
	}{
		{"overlap other open", Lock{Open: b, Offset: 105, Length: 10}, false},
		{"adjacent", Lock{Open: b, Offset: 110, Length: 10, Exclusive: true}, true},
		{"zero length inside", Lock{Open: b, Offset: 102, Length: 0, Exclusive: true}, false},
		{"zero length at start", Lock{Open: b, Offset: 100, Length: 0, Exclusive: true}, true},
		{"shared stacks on own exclusive", Lock{Open: a, Offset: 100, Length: 10}, true},
		{"exclusive on own exclusive", Lock{Open: a, Offset: 100, Length: 10, Exclusive: true}, false},
	} {
		assert.Equal(t, tc.ok, l.CanLock(&tc.req), tc.name)
	}
	assert.True(t, l.IOConflict(b, 100, 1, false), "read by other open blocked by exclusive lock")
	assert.False(t, l.IOConflict(a, 100, 1, true), "own exclusive lock allows own write")
	assert.False(t, l.IOConflict(b, 110, 5, true))
	l.Locks = append(l.Locks, Lock{Open: b, Offset: 200, Length: 5})
	assert.True(t, l.IOConflict(b, 200, 1, true), "own shared lock blocks own write")
	assert.False(t, l.IOConflict(a, 200, 1, false), "shared lock allows reads")
	assert.ErrorIs(t, l.Unlock(a, 100, 11), ErrNotLocked)
	require.NoError(t, l.Unlock(a, 100, 10))
	assert.True(t, l.RemoveOpen(b))
	assert.Empty(t, l.Locks)
}

func TestRecordCodecsRoundTrip(t *testing.T) {
	m := &ShareModes{DeletePending: true, Name: "dir/file", Entries: []ShareEntry{
		{Open: OpenRef{1, 2, 3}, Access: 0x1f01ff, ShareAccess: 7, Flags: ShareFlagBreaking, OplockLevel: 9, BreakTo: 1},
		{Open: OpenRef{4, 5, 6}, Access: 1, LeaseKey: [16]byte{1}, ClientGUID: [16]byte{2}},
	}}
	got, err := decodeShareModes(m.encode())
	require.NoError(t, err)
	assert.Equal(t, m, got)

	l := &Locks{LevelII: 3, Locks: []Lock{{Open: OpenRef{1, 2, 3}, Offset: 5, Length: 6, Exclusive: true}}}
	gl, err := decodeLocks(l.encode())
	require.NoError(t, err)
	assert.Equal(t, l, gl)

	s := &Session{ID: 9, ClientGUID: [16]byte{3}, Node: 2, Dialect: 0x311, User: "alice"}
	gs, err := decodeSession(s.encode())
	require.NoError(t, err)
	assert.Equal(t, s, gs)

	for _, bad := range [][]byte{{}, {2}, {1, 0, 9, 0}, m.encode()[:20]} {
		_, err := decodeShareModes(bad)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
}

func TestStoreModifyDeletesEmptyRecords(t *testing.T) {
	s := NewMemoryStore()
	ctx := context.Background()
	key := FileKey{Dev: 1, Ino: 2}
	ref := OpenRef{OpenID: 1}
	require.NoError(t, s.ModifyShareModes(ctx, key, func(m *ShareModes) error {
		m.Entries = append(m.Entries, ShareEntry{Open: ref})
		return nil
	}))
	assert.Equal(t, 1, s.ShareModes.(*MemoryDB).Len())
	boom := errors.New("abort")
	assert.ErrorIs(t, s.ModifyShareModes(ctx, key, func(m *ShareModes) error {
		m.Entries = nil
		return boom
	}), boom)
	assert.Equal(t, 1, s.ShareModes.(*MemoryDB).Len(), "an aborted change stores nothing")
	require.NoError(t, s.ModifyShareModes(ctx, key, func(m *ShareModes) error {
		m.Remove(ref)
		return nil
	}))
	assert.Equal(t, 0, s.ShareModes.(*MemoryDB).Len())
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add((&ShareModes{Name: "x", Entries: []ShareEntry{{Access: 1}}}).encode())
	f.Add((&Locks{Locks: []Lock{{Length: 1}}}).encode())
	f.Add((&Session{User: "u"}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeShareModes(b); err == nil {
			again, err := decodeShareModes(m.encode())
			require.NoError(t, err)
			assert.Equal(t, m.Entries, again.Entries)
		}
		if l, err := decodeLocks(b); err == nil {
			_, err := decodeLocks(l.encode())
			require.NoError(t, err)
		}
		_, _ = decodeSession(b)
	})
}
