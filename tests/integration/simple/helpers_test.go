//go:build integration

package simple

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func syscallKill0(pid int) error { return syscall.Kill(pid, 0) }
