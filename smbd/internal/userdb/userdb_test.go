package userdb

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/dbtest"
	"gctdb/smbd/internal/auth"
)

func TestRecordGolden(t *testing.T) {
	u := auth.User{Name: "Alice", NTHash: auth.NTHash("pw"), Disabled: true}
	b := Encode(u)
	assert.Equal(t, "01"+"01"+hex.EncodeToString(u.NTHash[:])+"0500"+hex.EncodeToString([]byte("Alice")), hex.EncodeToString(b))
	got, err := Decode(b)
	require.NoError(t, err)
	assert.Equal(t, u, got)
	for _, bad := range [][]byte{nil, b[:19], append(b, 'x'), {2}, append([]byte{1, 4}, b[2:]...)} {
		_, err := Decode(bad)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	assert.Equal(t, []byte("USER/alice"), Key("ALICE"))
}

func TestValidName(t *testing.T) {
	assert.NoError(t, ValidName("alice.b-1"))
	for _, bad := range []string{"", "a/b", `dom\u`, "a@b", "x\x00"} {
		assert.Error(t, ValidName(bad), bad)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(auth.User{Name: "u"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := Decode(b)
		if err == nil {
			assert.Equal(t, b, Encode(u))
		}
	})
}

// TestUsersSeenByEveryNode: a user added through one node authenticates
// on the other; disable and delete reach it too.
func TestUsersSeenByEveryNode(t *testing.T) {
	cl := dbtest.Start(t, dbtest.Options{Addrs: []string{"127.107.11.1", "127.107.11.2"}, Port: 15712, LivenessPort: 15713})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(pnn uint32) *DB {
		c, err := client.Connect(ctx, cl.Socket(pnn))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		d, err := Open(ctx, c)
		require.NoError(t, err)
		return d
	}
	d0, d1 := open(0), open(1)

	_, err := d1.LookupUser(ctx, "alice")
	require.ErrorIs(t, err, auth.ErrNoSuchUser)
	require.NoError(t, d0.Change(ctx, "Alice", func(u *auth.User) (*auth.User, error) {
		require.Nil(t, u)
		return &auth.User{Name: "Alice", NTHash: auth.NTHash("secret")}, nil
	}))
	u, err := d1.LookupUser(ctx, "ALICE")
	require.NoError(t, err)
	assert.Equal(t, "Alice", u.Name)
	assert.Equal(t, auth.NTHash("secret"), u.NTHash)

	boom := errors.New("abort")
	require.ErrorIs(t, d1.Change(ctx, "alice", func(u *auth.User) (*auth.User, error) { return nil, boom }), boom)
	require.NoError(t, d1.Change(ctx, "alice", func(u *auth.User) (*auth.User, error) {
		require.NotNil(t, u)
		u.Disabled = true
		return u, nil
	}))
	u, err = d0.LookupUser(ctx, "alice")
	require.NoError(t, err)
	assert.True(t, u.Disabled)

	require.NoError(t, d0.Change(ctx, "alice", func(*auth.User) (*auth.User, error) { return nil, nil }))
	_, err = d1.LookupUser(ctx, "alice")
	assert.ErrorIs(t, err, auth.ErrNoSuchUser)
	assert.Error(t, d0.Change(ctx, "a/b", func(*auth.User) (*auth.User, error) { return nil, nil }))
}
