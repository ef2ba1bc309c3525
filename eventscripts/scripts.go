package eventscripts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// scriptFile matches CTDB's script name pattern, "[0-9][0-9].*.script".
var scriptFile = regexp.MustCompile(`^[0-9][0-9]\..*\.script$`)

const scriptSuffix = ".script"

// Script is one event script in the directory.
type Script struct {
	// Name is the file name without ".script", e.g. "10.interface".
	Name string
	Path string
	// Enabled is true when the script is executable by its owner.
	Enabled bool
}

// ScriptError is a failure to enable or disable a script. Its message is
// the one ctdb prints.
type ScriptError struct {
	Script    string
	Component string
	Err       error
}

func (e *ScriptError) Error() string {
	switch {
	case errors.Is(e.Err, ErrScriptNotFound):
		return fmt.Sprintf("Script %s does not exist in %s", e.Script, e.Component)
	case errors.Is(e.Err, ErrInvalidScript):
		return fmt.Sprintf("Script %s is invalid in %s", e.Script, e.Component)
	}
	return fmt.Sprintf("Script %s in %s: %v", e.Script, e.Component, e.Err)
}

func (e *ScriptError) Unwrap() error { return e.Err }

// listScripts returns the scripts in dir in the order they run (bytewise,
// as CTDB's alphasort in the C locale).
func listScripts(dir string) ([]Script, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list event scripts: %w", err)
	}
	var out []Script
	for _, e := range entries {
		if !scriptFile.MatchString(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		// Follow links; a dangling link or a directory is not runnable.
		st, err := os.Stat(path)
		out = append(out, Script{
			Name:    strings.TrimSuffix(e.Name(), scriptSuffix),
			Path:    path,
			Enabled: err == nil && st.Mode().IsRegular() && st.Mode()&0o100 != 0,
		})
	}
	slices.SortFunc(out, func(a, b Script) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// chmodScript sets or clears the execute bits of a script. name may carry
// the ".script" suffix. Links are refused: changing the mode through one
// would change the script it points to for everyone sharing it.
func chmodScript(dir, name string, enable bool) error {
	component := filepath.Base(dir)
	file := name
	if !strings.HasSuffix(file, scriptSuffix) {
		file += scriptSuffix
	}
	fail := func(err error) error { return &ScriptError{Script: name, Component: component, Err: err} }
	if strings.ContainsRune(name, '/') {
		return fail(ErrInvalidScript)
	}
	// O_NOFOLLOW: a link (or one swapped in after a check) is refused.
	f, err := os.OpenFile(filepath.Join(dir, file), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !enable {
			// Disabling what is not there leaves it disabled, as in ctdb.
			return nil
		}
		return fail(ErrScriptNotFound)
	case errors.Is(err, syscall.ELOOP):
		return fail(ErrInvalidScript)
	case err != nil:
		return fail(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if !scriptFile.MatchString(file) || !st.Mode().IsRegular() {
		return fail(ErrInvalidScript)
	}
	mode := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if enable {
		mode |= 0o111
	} else {
		mode &^= 0o111
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	return nil
}
