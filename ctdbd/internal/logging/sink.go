package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// fileTimeLayout is CTDB's timestamp in log files and RFC 5424 syslog
// messages: local time, microseconds, numeric zone.
const fileTimeLayout = "2006-01-02T15:04:05.000000-07:00"

// maxDatagram is the longest syslog message sent, RFC 3164's limit,
// which CTDB applies to every syslog method.
const maxDatagram = 1024

// syslogFacilityDaemon is LOG_DAEMON, the facility CTDB logs under.
const syslogFacilityDaemon = 3 << 3

// ident is what the headers of log lines say about the writer.
type ident struct {
	app  string
	host string
	pid  int
}

// sink writes single lines (no newline inside) to one destination,
// adding the destination's header. Calls are serialised by output.
type sink interface {
	writeLine(t time.Time, l Level, line []byte) error
	reopen() error
	close() error
}

// output serialises the lines of all handlers of a Logger onto its sink.
type output struct {
	mu     sync.Mutex
	sink   sink
	closed bool
	now    func() time.Time
}

// write logs body, which may hold several lines, as one line per line so
// that every line of a multi-line message carries the header.
func (o *output) write(t time.Time, l Level, body []byte) error {
	if o.now != nil || t.IsZero() {
		t = o.clock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return os.ErrClosed
	}
	var errs []error
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if err := o.sink.writeLine(t, l, line); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *output) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

func (o *output) reopen() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return os.ErrClosed
	}
	return o.sink.reopen()
}

func (o *output) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	return o.sink.close()
}

// fileSink appends "TIME HOST APP[PID]: message" lines to a file, as
// CTDB's file logging does.
type fileSink struct {
	path string
	f    *os.File
	id   ident
	buf  []byte
}

func openFileSink(path string, id ident) (*fileSink, error) {
	s := &fileSink{path: path, id: id}
	if err := s.reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSink) writeLine(t time.Time, _ Level, line []byte) error {
	b := t.AppendFormat(s.buf[:0], fileTimeLayout)
	b = append(b, ' ')
	b = append(b, s.id.host...)
	b = append(b, ' ')
	b = appendTag(b, s.id)
	b = append(b, line...)
	b = append(b, '\n')
	s.buf = b
	_, err := s.f.Write(b)
	return err
}

// reopen opens the file again by name, so that a rotated log is
// followed by a new one; the old descriptor is closed only after the new
// one is open, so no line is lost if the open fails.
func (s *fileSink) reopen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	old := s.f
	s.f = f
	if old != nil {
		return old.Close()
	}
	return nil
}

func (s *fileSink) close() error { return s.f.Close() }

// stderrSink writes bare messages, as CTDB 4.17 does when a daemon logs
// to stderr in the foreground: the terminal or the harness capturing it
// supplies the context.
type stderrSink struct {
	w   io.Writer
	buf []byte
}

func (s *stderrSink) writeLine(_ time.Time, _ Level, line []byte) error {
	s.buf = append(append(s.buf[:0], line...), '\n')
	_, err := s.w.Write(s.buf)
	return err
}

func (s *stderrSink) reopen() error { return nil }
func (s *stderrSink) close() error  { return nil }

// syslogSink sends one datagram per line to a syslog daemon, over the
// local socket or UDP, in the formats CTDB uses for each method.
// Connection failures never stop the daemon: the message is counted as
// dropped, the next message tries to connect again and first reports how
// many were lost.
type syslogSink struct {
	method  SyslogMethod
	network string
	addr    string
	id      ident
	conn    net.Conn
	raw     syscall.RawConn // nonblocking method only
	dropped uint64
	buf     []byte
}

func newSyslogSink(method SyslogMethod, socket, udpAddr string, id ident) (*syslogSink, error) {
	s := &syslogSink{method: method, network: "unixgram", addr: socket, id: id}
	if method == SyslogUDP || method == SyslogUDPRFC5424 {
		s.network, s.addr = "udp", udpAddr
	}
	err := s.connect()
	if err != nil && method != SyslogBlocking {
		// As CTDB, only plain syslog tolerates a missing logger at
		// start-up (syslog(3) retries on every message).
		return nil, fmt.Errorf("connect to syslog %s %s: %w", s.network, s.addr, err)
	}
	return s, nil
}

func (s *syslogSink) connect() error {
	conn, err := net.Dial(s.network, s.addr)
	if err != nil {
		return err
	}
	if s.method == SyslogNonblocking {
		sc, ok := conn.(syscall.Conn)
		if !ok {
			conn.Close()
			return fmt.Errorf("%s connection has no descriptor", s.network)
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			conn.Close()
			return err
		}
		s.raw = raw
	}
	s.conn = conn
	return nil
}

func (s *syslogSink) writeLine(t time.Time, l Level, line []byte) error {
	if s.conn == nil {
		if err := s.connect(); err != nil {
			s.dropped++
			return fmt.Errorf("connect to syslog: %w", err)
		}
	}
	if s.dropped > 0 {
		note := fmt.Appendf(nil, "[Dropped %d log messages]", s.dropped)
		if err := s.send(t, l, note); err != nil {
			// The message that follows would most likely fail too, and
			// sending it would report the loss out of order.
			s.dropped++
			return err
		}
		s.dropped = 0
	}
	if err := s.send(t, l, line); err != nil {
		s.dropped++
		return err
	}
	return nil
}

func (s *syslogSink) send(t time.Time, l Level, msg []byte) error {
	b := s.format(t, l, msg)
	var err error
	if s.raw != nil {
		// One non-blocking attempt: a full socket means the message is
		// dropped, never that the daemon waits for syslog.
		ctlErr := s.raw.Write(func(fd uintptr) bool {
			_, err = syscall.Write(int(fd), b)
			return true
		})
		if ctlErr != nil {
			err = ctlErr
		}
	} else {
		_, err = s.conn.Write(b)
	}
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		// The logger went away or restarted: reconnect next time.
		s.conn.Close()
		s.conn, s.raw = nil, nil
	}
	return err
}

// format renders one datagram: RFC 5424 for udp-rfc5424, RFC 3164 with
// a timestamp for plain syslog (as syslog(3)), and CTDB's degenerate RFC
// 3164 without timestamp or host otherwise, so the receiving daemon
// stamps it.
func (s *syslogSink) format(t time.Time, l Level, msg []byte) []byte {
	b := append(s.buf[:0], '<')
	b = strconv.AppendInt(b, int64(syslogFacilityDaemon|l.syslogSeverity()), 10)
	b = append(b, '>')
	switch s.method {
	case SyslogUDPRFC5424:
		b = append(b, "1 "...)
		b = t.AppendFormat(b, fileTimeLayout)
		b = append(b, ' ')
		b = append(b, s.id.host...)
		b = append(b, ' ')
		b = append(b, s.id.app...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(s.id.pid), 10)
		b = append(b, " - - "...)
	case SyslogBlocking:
		b = t.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
		b = appendTag(b, s.id)
	default:
		b = appendTag(b, s.id)
	}
	b = append(b, msg...)
	s.buf = b
	if len(b) > maxDatagram {
		b = b[:maxDatagram]
	}
	return b
}

func (s *syslogSink) reopen() error {
	if s.conn != nil {
		s.conn.Close()
		s.conn, s.raw = nil, nil
	}
	return s.connect()
}

func (s *syslogSink) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.raw = nil, nil
	return err
}

// appendTag appends "APP[PID]: ".
func appendTag(b []byte, id ident) []byte {
	b = append(b, id.app...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(id.pid), 10)
	return append(b, "]: "...)
}
