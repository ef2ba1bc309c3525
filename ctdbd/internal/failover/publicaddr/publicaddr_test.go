package publicaddr

import (
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	in := `# public addresses for the file cluster
192.168.100.1/24 eth1
	192.168.100.2/24	eth1,eth2   # two interfaces, tab separated

2001:db8:100::1/64 eth1
10.0.0.5/8 bond0.100` + "\r\n" + `   # indented comment
`
	got, err := Parse(strings.NewReader(in), "public_addresses")
	require.NoError(t, err)
	assert.Equal(t, []Address{
		{Prefix: netip.MustParsePrefix("192.168.100.1/24"), Interfaces: []string{"eth1"}},
		{Prefix: netip.MustParsePrefix("192.168.100.2/24"), Interfaces: []string{"eth1", "eth2"}},
		{Prefix: netip.MustParsePrefix("2001:db8:100::1/64"), Interfaces: []string{"eth1"}},
		{Prefix: netip.MustParsePrefix("10.0.0.5/8"), Interfaces: []string{"bond0.100"}},
	}, got)
	assert.Equal(t, netip.MustParseAddr("10.0.0.5"), got[3].Addr(), "host bits are kept")
	assert.Equal(t, "192.168.100.2/24 eth1,eth2", got[1].String())
}

func TestParseEmpty(t *testing.T) {
	got, err := Parse(strings.NewReader("\n# nothing here\n\n"), "public_addresses")
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		err      error
		msg      string
	}{
		{"missing interface", "10.0.0.1/24\n", 1, ErrMissingInterface, "public_addresses:1: no interface specified for 10.0.0.1/24"},
		{"missing mask", "# c\n10.0.0.1 eth0\n", 2, ErrSyntax, `public_addresses:2: badly formed line: "10.0.0.1" has no netmask (want IP/maskbits)`},
		{"not an address", "10.0.0.x/24 eth0\n", 1, ErrBadAddress, ""},
		{"mask too long", "10.0.0.1/33 eth0\n", 1, ErrBadAddress, ""},
		{"IPv6 mask too long", "2001:db8::1/129 eth0\n", 1, ErrBadAddress, ""},
		{"zone", "fe80::1%eth0/64 eth0\n", 1, ErrBadAddress, ""},
		{"unspecified", "0.0.0.0/0 eth0\n", 1, ErrBadAddress, ""},
		{"multicast", "ff02::1/64 eth0\n", 1, ErrBadAddress, ""},
		{"extra field", "10.0.0.1/24 eth0 eth1\n", 1, ErrSyntax, ""},
		{"empty interface", "10.0.0.1/24 eth0,,eth1\n", 1, ErrBadInterface, ""},
		{"trailing comma", "10.0.0.1/24 eth0,\n", 1, ErrBadInterface, ""},
		{"interface too long", "10.0.0.1/24 averyveryverylongname\n", 1, ErrBadInterface, ""},
		{"alias interface", "10.0.0.1/24 eth0:1\n", 1, ErrBadInterface, ""},
		{"interface twice", "10.0.0.1/24 eth0,eth0\n", 1, ErrBadInterface, ""},
		{"duplicate", "10.0.0.1/24 eth0\n\n10.0.0.1/16 eth1\n", 3, ErrDuplicate,
			"public_addresses:3: duplicate public IP address '10.0.0.1' (first on line 1)"},
		{"duplicate IPv6 spelling", "2001:db8::1/64 eth0\n2001:0db8:0::1/64 eth0\n", 2, ErrDuplicate, ""},
		{"line too long", "10.0.0.1/24 eth0\n" + strings.Repeat("x", MaxLineLength+1) + "\n", 2, ErrLineTooLong, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "public_addresses")
			require.ErrorIs(t, err, tc.err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "public_addresses", pe.File)
			assert.Equal(t, tc.line, pe.Line)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "public_addresses")
	require.NoError(t, os.WriteFile(path, []byte("10.0.0.1/24 eth0\n10.0.0.1/24 eth0\n"), 0o644))
	_, err := ParseFile(path)
	assert.EqualError(t, err, path+":2: duplicate public IP address '10.0.0.1' (first on line 1)")

	_, err = ParseFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func FuzzParse(f *testing.F) {
	f.Add("192.168.100.1/24 eth1\n2001:db8::1/64 eth1,eth2 # c\n")
	f.Add("# only a comment\n\n")
	f.Add("10.0.0.1/24\n")
	f.Add("10.0.0.1/24 eth0\n10.0.0.1/16 eth1\n")
	f.Add("fe80::1%eth0/64 eth0,,\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Parse(strings.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		// What parsed formats back into a file that parses the same.
		var b strings.Builder
		for _, a := range got {
			b.WriteString(a.String() + "\n")
		}
		again, err := Parse(strings.NewReader(b.String()), "fuzz")
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if len(again) != len(got) {
			t.Fatalf("re-parse gave %d addresses, want %d", len(again), len(got))
		}
		for i := range got {
			if again[i].String() != got[i].String() {
				t.Fatalf("round trip %q != %q", again[i], got[i])
			}
		}
	})
}
