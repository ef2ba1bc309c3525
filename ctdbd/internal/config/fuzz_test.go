package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// seedConfigs are the seeds shared by the fuzz targets: real files and
// the tricky corners of the tini syntax.
func seedConfigs(f *testing.F) {
	for _, name := range []string{"sample.conf", "ctdb-config-dump-defaults-4.17.txt", "ctdb-config-dump-sample-4.17.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "\\", "\\\n", "[", "[]", "]", "=", "==", "[x]\n=", "a\\\n\\\n\\ \n",
		"[cluster]\nleader timeout = 0x7fffffff\nport = 0\n",
		"[logging]\nlocation = file:\x00\n",
		"127.0.0.1\n#\n::1\n\n",
		"EnableBans=0\nMaxRedirectCount=1\n",
		"\r\n\t\v\f;#\n",
	} {
		f.Add([]byte(s))
	}
}

// checkParseErrors requires every error to be a *ParseError naming the
// file, so no problem escapes without its place.
func checkParseErrors(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var pe *ParseError
		if !errors.As(e, &pe) || pe.File != file {
			t.Fatalf("error without place: %v", e)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	seedConfigs(f)
	d := defaults{varDir: DefaultVarDir, etcDir: "/nonexistent"}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data, "ctdb.conf", d)
		checkParseErrors(t, err, "ctdb.conf")
		if err != nil {
			return
		}
		// A loaded configuration dumps and reloads to the same values.
		var buf bytes.Buffer
		if err := c.Dump(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := parseConfig(buf.Bytes(), "dump", d)
		if err != nil {
			t.Fatalf("dump does not parse: %v\n%s", err, buf.Bytes())
		}
		if again.values != c.values {
			t.Fatalf("dump changed values:\n%s", buf.Bytes())
		}
	})
}

func FuzzParseNodes(f *testing.F) {
	seedConfigs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ParseNodes(data, "nodes")
		if err != nil {
			if !errors.Is(err, ErrNoNodes) {
				checkParseErrors(t, err, "nodes")
			}
			return
		}
		for i, n := range nodes {
			if n.PNN != uint32(i) || n.Deleted == n.Addr.IsValid() {
				t.Fatalf("node %d inconsistent: %+v", i, n)
			}
		}
	})
}

func FuzzParseTunables(f *testing.F) {
	seedConfigs(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		base := DefaultTunables()
		got, err := parseTunables(data, "ctdb.tunables", base)
		checkParseErrors(t, err, "ctdb.tunables")
		if err != nil && got != base {
			t.Fatal("a failed load changed the tunables")
		}
	})
}
