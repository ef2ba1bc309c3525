package logging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fixedTime = time.Date(2026, 11, 21, 19, 49, 24, 123456789, time.FixedZone("", 0))

func fixedNow() time.Time { return fixedTime }

func newFileLogger(t *testing.T, level Level) (*Logger, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.ctdb")
	l, err := New(Options{
		Location: Location{Kind: KindFile, Path: path},
		Level:    level,
		App:      "ctdbd",
		Hostname: "node.0",
		PID:      1234,
		Now:      fixedNow,
	})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestFileFormat(t *testing.T) {
	l, path := newFileLogger(t, LevelNotice)
	l.Log(context.Background(), SlogNotice, "Set runstate to INIT (1)")
	l.Warn("Cluster lock not set")
	l.Error("recovery failed", "pnn", 2, "db", "locking tdb", "err", errors.New("timed out"))
	l.With("component", "recoverd").WithGroup("vnn").Log(context.Background(), SlogNotice, "map", "generation", uint32(7), slog.Group("size", "n", 3))
	l.Log(context.Background(), SlogNotice, "line one\nline two\n", "k", "")
	l.Log(context.Background(), SlogNotice, "quoting", "eq", "a=b", "quote", `say "x"`, "ctl", "a\x01b", "nl", "a\nb", "bad", "\xff", "d", 1500*time.Millisecond)

	want := "" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: Set runstate to INIT (1)\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: Cluster lock not set\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: recovery failed pnn=2 db=\"locking tdb\" err=\"timed out\"\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: map component=recoverd vnn.generation=7 vnn.size.n=3\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: line one\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: line two k=\"\"\n" +
		"2026-11-21T19:49:24.123456+00:00 node.0 ctdbd[1234]: quoting eq=\"a=b\" quote=\"say \\\"x\\\"\" ctl=\"a\\x01b\" nl=\"a\\nb\" bad=\"\\xff\" d=1.5s\n"
	assert.Equal(t, want, readFile(t, path))
}

func TestLevelFilterAndSetLevel(t *testing.T) {
	l, path := newFileLogger(t, LevelNotice)
	assert.Equal(t, LevelNotice, l.Level())
	l.Info("hidden info")
	l.Debug("hidden debug")
	l.Log(context.Background(), SlogNotice, "shown notice")

	require.NoError(t, l.SetLevel(7)) // ctdb setdebug 7: behaves as INFO
	assert.Equal(t, Level(7), l.Level())
	assert.Equal(t, "INFO", l.Level().String())
	derived := l.With("component", "x")
	derived.Info("shown info")
	derived.Debug("hidden debug 2")

	require.NoError(t, l.SetLevel(LevelDebug))
	derived.Debug("shown debug")

	require.NoError(t, l.SetLevel(LevelError))
	l.Warn("hidden warning")
	l.Error("shown error")

	require.ErrorIs(t, l.SetLevel(11), ErrBadLevel)
	assert.Equal(t, LevelError, l.Level())

	got := readFile(t, path)
	for _, s := range []string{"shown notice", "shown info", "shown debug", "shown error"} {
		assert.Contains(t, got, s)
	}
	assert.NotContains(t, got, "hidden")
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := New(Options{Location: Location{Kind: KindStderr}, Level: 11})
	require.ErrorIs(t, err, ErrBadLevel)
	_, err = New(Options{Location: Location{Kind: KindFile, Path: filepath.Join(t.TempDir(), "no", "dir", "log")}})
	require.Error(t, err)
	_, err = New(Options{Location: Location{Kind: Kind(42)}})
	require.ErrorIs(t, err, ErrBadLocation)
}

func TestReopenAfterRotation(t *testing.T) {
	l, path := newFileLogger(t, LevelNotice)
	l.Warn("before rotation")
	require.NoError(t, os.Rename(path, path+".1"))
	l.Warn("still to the old file")
	require.NoError(t, l.Reopen())
	l.Warn("after rotation")

	assert.Contains(t, readFile(t, path+".1"), "still to the old file")
	cur := readFile(t, path)
	assert.Contains(t, cur, "after rotation")
	assert.NotContains(t, cur, "before rotation")

	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Reopen(), os.ErrClosed)
	assert.ErrorIs(t, l.Handler().Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, "x", 0)), os.ErrClosed)
}

func TestReopenFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "log.ctdb")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	l, err := New(Options{Location: Location{Kind: KindFile, Path: path}, Level: LevelNotice, App: "ctdbd"})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, os.Rename(filepath.Dir(path), filepath.Join(dir, "moved")))
	require.Error(t, l.Reopen())
	l.Warn("kept")
	assert.Contains(t, readFile(t, filepath.Join(dir, "moved", "log.ctdb")), "kept")
}

func TestStderrFormat(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Location: Location{Kind: KindStderr}, Level: LevelInfo, App: "ctdbd", Stderr: &buf})
	require.NoError(t, err)
	l.Info("PNN is 0", "pnn", 0)
	l.Debug("hidden")
	require.NoError(t, l.Reopen())
	assert.Equal(t, "PNN is 0 pnn=0\n", buf.String())
}

// TestConcurrentUse is meant for -race: writers, level changes and
// reopens at once, and every line must come out whole.
func TestConcurrentUse(t *testing.T) {
	l, path := newFileLogger(t, LevelInfo)
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg := l.With("writer", w)
			for i := range lines {
				lg.Warn("message", "i", i)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 100 {
			assert.NoError(t, l.SetLevel(LevelWarning+Level(i%10)))
			assert.NoError(t, l.Reopen())
		}
	}()
	wg.Wait()
	got := strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n")
	require.Len(t, got, writers*lines)
	for _, line := range got {
		assert.Regexp(t, `^2026-11-21T19:49:24\.123456\+00:00 node\.0 ctdbd\[1234\]: message writer=\d i=\d+$`, line)
	}
}

func listenUnixgram(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	// Unix socket paths are short; t.TempDir can exceed the limit.
	dir, err := os.MkdirTemp("", "log")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "log")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func newSyslogLogger(t *testing.T, method SyslogMethod, level Level, o Options) *Logger {
	t.Helper()
	o.Location = Location{Kind: KindSyslog, Method: method}
	o.Level, o.App, o.PID = level, "ctdbd", 77
	l, err := New(o)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func recv(t *testing.T, c net.PacketConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, _, err := c.ReadFrom(buf)
	require.NoError(t, err)
	return string(buf[:n])
}

func TestSyslogLocalFormats(t *testing.T) {
	conn, path := listenUnixgram(t)
	for _, tc := range []struct {
		method SyslogMethod
		want   []string
	}{
		// daemon facility (24) + err (3) = 27; notice = 29; INFO logs as notice.
		{SyslogBlocking, []string{"<27>Nov 21 19:49:24 ctdbd[77]: boom pnn=1", "<29>Nov 21 19:49:24 ctdbd[77]: info"}},
		{SyslogNonblocking, []string{"<27>ctdbd[77]: boom pnn=1", "<29>ctdbd[77]: info"}},
	} {
		t.Run(string(tc.method)+"x", func(t *testing.T) {
			l := newSyslogLogger(t, tc.method, LevelInfo, Options{SyslogSocket: path, Now: fixedNow})
			l.Error("boom", "pnn", 1)
			l.Info("info")
			assert.Equal(t, tc.want[0], recv(t, conn))
			assert.Equal(t, tc.want[1], recv(t, conn))
		})
	}
}

func TestSyslogUDPFormats(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	for _, tc := range []struct {
		method SyslogMethod
		want   string
	}{
		{SyslogUDP, "<28>ctdbd[77]: careful"},
		{SyslogUDPRFC5424, "<28>1 2026-11-21T19:49:24.123456+00:00 node1 ctdbd 77 - - careful"},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			l := newSyslogLogger(t, tc.method, LevelNotice,
				Options{Hostname: "node1", SyslogUDP: conn.LocalAddr().String(), Now: fixedNow})
			l.Warn("careful")
			assert.Equal(t, tc.want, recv(t, conn))
		})
	}
}

func TestSyslogTruncatesLongMessages(t *testing.T) {
	conn, path := listenUnixgram(t)
	l := newSyslogLogger(t, SyslogNonblocking, LevelNotice, Options{SyslogSocket: path})
	l.Error(strings.Repeat("x", 5000))
	got := recv(t, conn)
	assert.Len(t, got, maxDatagram)
	assert.True(t, strings.HasPrefix(got, "<27>ctdbd[77]: xxx"))
}

func TestSyslogNonblockingDropsAndReports(t *testing.T) {
	conn, path := listenUnixgram(t)
	l := newSyslogLogger(t, SyslogNonblocking, LevelNotice, Options{SyslogSocket: path})

	// Nobody reads: the socket fills and messages are dropped, never
	// waited for.
	sent := 0
	for sent = 0; sent < 100000; sent++ {
		if err := l.Handler().Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelError, "fill", 0)); err != nil {
			break
		}
	}
	require.Less(t, sent, 100000, "the socket never filled")
	const extra = 5
	for range extra {
		l.Error("dropped too")
	}

	// Drain, then the next message first reports the loss.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for range sent {
		recv(t, conn)
	}
	l.Error("after")
	assert.Equal(t, fmt.Sprintf("<27>ctdbd[77]: [Dropped %d log messages]", extra+1), recv(t, conn))
	assert.Equal(t, "<27>ctdbd[77]: after", recv(t, conn))
}

func TestSyslogMissingLogger(t *testing.T) {
	dir, err := os.MkdirTemp("", "log")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log")

	_, err = New(Options{Location: Location{Kind: KindSyslog, Method: SyslogNonblocking}, SyslogSocket: path})
	require.Error(t, err, "nonblocking syslog needs the socket at start-up, as in CTDB")

	// Plain syslog waits for a logger, as syslog(3).
	l := newSyslogLogger(t, SyslogBlocking, LevelNotice, Options{SyslogSocket: path, Now: fixedNow})
	l.Error("lost")

	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer conn.Close()
	l.Error("found")
	assert.Equal(t, "<27>Nov 21 19:49:24 ctdbd[77]: [Dropped 1 log messages]", recv(t, conn))
	assert.Equal(t, "<27>Nov 21 19:49:24 ctdbd[77]: found", recv(t, conn))
}
