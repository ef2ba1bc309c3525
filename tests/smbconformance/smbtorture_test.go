package smbconformance

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tortureCase is one line of passing.txt: a test name and optional
// "share=NAME" and extra smbtorture arguments.
type tortureCase struct {
	name  string
	share string
	args  []string
}

func loadPassing(t *testing.T) []tortureCase {
	t.Helper()
	f, err := os.Open("passing.txt")
	require.NoError(t, err)
	defer f.Close()
	var out []tortureCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		c := tortureCase{name: fields[0], share: "share"}
		for _, f := range fields[1:] {
			if v, ok := strings.CutPrefix(f, "share="); ok {
				c.share = v
			} else {
				c.args = append(c.args, f)
			}
		}
		out = append(out, c)
	}
	require.NoError(t, sc.Err())
	return out
}

// TestSmbtorturePassingList runs every test listed in passing.txt; each
// must keep passing.
func TestSmbtorturePassingList(t *testing.T) {
	bin := needTool(t, "smbtorture")
	if testing.Short() {
		t.Skip("runs the smbtorture list")
	}
	cases := loadPassing(t)
	require.NotEmpty(t, cases)
	s := startServer(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearDir(t, s.share)
			args := append([]string{s.unc(c.share), "-p", s.port, "-U", testUser + "%" + testPass,
				"--target=samba3"}, c.args...)
			args = append(args, c.name)
			out, _ := exec.Command(bin, args...).CombinedOutput()
			leaf := c.name[strings.LastIndexByte(c.name, '.')+1:]
			assert.Contains(t, string(out), "success: "+leaf, "smbtorture output:\n%s", out)
		})
	}
}

func clearDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, os.RemoveAll(dir+"/"+e.Name()))
	}
}
