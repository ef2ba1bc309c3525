package eventscripts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is a script (or debug script) running in its own process group,
// with stdout and stderr captured together into a bounded buffer.
//
// Exit is observed with waitid(WNOWAIT), which leaves the process a
// zombie: its PID, and so its process group ID, cannot be reused until
// reap, so signalling the group is always safe before reap. (exec's
// CommandContext cancels asynchronously and could signal a recycled
// group after the wait.)
type proc struct {
	cmd        *exec.Cmd
	pid        int
	exited     chan struct{} // closed when the leader has exited, not yet reaped
	out        *tailBuffer
	outR       *os.File
	readerDone chan struct{}
	reaped     bool
}

// outputLinger is how long output is still read after a script exits, for
// children that inherited the pipe but have not exited yet.
const outputLinger = 100 * time.Millisecond

func startProc(path, argv0 string, args, env []string, maxOutput int) (*proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = argv0
	cmd.Env = env
	cmd.Dir = "/"
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	p := &proc{
		cmd:        cmd,
		pid:        cmd.Process.Pid,
		exited:     make(chan struct{}),
		out:        &tailBuffer{max: maxOutput},
		outR:       r,
		readerDone: make(chan struct{}),
	}
	go func() {
		defer close(p.readerDone)
		// Ends at EOF, or when reap sets a read deadline.
		_, _ = io.Copy(p.out, r)
	}()
	go func() {
		defer close(p.exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()
	return p, nil
}

// signalGroup signals every process in the group. It must not be called
// after reap.
func (p *proc) signalGroup(sig syscall.Signal) {
	if p.reaped {
		return
	}
	// ESRCH: the group is already gone.
	_ = unix.Kill(-p.pid, sig)
}

// reap collects the exited leader and the rest of its output. It must be
// called once, after exited is closed.
func (p *proc) reap() (*os.ProcessState, error) {
	_ = p.outR.SetReadDeadline(time.Now().Add(outputLinger))
	<-p.readerDone
	p.outR.Close()
	err := p.cmd.Wait()
	p.reaped = true
	if p.cmd.ProcessState == nil {
		return nil, fmt.Errorf("wait for pid %d: %w", p.pid, err)
	}
	return p.cmd.ProcessState, nil
}

// kill kills the whole group and reaps the leader.
func (p *proc) kill() (*os.ProcessState, error) {
	p.signalGroup(syscall.SIGKILL)
	<-p.exited
	return p.reap()
}

// terminate asks the group to stop with SIGTERM, as CTDB does after
// debugging a hung script, and kills it if it is still there after grace
// or once stop is closed.
func (p *proc) terminate(grace time.Duration, stop <-chan struct{}) (*os.ProcessState, error) {
	p.signalGroup(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		// The leader is gone; helpers it left behind are not.
		p.signalGroup(syscall.SIGKILL)
		return p.reap()
	case <-t.C:
	case <-stop:
	}
	return p.kill()
}
