package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/ctdbd/client"
	"gctdb/ctdbd/client/dbtest"
	"gctdb/smbd/internal/auth"
	"gctdb/smbd/internal/userdb"
)

// TestSambaFlags runs smbpasswd's commands against a two-node cluster and
// checks the users as the other node sees them.
func TestSambaFlags(t *testing.T) {
	cl := dbtest.Start(t, dbtest.Options{Addrs: []string{"127.107.12.1", "127.107.12.2"}, Port: 15714, LivenessPort: 15715})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, cl.Socket(1))
	require.NoError(t, err)
	defer c.Close()
	users, err := userdb.Open(ctx, c)
	require.NoError(t, err)

	run := func(stdin string, args ...string) (stdout, stderr string, err error) {
		var out, errb bytes.Buffer
		cmd := newCmd(strings.NewReader(stdin), &out, &errb, cl.Socket(0))
		cmd.SetArgs(args)
		err = cmd.ExecuteContext(ctx)
		return out.String(), errb.String(), err
	}
	lookup := func(name string) (auth.User, error) { return users.LookupUser(ctx, name) }

	out, _, err := run("pw1\npw1\n", "-s", "-a", "bob")
	require.NoError(t, err)
	assert.Equal(t, "Added user bob.\n", out)
	u, err := lookup("BOB")
	require.NoError(t, err)
	assert.Equal(t, auth.NTHash("pw1"), u.NTHash)

	out, _, err = run("pw2\npw2\n", "-sa", "bob")
	require.NoError(t, err, "combined short flags, as Samba's")
	assert.Empty(t, out, "-a on an existing user only sets the password")
	u, _ = lookup("bob")
	assert.Equal(t, auth.NTHash("pw2"), u.NTHash)

	_, errOut, err := run("x\ny\n", "-s", "bob")
	require.Error(t, err)
	assert.Equal(t, "Mismatch - password unchanged.\nUnable to get new password.\n", errOut)
	u, _ = lookup("bob")
	assert.Equal(t, auth.NTHash("pw2"), u.NTHash, "a mismatch changes nothing")

	_, errOut, err = run("", "-s", "-a", "bob")
	require.Error(t, err)
	assert.Equal(t, "Unable to get new password.\n", errOut)

	out, _, err = run("", "-d", "bob")
	require.NoError(t, err)
	assert.Equal(t, "Disabled user bob.\n", out)
	u, _ = lookup("bob")
	assert.True(t, u.Disabled)
	out, _, err = run("", "-e", "bob")
	require.NoError(t, err)
	assert.Equal(t, "Enabled user bob.\n", out)
	u, _ = lookup("bob")
	assert.False(t, u.Disabled)

	out, _, err = run("pw\npw\n", "-s", "bob")
	require.NoError(t, err)
	assert.Empty(t, out)
	u, _ = lookup("bob")
	assert.Equal(t, auth.NTHash("pw"), u.NTHash, "no flag changes the password")

	out, _, err = run("", "-x", "bob")
	require.NoError(t, err)
	assert.Equal(t, "Deleted user bob.\n", out)
	_, err = lookup("bob")
	assert.ErrorIs(t, err, auth.ErrNoSuchUser)

	for _, args := range [][]string{{"-x", "bob"}, {"-d", "bob"}, {"-e", "bob"}} {
		_, errOut, err = run("", args...)
		require.Error(t, err, "%v", args)
		assert.Equal(t, "Failed to find entry for user bob.\n", errOut)
	}
	_, _, err = run("", "-a", "-x", "bob")
	assert.Error(t, err, "one action at a time")
	_, _, err = run("", "-s", "-a", "bad/name")
	assert.Error(t, err)
}
