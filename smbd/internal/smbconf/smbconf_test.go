package smbconf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gctdb/smbd/internal/server"
	"gctdb/smbd/internal/wire"
)

func TestParse(t *testing.T) {
	c, err := Parse(strings.NewReader(`
# comment
[global]
	interfaces = 127.0.0.5/8
	bind interfaces only = yes
	smb ports = 4450
	server min protocol = SMB2_10
	server max protocol = SMB3_00
	server signing = mandatory
	server smb encrypt = desired
	log level = 3 auth:5
	server guid = 01020304-0506-0708-090a-0b0c0d0e0f10
	pid directory = /tmp/run
	log file = /tmp/log.smbd
[Share]
	path = /srv/share
	read only = no
	guest ok = yes
	valid users = alice, bob
	browseable = no
	smb encrypt = required
`), "test.conf")
	require.NoError(t, err)
	assert.Equal(t, wire.Dialect210, c.MinProtocol)
	assert.Equal(t, wire.Dialect300, c.MaxProtocol)
	assert.True(t, c.SigningRequired)
	assert.Equal(t, server.EncryptDesired, c.Encrypt)
	assert.Equal(t, 3, c.LogLevel)
	assert.Equal(t, "/tmp/run", c.PIDDirectory)
	assert.Equal(t, "/tmp/log.smbd", c.LogFile)
	assert.Equal(t, [16]byte{4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16}, c.ServerGUID)
	require.Len(t, c.Shares, 1)
	s := c.Shares[0]
	assert.Equal(t, "Share", s.Name)
	assert.False(t, s.ReadOnly)
	assert.True(t, s.GuestOK)
	assert.Equal(t, []string{"alice", "bob"}, s.ValidUsers)
	assert.False(t, s.Browseable)
	assert.Equal(t, server.EncryptRequired, s.Encrypt)
	l, err := c.Listen()
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.5:4450"}, l)
}

func TestErrorsNameOptionAndLine(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"[global]\n\tsmb2 leases = yes\n", "x.conf:2: unsupported option \"smb2 leases\" in [global]"},
		{"[global]\n[s]\npath = /x\nvfs objects = acl_xattr\n", "x.conf:4: unsupported option \"vfs objects\" in share [s]"},
		{"[global]\nserver min protocol = NT1\n", "x.conf:2: protocol \"NT1\""},
		{"[s]\nread only = maybe\n", "x.conf:2: \"maybe\" is not a boolean"},
		{"path = /x\n", "x.conf:1: option \"path\" outside a section"},
		{"[s]\n", "share [s] has no path"},
		{"[global]\nsmb ports = 139\n", "139"},
	} {
		_, err := Parse(strings.NewReader(tc.conf), "x.conf")
		require.Error(t, err, tc.conf)
		assert.ErrorIs(t, err, ErrConfig)
		assert.Contains(t, err.Error(), tc.want)
	}
}
