package logging

import (
	"io"
	"path/filepath"
	"testing"
)

func BenchmarkLogStderr(b *testing.B) {
	l, err := New(Options{Location: Location{Kind: KindStderr}, Level: LevelNotice, App: "ctdbd", Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	lg := l.With("component", "recoverd")
	b.ReportAllocs()
	for b.Loop() {
		lg.Warn("recovery failed", "pnn", 2, "db", "locking.tdb", "generation", 1446764750)
	}
}

func BenchmarkLogFile(b *testing.B) {
	l, err := New(Options{Location: Location{Kind: KindFile, Path: filepath.Join(b.TempDir(), "log")}, Level: LevelNotice, App: "ctdbd"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		l.Warn("recovery failed", "pnn", 2, "db", "locking.tdb")
	}
}

func BenchmarkLogFiltered(b *testing.B) {
	l, err := New(Options{Location: Location{Kind: KindStderr}, Level: LevelNotice, App: "ctdbd", Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Debug("hot path", "key", "k")
	}
}
