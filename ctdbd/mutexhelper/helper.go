package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"gctdb/ctdbd/internal/logging"
)

// The contract's result characters.
const (
	resultTaken     = '0'
	resultContended = '1'
	resultError     = '3'
)

// defaultRecheck is CTDB's default recheck interval.
const defaultRecheck = 5 * time.Second

// parentPoll is how often the helper checks that its parent lives. The
// lease protocol notices a dead parent at once (end of input); this
// covers the plain contract.
const parentPoll = 250 * time.Millisecond

var errUsage = errors.New("usage: ctdb_mutex_fcntl_helper <file> [recheck_interval [ping_timeout]]")

// config is what the command line and the environment ask for.
type config struct {
	file    string
	recheck time.Duration
	lease   leaseConfig
}

func parseArgs(args []string, env func(string) (string, bool)) (config, error) {
	if len(args) < 2 || len(args) > 4 || args[1] == "" {
		return config{}, errUsage
	}
	cfg := config{file: args[1], recheck: defaultRecheck}
	if len(args) >= 3 {
		n, err := strconv.ParseUint(args[2], 10, 32)
		if err != nil {
			return config{}, fmt.Errorf("recheck interval %q: %w", args[2], errUsage)
		}
		cfg.recheck = time.Duration(n) * time.Second
	}
	if len(args) == 4 {
		if _, err := strconv.ParseUint(args[3], 10, 32); err != nil {
			return config{}, fmt.Errorf("ping timeout %q: %w", args[3], errUsage)
		}
	}
	lc, err := parseLeaseEnv(env)
	if err != nil {
		return config{}, err
	}
	cfg.lease = lc
	return cfg, nil
}

// run is the whole helper; it returns the exit status and, when it took
// the lock, the open lock file. The lock is released by closing that
// file, which main leaves to the exit: then the helper holds the lock
// for exactly as long as its process lives, and a parent that sees it
// alive knows the lock is held.
func run(args []string, env func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer, sigs <-chan os.Signal) (int, io.Closer) {
	prog := "ctdb_mutex_fcntl_helper"
	if len(args) > 0 {
		prog = filepath.Base(args[0])
	}
	cfg, err := parseArgs(args, env)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1, nil
	}
	log := newLogger(prog, env, stderr)
	ppid := os.Getppid()

	lk, res := takeLock(cfg.file, log)
	if res != resultTaken {
		stdout.Write([]byte{res})
		return 0, nil
	}
	out := &syncWriter{w: stdout}
	term := uint64(0)
	answer := string(resultTaken)
	if cfg.lease.enabled() {
		term = lk.advanceTerm(cfg.lease.minTerm, cfg.lease.pnn, log)
		answer += hello(term, cfg.lease.lease)
	}
	// Logged before the parent hears of it, so that no record of the
	// parent acting on the lock comes before this one.
	log.Log(context.Background(), logging.SlogNotice, "cluster lock acquired", "file", cfg.file, "inode", lk.ino, "term", term, "lease", cfg.lease.lease)
	out.write(answer)

	h := &holder{cfg: cfg, lk: lk, out: out, log: log, ppid: ppid}
	reason := h.hold(stdin, sigs)
	log.Log(context.Background(), logging.SlogNotice, "cluster lock released", "file", cfg.file, "inode", lk.ino, "term", term, "reason", reason)
	return 0, lk.f
}

// newLogger logs like ctdbd when ctdbd says where (GCTDB_MUTEX_LOG, a
// [logging] location), else plainly to stderr, as CTDB's helpers do.
func newLogger(prog string, env func(string) (string, bool), stderr io.Writer) *slog.Logger {
	loc, ok := env("GCTDB_MUTEX_LOG")
	if ok && loc != "" {
		if l, err := logging.ParseLocation(loc); err == nil {
			host, _ := env("GCTDB_MUTEX_LOG_HOST")
			lg, err := logging.New(logging.Options{Location: l, Level: logging.LevelNotice, App: prog, Hostname: host, Stderr: stderr})
			if err == nil {
				return lg.Logger
			}
		}
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logging.SlogNotice}))
}

// lockFile is the open, locked lock file.
type lockFile struct {
	f   *os.File
	dev uint64
	ino uint64
}

// takeLock opens file and takes the OFD write lock on its first byte
// without waiting.
func takeLock(file string, log *slog.Logger) (*lockFile, byte) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		log.Error("unable to open lock file", "file", file, "err", err)
		return nil, resultError
	}
	fl := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &fl); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, resultContended
		}
		log.Error("failed to get lock", "file", file, "err", err)
		return nil, resultError
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		log.Error("unable to stat lock file", "file", file, "err", err)
		return nil, resultError
	}
	return &lockFile{f: f, dev: st.Dev, ino: st.Ino}, resultTaken
}

// check reports why path no longer names the locked inode, or nil.
func (l *lockFile) check(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("lock file %s: %w", path, err)
	}
	if st.Dev != l.dev || st.Ino != l.ino {
		return fmt.Errorf("lock file %s was replaced (inode %d, locked %d)", path, st.Ino, l.ino)
	}
	return nil
}

// syncWriter serialises writes to the parent.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) write(line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := io.WriteString(s.w, line)
	return err
}

// holder keeps the lock until a reason to give it up.
type holder struct {
	cfg  config
	lk   *lockFile
	out  *syncWriter
	log  *slog.Logger
	ppid int
}

// checkResult is the outcome of one look at the lock file.
type checkResult struct {
	err error
	// seq is the verify request it answers, 0 for a periodic recheck.
	seq uint64
}

// hold waits for the first reason to release the lock and returns it.
func (h *holder) hold(stdin io.Reader, sigs <-chan os.Signal) string {
	done := make(chan struct{})
	defer close(done)

	var requests <-chan request
	var lease *time.Timer
	var leaseC <-chan time.Time
	if h.cfg.lease.enabled() {
		requests = readRequests(stdin, done)
		lease = time.NewTimer(h.cfg.lease.lease)
		defer lease.Stop()
		leaseC = lease.C
	}
	var recheckC <-chan time.Time
	if h.cfg.recheck > 0 {
		t := time.NewTicker(h.cfg.recheck)
		defer t.Stop()
		recheckC = t.C
	}
	parent := time.NewTicker(parentPoll)
	defer parent.Stop()

	// A look at the file may hang on a sick cluster file system; that is
	// a reason to give the lock up, not to stop renewing it.
	checks := make(chan checkResult, 1)
	checking := false
	var checkStarted time.Time
	var waiting []uint64
	startCheck := func(seq uint64) {
		if seq != 0 {
			waiting = append(waiting, seq)
		}
		if checking {
			return
		}
		checking, checkStarted = true, time.Now()
		go func() {
			err := h.lk.check(h.cfg.file)
			select {
			case checks <- checkResult{err: err}:
			case <-done:
			}
		}()
	}
	hangLimit := h.cfg.recheck
	if h.cfg.lease.lease > hangLimit {
		hangLimit = h.cfg.lease.lease
	}
	if hangLimit == 0 {
		hangLimit = defaultRecheck
	}

	for {
		select {
		case s := <-sigs:
			return "signal " + s.String()
		case <-parent.C:
			if os.Getppid() != h.ppid {
				return "parent exited"
			}
			if checking && time.Since(checkStarted) > hangLimit {
				return fmt.Sprintf("lock file check hung for %v", time.Since(checkStarted).Round(time.Millisecond))
			}
		case <-leaseC:
			return fmt.Sprintf("lease of %v expired: the parent stopped renewing it", h.cfg.lease.lease)
		case <-recheckC:
			startCheck(0)
		case c := <-checks:
			checking = false
			for _, seq := range waiting {
				h.answer(seq, c.err)
			}
			waiting = waiting[:0]
			if c.err != nil {
				return c.err.Error()
			}
		case r, ok := <-requests:
			if !ok {
				return "parent closed the lease channel"
			}
			// Renew before anything else: the parent counts the lease
			// from when it sent the request, which is earlier.
			lease.Reset(h.cfg.lease.lease)
			switch r.kind {
			case requestRenew:
				h.answer(r.seq, nil)
			case requestVerify:
				startCheck(r.seq)
			}
		}
	}
}

// answer acknowledges request seq, or reports that the lock is lost.
func (h *holder) answer(seq uint64, err error) {
	if err := h.out.write(ackLine(seq, err)); err != nil {
		h.log.Warn("cannot answer parent", "err", err)
	}
}
