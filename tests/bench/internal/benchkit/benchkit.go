// Package benchkit holds what the benchmark programs under tests/bench
// share: finding the repository, driving tests/local_daemons.sh, and
// summarising durations the way docs/benchmarks.md prints them.
package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RepoDir is the root of the gctdb checkout the program runs from.
func RepoDir() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// Harness runs `local_daemons.sh DIR ARGS...` (script is its path) with
// env added to the environment; the error carries the script's output.
func Harness(script, dir string, env []string, args ...string) error {
	cmd := exec.Command(script, append([]string{dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("local_daemons.sh %v: %v\n%s", args, err, out)
	}
	return nil
}

// Median is the middle of d (the upper one of an even count).
func Median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// FmtDur prints seconds with two decimals, shorter times in
// milliseconds with one.
func FmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// ReadPID reads a pid file; 0 when there is none.
func ReadPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// WaitGone waits up to limit for process pid to exit.
func WaitGone(pid int, limit time.Duration) error {
	for end := time.Now().Add(limit); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(end) {
			return fmt.Errorf("process %d still runs after %v", pid, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// StopAll runs `local_daemons.sh DIR stop all` and waits until the
// daemons of nodes 0..nodes-1 have exited, so that the next cluster can
// bind the same addresses at once.
func StopAll(script, dir string, env []string, nodes int) error {
	var pids []int
	for n := 0; n < nodes; n++ {
		for _, app := range []string{"ctdbd", "transportd", "smbd"} {
			if pid := ReadPID(filepath.Join(dir, fmt.Sprintf("node.%d", n), "run", app+".pid")); pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	err := Harness(script, dir, env, "stop", "all")
	for _, pid := range pids {
		if werr := WaitGone(pid, 10*time.Second); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}
