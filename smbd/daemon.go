package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// readyFD is the descriptor a detached smbd reports readiness on.
const readyFD = 3

// childMarker tells the re-executed process it is the detached smbd.
const childMarker = "GCTDB_SMBD_DETACHED"

func isDetachedChild() bool {
	_, ok := os.LookupEnv(childMarker)
	return ok
}

// readyReporter returns the function that tells the waiting parent of a
// detached smbd that it serves ("ok") or why it failed; it does nothing
// in the foreground and after the first call.
func readyReporter() func(msg string) {
	if !isDetachedChild() {
		return func(string) {}
	}
	pipe := os.NewFile(readyFD, "ready")
	return func(msg string) {
		if pipe != nil {
			io.WriteString(pipe, msg+"\n")
			pipe.Close()
			pipe = nil
		}
	}
}

// detach re-executes smbd in a new session with its output detached and
// waits until the child serves or reports why it failed, so that `smbd`
// returns only once the server is up.
func detach() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		w.Close()
		devnull.Close()
		return err
	}
	p, err := os.StartProcess(exe, os.Args, &os.ProcAttr{
		Env:   append(os.Environ(), childMarker+"=1"),
		Files: []*os.File{devnull, devnull, devnull, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	w.Close()
	devnull.Close()
	if err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	p.Release()
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	if s := strings.TrimSpace(string(msg)); s != "ok" {
		if s == "" {
			s = "the server exited before it served"
		}
		return fmt.Errorf("%s", s)
	}
	return nil
}

// pidFile is smbd's locked pid file.
type pidFile struct {
	f    *os.File
	path string
}

// createPIDFile writes and locks the pid file; a second smbd with the
// same pid directory finds it locked.
func createPIDFile(path string) (*pidFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pid directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file %s is locked: another smbd is running", path)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return &pidFile{f: f, path: path}, nil
}

func (p *pidFile) remove() {
	os.Remove(p.path)
	p.f.Close()
}
