package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The lease protocol, spoken only when gctdb's ctdbd asks for it through
// the environment:
//
//	GCTDB_MUTEX_LEASE_MS   lease length in milliseconds; enables the protocol
//	GCTDB_MUTEX_MIN_TERM   lowest leadership term the winner may claim
//	GCTDB_MUTEX_PNN        the parent's node number, recorded in the file
//	GCTDB_MUTEX_LOG        [logging] location to log to, as ctdbd does
//	GCTDB_MUTEX_LOG_HOST   host name for the log headers
//
// After taking the lock the helper writes, in the same write as the '0':
//
//	gctdb term=T lease=MS\n
//
// T is the new leadership term: one more than the term recorded in the
// lock file (and at least GCTDB_MUTEX_MIN_TERM), which the helper records
// there before answering. Then the parent sends lines on the helper's
// standard input and the helper answers each on standard output:
//
//	r SEQ\n      renew the lease            -> a SEQ\n
//	v SEQ\n      renew and verify that the  -> a SEQ\n, or
//	             file still names the locked   x SEQ REASON\n and exit
//	             inode
//
// The helper gives the lock up when no request arrived for the lease
// length, so the parent may count on holding the lock until the time it
// sent an acknowledged request plus the lease. End of input means the
// parent is gone.

// leaseConfig is the lease protocol's settings; lease 0 means off.
type leaseConfig struct {
	lease   time.Duration
	minTerm uint64
	pnn     string
}

func (c leaseConfig) enabled() bool { return c.lease > 0 }

func parseLeaseEnv(env func(string) (string, bool)) (leaseConfig, error) {
	var c leaseConfig
	if v, ok := env("GCTDB_MUTEX_LEASE_MS"); ok && v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil || ms == 0 {
			return leaseConfig{}, fmt.Errorf("GCTDB_MUTEX_LEASE_MS=%q: want a positive number of milliseconds", v)
		}
		c.lease = time.Duration(ms) * time.Millisecond
	}
	if v, ok := env("GCTDB_MUTEX_MIN_TERM"); ok && v != "" {
		t, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return leaseConfig{}, fmt.Errorf("GCTDB_MUTEX_MIN_TERM=%q: want a number", v)
		}
		c.minTerm = t
	}
	c.pnn, _ = env("GCTDB_MUTEX_PNN")
	return c, nil
}

// hello is the line that follows '0' under the lease protocol.
func hello(term uint64, lease time.Duration) string {
	return fmt.Sprintf("gctdb term=%d lease=%d\n", term, lease.Milliseconds())
}

// Request kinds.
const (
	requestRenew  = 'r'
	requestVerify = 'v'
)

type request struct {
	kind byte
	seq  uint64
}

var errBadRequest = errors.New("bad lease request")

func parseRequest(line string) (request, error) {
	kind, seq, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok || len(kind) != 1 || (kind[0] != requestRenew && kind[0] != requestVerify) {
		return request{}, fmt.Errorf("%w: %q", errBadRequest, line)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return request{}, fmt.Errorf("%w: %q", errBadRequest, line)
	}
	return request{kind: kind[0], seq: n}, nil
}

// readRequests delivers the parent's requests until end of input, when it
// closes the channel. Malformed lines are ignored.
func readRequests(r io.Reader, done <-chan struct{}) <-chan request {
	ch := make(chan request)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 256), 256)
		for sc.Scan() {
			req, err := parseRequest(sc.Text())
			if err != nil {
				continue
			}
			select {
			case ch <- req:
			case <-done:
				return
			}
		}
	}()
	return ch
}

// ackLine answers request seq.
func ackLine(seq uint64, err error) string {
	if err == nil {
		return fmt.Sprintf("a %d\n", seq)
	}
	return fmt.Sprintf("x %d %s\n", seq, strings.ReplaceAll(err.Error(), "\n", " "))
}

// termRecord is the lock file's content.
const termRecordPrefix = "gctdb-cluster-lock term="

// advanceTerm reads the term recorded in the lock file, records the next
// one (at least minTerm) and returns it. A record that cannot be written
// is logged: the parent still never claims a term below one it has seen.
func (l *lockFile) advanceTerm(minTerm uint64, pnn string, log *slog.Logger) uint64 {
	buf := make([]byte, 128)
	n, _ := l.f.ReadAt(buf, 0)
	term := parseTermRecord(string(buf[:n])) + 1
	if term < minTerm {
		term = minTerm
	}
	rec := fmt.Sprintf("%s%d pnn=%s\n", termRecordPrefix, term, pnn)
	if _, err := l.f.WriteAt([]byte(rec), 0); err != nil {
		log.Warn("cannot record the term in the lock file", "term", term, "err", err)
		return term
	}
	if err := l.f.Truncate(int64(len(rec))); err != nil {
		log.Warn("cannot record the term in the lock file", "term", term, "err", err)
	}
	return term
}

// parseTermRecord returns the term in a lock file's content, 0 if none.
func parseTermRecord(s string) uint64 {
	rest, ok := strings.CutPrefix(s, termRecordPrefix)
	if !ok {
		return 0
	}
	if i := strings.IndexAny(rest, " \n"); i >= 0 {
		rest = rest[:i]
	}
	t, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0
	}
	return t
}
