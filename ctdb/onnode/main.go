// Command onnode runs a command on some or all nodes of a cluster, as
// CTDB's onnode does: through ssh, or the program named by ONNODE_SSH
// (the local-daemons harness uses that to run commands in a node's
// environment on one machine).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const usageText = `Usage: onnode [OPTION] ... <NODES> <COMMAND> ...
  options:
    -c          Run in current working directory on specified nodes.
    -f          Specify nodes file, overriding default.
    -i          Keep standard input open - the default is to close it.
    -n          Allow nodes to be specified by name.
    -p          Run command in parallel on specified nodes.
    -P          Push given files to nodes instead of running commands.
    -q          Do not print node addresses (overrides -v).
    -v          Print node address even for a single node.
  <NODES>       "all", "any", "ok" (or "healthy"), "con" (or "connected") ; or
                a node number (0 base); or
                a hostname (if -n is specified); or
                list (comma separated) of <NODES>; or
                range (hyphen separated) of node numbers.
`

// usageError makes run print msg (if any), then the usage, and exit 1.
// A message about the node specification is followed by a blank line,
// as in CTDB's onnode; getopts' messages are not.
type usageError struct {
	msg   string
	blank bool
}

func (e usageError) Error() string { return e.msg }

type options struct {
	current, namesOK, parallel, quiet, verbose, push, stdin bool
	nodesFile                                               string
	nodespec                                                string
	command                                                 string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args)
	if err != nil {
		return usage(stderr, err)
	}
	env := func(k string) string { return os.Getenv(k) }
	sshCmd, err := sshCommand(env)
	if err != nil {
		fmt.Fprintf(stderr, "onnode: %v\n", err)
		return 1
	}
	nodes, err := resolveNodes(opts, env, sshCmd)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return usage(stderr, err)
		}
		fmt.Fprintf(stderr, "onnode: %v\n", err)
		return 1
	}
	if opts.quiet {
		opts.verbose = false
	} else if len(nodes) > 1 {
		opts.verbose = true
	}
	command := opts.command
	if opts.current {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintf(stderr, "onnode: %v\n", err)
			return 1
		}
		command = "cd " + shellQuote(wd) + " && " + command
	}
	if opts.push {
		return pushFiles(nodes, strings.Fields(opts.command), env("ONNODE_SSH"), opts.verbose, stdout, stderr)
	}
	// The remote shell must accept -n (close stdin), as CTDB requires.
	if opts.parallel || !opts.stdin {
		sshCmd = append(sshCmd, "-n")
	}
	return execute(nodes, sshCmd, command, opts, stdout, stderr)
}

func usage(stderr io.Writer, err error) int {
	var ue usageError
	if errors.As(err, &ue) && ue.msg != "" {
		fmt.Fprintln(stderr, ue.msg)
		if ue.blank {
			fmt.Fprintln(stderr)
		}
	}
	fmt.Fprint(stderr, usageText)
	return 1
}

func parseArgs(args []string) (*options, error) {
	o := &options{}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		for j := 1; j < len(a); j++ {
			switch a[j] {
			case 'c':
				o.current = true
			case 'n':
				o.namesOK = true
			case 'p':
				o.parallel = true
			case 'q':
				o.quiet = true
			case 'v':
				o.verbose = true
			case 'P':
				o.push = true
			case 'i':
				o.stdin = true
			case 'h':
				return nil, usageError{}
			case 'f':
				if j+1 < len(a) {
					o.nodesFile = a[j+1:]
				} else {
					i++
					if i >= len(args) {
						return nil, usageError{msg: "onnode: option requires an argument -- f"}
					}
					o.nodesFile = args[i]
				}
				j = len(a)
			default:
				return nil, usageError{msg: fmt.Sprintf("onnode: illegal option -- %c", a[j])}
			}
		}
	}
	rest := args[i:]
	if len(rest) < 2 {
		return nil, usageError{}
	}
	o.nodespec = rest[0]
	o.command = strings.Join(rest[1:], " ")
	return o, nil
}

// nodesFilePath finds the nodes file: -f (relative to CTDB_BASE if not
// found as given), else CTDB_NODES, else $CTDB_BASE/nodes.
func nodesFilePath(o *options, env func(string) string) string {
	base := env("CTDB_BASE")
	if base == "" {
		base = "/etc/ctdb"
	}
	if o.nodesFile != "" {
		f := o.nodesFile
		if _, err := os.Stat(f); err != nil && !filepath.IsAbs(f) {
			f = filepath.Join(base, f)
		}
		return f
	}
	if f := env("CTDB_NODES"); f != "" {
		return f
	}
	return filepath.Join(base, "nodes")
}

// readNodes returns the nodes file's addresses by PNN; deleted nodes
// (lines starting with '#') are empty strings.
func readNodes(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to open nodes file  \"%s\"", path)
	}
	var nodes []string
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "#"):
			nodes = append(nodes, "") // a deleted node keeps its PNN
		case t != "":
			nodes = append(nodes, strings.Fields(t)[0])
		}
	}
	return nodes, nil
}

var rangeRE = regexp.MustCompile(`^([0-9]+)-([0-9]+)$`)

func resolveNodes(o *options, env func(string) string, sshCmd []string) ([]string, error) {
	all, err := readNodes(nodesFilePath(o, env))
	if err != nil {
		return nil, err
	}
	nth := func(n int) (string, error) {
		if n < 0 || n >= len(all) || all[n] == "" {
			return "", fmt.Errorf("\"node %d\" does not exist", n)
		}
		return all[n], nil
	}
	var out []string
	var status []statusLine
	for _, item := range strings.Split(o.nodespec, ",") {
		switch {
		case item == "all":
			for _, a := range all {
				if a != "" {
					out = append(out, a)
				}
			}
		case item == "any":
			a, err := anyNode(all, sshCmd)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		case item == "ok" || item == "healthy" || item == "con" || item == "connected":
			if status == nil {
				if status, err = clusterStatus(); err != nil {
					return nil, err
				}
			}
			for _, s := range status {
				if item == "ok" || item == "healthy" {
					if s.anyFlag {
						continue
					}
				} else if s.disconnected {
					continue
				}
				a, err := nth(s.pnn)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
		case rangeRE.MatchString(item):
			m := rangeRE.FindStringSubmatch(item)
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			for n := lo; n <= hi; n++ {
				a, err := nth(n)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
		default:
			n, err := strconv.Atoi(item)
			if err != nil || n < 0 {
				if !o.namesOK {
					return nil, usageError{msg: "Invalid <nodespec>", blank: true}
				}
				out = append(out, item)
				continue
			}
			a, err := nth(n)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

type statusLine struct {
	pnn          int
	disconnected bool
	anyFlag      bool
}

// clusterStatus parses `ctdb -X status` as CTDB's onnode does.
func clusterStatus() ([]statusLine, error) {
	out, err := exec.Command("ctdb", "-X", "status").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("unable to get status of CTDB nodes\n%s", strings.TrimSpace(string(out)))
	}
	var lines []statusLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		if len(f) < 3 {
			continue
		}
		pnn, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		s := statusLine{pnn: pnn, disconnected: f[2] != "0"}
		for _, b := range f[2:] {
			if b == "1" {
				s.anyFlag = true
			}
		}
		lines = append(lines, s)
	}
	return lines, nil
}

// anyNode returns the lowest-numbered node whose daemon answers `ctdb
// pnn` through the remote shell. CTDB's onnode asks all nodes the same
// way (by running itself with -pq all) and takes the first answer.
func anyNode(all []string, sshCmd []string) (string, error) {
	outs := make([][]byte, len(all))
	var wg sync.WaitGroup
	for i, addr := range all {
		if addr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(append(slices.Clone(sshCmd[1:]), "-n"), addr, "ctdb pnn")
			// A node that is down answers with an error, which only
			// means it is not the one.
			outs[i], _ = exec.Command(sshCmd[0], args...).Output()
		}()
	}
	wg.Wait()
	digits := regexp.MustCompile(`^[0-9]+$`)
	for _, out := range outs {
		for _, line := range strings.Split(string(out), "\n") {
			if !digits.MatchString(line) {
				continue
			}
			if n, err := strconv.Atoi(line); err == nil && n < len(all) && all[n] != "" {
				return all[n], nil
			}
		}
	}
	return "", errors.New("no node is available")
}

// sshCommand returns the remote-shell command: ONNODE_SSH (also from
// $CTDB_BASE/onnode.conf) or ssh.
func sshCommand(env func(string) string) ([]string, error) {
	ssh := env("ONNODE_SSH")
	if base := env("CTDB_BASE"); base != "" {
		if v, ok, err := readOnnodeConf(filepath.Join(base, "onnode.conf")); err != nil {
			return nil, err
		} else if ok {
			ssh = v
		}
	}
	if ssh == "" {
		ssh = "ssh"
	}
	return strings.Fields(ssh), nil
}

// readOnnodeConf reads ONNODE_SSH=... from onnode.conf, the one setting
// operators put there.
func readOnnodeConf(path string) (string, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	val, found := "", false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "ONNODE_SSH="); ok {
			val, found = strings.Trim(v, `"'`), true
		}
	}
	return val, found, nil
}

func execute(nodes []string, sshCmd []string, command string, o *options, stdout, stderr io.Writer) int {
	// SIGINT and SIGTERM are passed on to the remote shells, as CTDB's
	// onnode traps them.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	var mu sync.Mutex
	var procs []*os.Process
	stop := make(chan struct{})
	var relay sync.WaitGroup
	relay.Add(1)
	go func() {
		defer relay.Done()
		for {
			select {
			case <-stop:
				return
			case <-sigs:
			}
			mu.Lock()
			for _, p := range procs {
				p.Signal(syscall.SIGTERM)
			}
			mu.Unlock()
		}
	}()
	defer func() {
		signal.Stop(sigs)
		close(stop)
		relay.Wait()
	}()

	start := func(node string, out, errw io.Writer) (*exec.Cmd, error) {
		args := append(append([]string{}, sshCmd[1:]...), node, command)
		cmd := exec.Command(sshCmd[0], args...)
		cmd.Stdout, cmd.Stderr = out, errw
		if !o.parallel && o.stdin {
			cmd.Stdin = os.Stdin
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		mu.Lock()
		procs = append(procs, cmd.Process)
		mu.Unlock()
		return cmd, nil
	}
	exitCode := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ee.ExitCode()
		}
		return 1
	}

	ret := 0
	if !o.parallel {
		for _, n := range nodes {
			if o.verbose {
				fmt.Fprintf(stderr, "\n>> NODE: %s <<\n", n)
			}
			cmd, err := start(n, stdout, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "onnode: %v\n", err)
				ret = startFailure(err)
				continue
			}
			if err := cmd.Wait(); err != nil {
				ret = exitCode(err)
			}
		}
		return ret
	}

	var wg sync.WaitGroup
	var outMu sync.Mutex
	results := make([]int, len(nodes))
	// The commands' output is copied concurrently; whole writes never mix.
	sharedOut, sharedErr := &lockedWriter{w: stdout, mu: &outMu}, &lockedWriter{w: stderr, mu: &outMu}
	for i, n := range nodes {
		var out, errw io.Writer = sharedOut, sharedErr
		var pw *prefixWriter
		if o.verbose {
			pw = &prefixWriter{prefix: "[" + n + "] ", w: stdout, mu: &outMu}
			out, errw = pw, pw
		}
		cmd, err := start(n, out, errw)
		if err != nil {
			fmt.Fprintf(stderr, "onnode: %v\n", err)
			results[i] = startFailure(err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				results[i] = exitCode(err)
			}
			if pw != nil {
				pw.flush()
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != 0 {
			ret = r
		}
	}
	return ret
}

// startFailure is the exit status for a remote shell that could not be
// started: 127 when it does not exist, as a shell reports it.
func startFailure(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 1
}

// lockedWriter serialises writes to a writer shared by several commands.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// prefixWriter prefixes every output line with the node, like
// `sed -e "s@^@[node] @"` in CTDB's onnode.
type prefixWriter struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
	lmu    sync.Mutex
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if len(p.buf) > 0 {
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.mu.Unlock()
		p.buf = nil
	}
}

// pushFiles copies files to the nodes with rsync, as onnode -P; rsync
// reaches the nodes through ONNODE_SSH when it is set.
func pushFiles(nodes, files []string, ssh string, verbose bool, stdout, stderr io.Writer) int {
	wd, _ := os.Getwd()
	ret := 0
	for _, n := range nodes {
		for _, f := range files {
			if verbose {
				fmt.Fprintf(stdout, "Pushing %s\n", f)
			}
			src := f
			if !filepath.IsAbs(f) {
				src = filepath.Join(wd, f)
			}
			cmd := exec.Command("rsync", src, "["+n+"]:"+src)
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if ssh != "" {
				cmd.Env = append(os.Environ(), "RSYNC_RSH="+ssh)
			}
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(stderr, "onnode: push %s to %s: %v\n", f, n, err)
				ret = 1
			}
		}
	}
	return ret
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
