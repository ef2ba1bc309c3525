package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gctdb/ctdbd/internal/logging"
)

// HelperName is the built-in cluster lock helper's file name, the same as
// CTDB's so that either can stand in for the other.
const HelperName = "ctdb_mutex_fcntl_helper"

// Errors of the lock holder.
var (
	ErrNoLock      = errors.New("no cluster lock configured")
	ErrLockLost    = errors.New("cluster lock lost")
	ErrBadLockSpec = errors.New("invalid cluster lock")
)

// lockSpec is a parsed [cluster] cluster lock: a file for the built-in
// helper, or "!command args" for any helper with CTDB's contract.
type lockSpec struct {
	raw  string
	argv []string
}

// parseLockSpec parses raw as CTDB does; helper is the built-in helper's
// path. An empty raw means no lock.
func parseLockSpec(raw, helper string) (lockSpec, error) {
	if raw == "" {
		return lockSpec{}, nil
	}
	if cmd, ok := strings.CutPrefix(raw, "!"); ok {
		argv := strings.Fields(cmd)
		if len(argv) == 0 {
			return lockSpec{}, fmt.Errorf("%w: %q has no command", ErrBadLockSpec, raw)
		}
		return lockSpec{raw: raw, argv: argv}, nil
	}
	return lockSpec{raw: raw, argv: []string{helper, raw}}, nil
}

func (s lockSpec) configured() bool { return len(s.argv) > 0 }

// lockResult is how an attempt to take the lock ended.
type lockResult int

// Outcomes, from the contract's result characters.
const (
	lockTaken lockResult = iota
	lockContended
	lockTimeout
	lockError
)

func (r lockResult) String() string {
	return [...]string{"taken", "contended", "timeout", "error"}[r]
}

// lockOptions are what ctdbd tells its helper.
type lockOptions struct {
	// Lease is the fencing lease offered to helpers that speak gctdb's
	// lease protocol.
	Lease time.Duration
	// MinTerm is the lowest term the winner may claim.
	MinTerm uint64
	PNN     uint32
	// LogLocation and LogHost let gctdb's helper log like ctdbd, with
	// exact times even while ctdbd is stalled.
	LogLocation string
	LogHost     string
	// Timeout bounds how long the helper may take to answer.
	Timeout time.Duration
	Log     *slog.Logger
}

// heldLock is a running helper that holds the cluster lock. With gctdb's
// helper it is leased: the helper gives the lock up unless renewed, and
// ctdbd counts the lock as held only until the time it sent the last
// acknowledged request plus the lease. CTDB's helpers have no lease: their
// lock is held while their process lives.
type heldLock struct {
	cmd    *exec.Cmd
	stdin  *os.File
	log    *slog.Logger
	term   uint64
	lease  time.Duration
	leased bool

	mu         sync.Mutex
	seq        uint64
	sent       map[uint64]sentRequest
	validUntil time.Time
	lostErr    error
	lost       chan struct{}
	exited     chan struct{}
}

type sentRequest struct {
	at time.Time
	// reply receives the verdict of a verify request; nil for renewals.
	reply chan error
}

// acquire runs the helper once and waits for its answer. It returns the
// held lock only for lockTaken.
func acquire(ctx context.Context, spec lockSpec, o lockOptions) (*heldLock, lockResult, error) {
	if !spec.configured() {
		return nil, lockError, ErrNoLock
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, lockError, fmt.Errorf("cluster lock helper: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, lockError, fmt.Errorf("cluster lock helper: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, lockError, fmt.Errorf("cluster lock helper: %w", err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.Env = append(os.Environ(),
		"GCTDB_MUTEX_LEASE_MS="+strconv.FormatInt(o.Lease.Milliseconds(), 10),
		"GCTDB_MUTEX_MIN_TERM="+strconv.FormatUint(o.MinTerm, 10),
		"GCTDB_MUTEX_PNN="+strconv.FormatUint(uint64(o.PNN), 10),
		"GCTDB_MUTEX_LOG="+o.LogLocation,
		"GCTDB_MUTEX_LOG_HOST="+o.LogHost,
	)
	// Its own process group, so that stopping ctdbd's group does not
	// stop the helper that must give up a stalled leader's lock; and
	// killed with ctdbd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, lockError, fmt.Errorf("start cluster lock helper %s: %w", spec.argv[0], err)
	}
	h := &heldLock{
		cmd:    cmd,
		stdin:  inW,
		log:    o.Log,
		lease:  o.Lease,
		sent:   make(map[uint64]sentRequest),
		lost:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go h.logStderr(errR, spec.argv[0])
	go func() {
		err := cmd.Wait()
		inW.Close()
		h.markLost(fmt.Errorf("%w: helper exited (%v)", ErrLockLost, exitText(err)))
		close(h.exited)
	}()

	out := bufio.NewReader(outR)
	first := make(chan byte, 1)
	go func() {
		c, err := out.ReadByte()
		if err != nil {
			close(first)
			return
		}
		first <- c
	}()
	timeout := time.NewTimer(o.Timeout)
	defer timeout.Stop()
	var c byte
	var ok bool
	select {
	case c, ok = <-first:
	case <-timeout.C:
		h.release()
		outR.Close()
		return nil, lockTimeout, fmt.Errorf("cluster lock helper gave no answer within %v", o.Timeout)
	case <-ctx.Done():
		h.release()
		outR.Close()
		return nil, lockError, ctx.Err()
	}
	if !ok {
		h.release()
		outR.Close()
		return nil, lockError, errors.New("cluster lock helper exited without an answer")
	}
	var res lockResult
	switch c {
	case '0':
		res = lockTaken
	case '1':
		res = lockContended
	case '2':
		res = lockTimeout
	default:
		res = lockError
	}
	if res != lockTaken {
		h.release()
		outR.Close()
		if res == lockError {
			return nil, res, fmt.Errorf("cluster lock helper answered %q", c)
		}
		return nil, res, nil
	}
	// gctdb's helper follows the '0' with its hello in the same write, so
	// the hello is already buffered; CTDB's helpers write nothing more.
	if out.Buffered() > 0 {
		line, err := out.ReadString('\n')
		if err != nil {
			h.release()
			outR.Close()
			return nil, lockError, fmt.Errorf("cluster lock helper: bad hello %q", line)
		}
		term, lease, err := parseHello(line)
		if err != nil {
			h.release()
			outR.Close()
			return nil, lockError, err
		}
		h.term, h.leased = term, true
		if lease < h.lease {
			h.lease = lease
		}
		h.validUntil = start.Add(h.lease)
	}
	go h.readAnswers(out, outR)
	return h, lockTaken, nil
}

// parseHello parses "gctdb term=T lease=MS".
func parseHello(line string) (uint64, time.Duration, error) {
	var term uint64
	var ms int64
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "gctdb term=%d lease=%d", &term, &ms); err != nil || ms <= 0 {
		return 0, 0, fmt.Errorf("cluster lock helper: bad hello %q", line)
	}
	return term, time.Duration(ms) * time.Millisecond, nil
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// logStderr logs what the helper writes to standard error.
func (h *heldLock) logStderr(r io.ReadCloser, name string) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		h.log.Log(context.Background(), logging.SlogNotice, "cluster lock helper: "+sc.Text(), "helper", name)
	}
}

// readAnswers handles the helper's acknowledgements until it goes away.
func (h *heldLock) readAnswers(out *bufio.Reader, closer io.Closer) {
	defer closer.Close()
	for {
		line, err := out.ReadString('\n')
		if err != nil {
			h.markLost(fmt.Errorf("%w: helper closed its output", ErrLockLost))
			return
		}
		kind, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		seqText, reason, _ := strings.Cut(rest, " ")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			continue
		}
		h.mu.Lock()
		req, ok := h.sent[seq]
		delete(h.sent, seq)
		var verdict error
		switch {
		case !ok:
		case kind == "a":
			if until := req.at.Add(h.lease); until.After(h.validUntil) {
				h.validUntil = until
			}
		case kind == "x":
			verdict = fmt.Errorf("%w: %s", ErrLockLost, reason)
		}
		h.mu.Unlock()
		if verdict != nil {
			h.markLost(verdict)
		}
		if ok && req.reply != nil {
			req.reply <- verdict
		}
	}
}

func (h *heldLock) markLost(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lostErr != nil {
		return
	}
	h.lostErr = err
	close(h.lost)
	for seq, req := range h.sent {
		if req.reply != nil {
			req.reply <- err
		}
		delete(h.sent, seq)
	}
}

// Lost is closed when the helper is gone or said the lock is lost.
func (h *heldLock) Lost() <-chan struct{} { return h.lost }

// Err says why the lock was lost, nil while it is held.
func (h *heldLock) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lostErr
}

// Held reports whether the lock is held at now: the helper process lives
// (gctdb's helper releases the lock only by exiting, so a live helper
// holds it; its exit may not have been noticed yet) and, when leased, the
// lease has not run out.
func (h *heldLock) Held(now time.Time) bool {
	h.mu.Lock()
	ok := h.lostErr == nil && (!h.leased || now.Before(h.validUntil))
	h.mu.Unlock()
	return ok && processRunning(h.cmd.Process.Pid)
}

// ValidFor is how much of the lease is left at now (0 without a lease).
func (h *heldLock) ValidFor(now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.leased || h.lostErr != nil || !now.Before(h.validUntil) {
		return 0
	}
	return h.validUntil.Sub(now)
}

// send writes one lease request; reply is nil for a renewal.
func (h *heldLock) send(kind byte, reply chan error) error {
	h.mu.Lock()
	if h.lostErr != nil {
		err := h.lostErr
		h.mu.Unlock()
		return err
	}
	h.seq++
	seq := h.seq
	h.sent[seq] = sentRequest{at: time.Now(), reply: reply}
	h.mu.Unlock()
	// A helper that stopped reading must not block ctdbd.
	h.stdin.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := fmt.Fprintf(h.stdin, "%c %d\n", kind, seq); err != nil {
		h.mu.Lock()
		delete(h.sent, seq)
		h.mu.Unlock()
		return fmt.Errorf("cluster lock helper: %w", err)
	}
	return nil
}

// Renew asks a leased helper to extend its lease; the lease counts from
// now once the helper acknowledges.
func (h *heldLock) Renew() error {
	if !h.leased {
		return nil
	}
	return h.send('r', nil)
}

// Verify proves that the lock is held now: a leased helper re-checks that
// the lock file still names its inode and renews the lease; for other
// helpers the process must still be alive. It returns the time left on
// the lease (0 without one).
func (h *heldLock) Verify(ctx context.Context) (time.Duration, error) {
	if !h.leased {
		if err := h.Err(); err != nil {
			return 0, err
		}
		if !processRunning(h.cmd.Process.Pid) {
			return 0, fmt.Errorf("%w: helper process is gone", ErrLockLost)
		}
		return 0, nil
	}
	reply := make(chan error, 1)
	if err := h.send('v', reply); err != nil {
		return 0, err
	}
	left := h.ValidFor(time.Now())
	if left == 0 {
		return 0, fmt.Errorf("%w: lease expired", ErrLockLost)
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case err := <-reply:
		if err != nil {
			return 0, err
		}
		left := h.ValidFor(time.Now())
		if left == 0 {
			return 0, fmt.Errorf("%w: lease expired", ErrLockLost)
		}
		return left, nil
	case <-t.C:
		return 0, fmt.Errorf("%w: lease expired before the helper answered", ErrLockLost)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// release stops the helper, which drops the lock, and waits until it is
// gone, but not for long: a helper stuck in the kernel on a hung file
// system cannot be waited for (its exit is still reaped later).
func (h *heldLock) release() {
	h.markLost(fmt.Errorf("%w: released", ErrLockLost))
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
		return
	case <-time.After(time.Second):
	}
	h.cmd.Process.Kill()
	select {
	case <-h.exited:
	case <-time.After(time.Second):
		h.log.Error("cluster lock helper does not exit", "pid", h.cmd.Process.Pid)
	}
}

// processRunning reports whether pid lives and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}
