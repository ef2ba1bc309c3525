package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func scanAll(data string) []iniLine {
	var out []iniLine
	scanINI([]byte(data), func(l iniLine) { out = append(out, l) })
	return out
}

func TestScanINI(t *testing.T) {
	opt := func(num int, name, value string) iniLine {
		return iniLine{num: num, kind: iniOption, name: name, value: value, equals: true}
	}
	cases := []struct {
		name string
		in   string
		want []iniLine
	}{
		{"empty", "", nil},
		{"blank and comments", "\n  \n# x = y\n\t; z\n   # indented\n", nil},
		{"section", "[cluster]\n", []iniLine{{num: 1, kind: iniSection, name: "cluster"}}},
		{"section trailer", "[cluster] # c\n", []iniLine{{num: 1, kind: iniSection, name: "cluster", trailer: " # c"}}},
		{"section spaces kept", "[ cluster ]\n", []iniLine{{num: 1, kind: iniSection, name: " cluster "}}},
		{"unterminated section", "[cluster\n", []iniLine{{num: 1, kind: iniBadSection, name: "cluster"}}},
		{"option", "a = b\n", []iniLine{opt(1, "a", "b")}},
		{"no spaces", "a=b", []iniLine{opt(1, "a", "b")}},
		{"leading white space", " \t log level = NOTICE\n", []iniLine{opt(1, "log level", "NOTICE")}},
		{"runs collapse", "log    level   =   a    b  \n", []iniLine{opt(1, "log level", "a b")}},
		{"run keeps its first character", "log\t  level = x\n", []iniLine{opt(1, "log\tlevel", "x")}},
		{"crlf", "a = b\r\n", []iniLine{opt(1, "a", "b")}},
		{"hash inside value", "a = b # c\n", []iniLine{opt(1, "a", "b # c")}},
		{"second equals in value", "a = b=c\n", []iniLine{opt(1, "a", "b=c")}},
		{"empty value", "a =\n", []iniLine{opt(1, "a", "")}},
		{"no equals", "just words\n", []iniLine{{num: 1, kind: iniOption, name: "just words"}}},
		{"no name", "= x\n", []iniLine{opt(1, "", "x")}},
		{"continuation", "a = b\\\nc\nd = e\n", []iniLine{opt(1, "a", "bc"), opt(3, "d", "e")}},
		{"continuation with space", "a = b\\ \n   c\n", []iniLine{opt(1, "a", "b c")}},
		{"continuation keeps comment text", "a = b \\\n# c\n", []iniLine{opt(1, "a", "b # c")}},
		{"continuation at end of file", "a = b\\\n", []iniLine{opt(1, "a", "b")}},
		{"lone continuation", "\\\n", nil},
		{"backslashes at end of file", "a = b\\\\", []iniLine{opt(1, "a", "b")}},
		{"backslash and space at end of file", "a = b\\ ", []iniLine{opt(1, "a", "b")}},
		{"comment does not continue", "# a \\\nb = c\n", []iniLine{opt(2, "b", "c")}},
		{"line numbers", "\n[x]\n\n\na=1\n", []iniLine{{num: 2, kind: iniSection, name: "x"}, opt(5, "a", "1")}},
		{"no final newline", "[x]\na=1", []iniLine{{num: 1, kind: iniSection, name: "x"}, opt(2, "a", "1")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, scanAll(tc.in))
		})
	}
}
