package eventscripts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScriptsListEnableDisable(t *testing.T) {
	d := newScriptDir(t)
	d.add("10.interface", 0o755, "")
	d.add("00.ctdb", 0o644, "")
	r := d.runner()

	list, err := r.Scripts()
	require.NoError(t, err)
	assert.Equal(t, []Script{
		{Name: "00.ctdb", Path: filepath.Join(d.dir, "00.ctdb.script"), Enabled: false},
		{Name: "10.interface", Path: filepath.Join(d.dir, "10.interface.script"), Enabled: true},
	}, list)

	require.NoError(t, r.Enable("00.ctdb"))
	st, err := os.Stat(filepath.Join(d.dir, "00.ctdb.script"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())

	require.NoError(t, r.Disable("10.interface.script"), "the suffix may be given")
	st, err = os.Stat(filepath.Join(d.dir, "10.interface.script"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	list, err = r.Scripts()
	require.NoError(t, err)
	assert.True(t, list[0].Enabled)
	assert.False(t, list[1].Enabled)
}

func TestScriptEnableErrors(t *testing.T) {
	d := newScriptDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(d.dir, "foo.script"), []byte("#!/bin/sh\n"), 0o644))
	target := d.add("11.real", 0o644, "")
	require.NoError(t, os.Symlink(target, filepath.Join(d.dir, "12.link.script")))
	require.NoError(t, os.Mkdir(filepath.Join(d.dir, "13.dir.script"), 0o755))
	r := d.runner()

	err := r.Enable("99.missing")
	assert.ErrorIs(t, err, ErrScriptNotFound)
	assert.EqualError(t, err, "Script 99.missing does not exist in legacy")

	err = r.Enable("foo")
	assert.ErrorIs(t, err, ErrInvalidScript)
	assert.EqualError(t, err, "Script foo is invalid in legacy")

	for _, name := range []string{"12.link", "13.dir", "../legacy/11.real"} {
		assert.ErrorIs(t, r.Enable(name), ErrInvalidScript, name)
	}
	st, err := os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "never changed through a link")

	assert.NoError(t, r.Disable("99.missing"), "disabling a missing script is not an error")
}
