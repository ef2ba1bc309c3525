// Package eventscripts runs CTDB event scripts with CTDB's calling
// convention. The scripts of a component live in one directory
// (events/legacy) and are named NN.name.script; a script is enabled when
// it is executable. An event runs every enabled script in lexical order
// as "script EVENT [ARGS...]" with a clean environment, stopping at the
// first failure; the run as a whole has a timeout. A script that hangs is
// shown to the configured debug script (with its PID) before its process
// group is killed, as ctdb-eventd does. The last result of every event is
// kept for "ctdb event status" and "ctdb scriptstatus".
//
// Events run one at a time. A monitor event gives way: it is cancelled
// when any other event arrives and refused while another event waits or
// runs, and a monitor request while a monitor runs waits for that run
// instead of starting another.
package eventscripts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults for Config.
const (
	DefaultPath         = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	DefaultMaxOutput    = 64 << 10
	DefaultDebugTimeout = 30 * time.Second
	DefaultKillGrace    = 2 * time.Second
)

// Config configures a Runner.
type Config struct {
	// Dir is the script directory, e.g. $CTDB_BASE/events/legacy.
	Dir string
	// Env is added to the scripts' environment, which otherwise only
	// holds PATH=DefaultPath (Env may override it). Typically CTDB_BASE
	// and friends.
	Env []string
	// DebugScript, if set, runs as "DebugScript PID EVENT" when a script
	// times out, before the hung process group is killed.
	DebugScript string
	// DebugTimeout bounds the debug script.
	DebugTimeout time.Duration
	// MaxOutput is how many bytes of output are kept per script (the last
	// ones).
	MaxOutput int
	// KillGrace is how long a hung script gets between SIGTERM and
	// SIGKILL once the debug script is done.
	KillGrace time.Duration
	Logger    *slog.Logger
}

// Runner runs the events of one script directory.
type Runner struct {
	cfg       Config
	component string
	env       []string

	slot chan struct{} // one event at a time; waiters are served in order

	mu      sync.Mutex
	monitor *job // the monitor event waiting or running, if any
	others  int  // other events waiting or running
	last    map[Event]*Result
	closed  bool

	lifetime     context.Context // ends at Close
	stop         context.CancelFunc
	reapers      sync.WaitGroup // hung processes being debugged and killed
	debugRunning bool           // guarded by mu
}

// job is one requested run of an event.
type job struct {
	event  Event
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	result *Result
	err    error
}

var (
	errPreempted = errors.New("another event preempted the monitor event")
	errBusy      = errors.New("another event is running")
)

// New checks the configuration and returns a Runner.
func New(cfg Config) (*Runner, error) {
	st, err := os.Stat(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("event script directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("event script directory %s: %w", cfg.Dir, syscall.ENOTDIR)
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("event script environment: %q is not KEY=VALUE", kv)
		}
	}
	if cfg.DebugScript != "" {
		st, err := os.Stat(cfg.DebugScript)
		if err != nil {
			return nil, fmt.Errorf("event debug script: %w", err)
		}
		if !st.Mode().IsRegular() || st.Mode()&0o100 == 0 {
			return nil, fmt.Errorf("event debug script %s: not an executable file", cfg.DebugScript)
		}
	}
	if cfg.DebugTimeout <= 0 {
		cfg.DebugTimeout = DefaultDebugTimeout
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lifetime, stop := context.WithCancel(context.Background())
	return &Runner{
		cfg:       cfg,
		component: baseName(cfg.Dir),
		env:       append([]string{"PATH=" + DefaultPath}, cfg.Env...),
		slot:      make(chan struct{}, 1),
		last:      make(map[Event]*Result),
		lifetime:  lifetime,
		stop:      stop,
	}, nil
}

func baseName(dir string) string {
	dir = strings.TrimRight(dir, "/")
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		return dir[i+1:]
	}
	return dir
}

// Scripts lists the scripts in run order.
func (r *Runner) Scripts() ([]Script, error) { return listScripts(r.cfg.Dir) }

// Enable makes a script executable. Enabling a script that does not
// exist is an error (ErrScriptNotFound).
func (r *Runner) Enable(name string) error { return chmodScript(r.cfg.Dir, name, true) }

// Disable makes a script non-executable. Disabling a script that does not
// exist succeeds, as in ctdb.
func (r *Runner) Disable(name string) error { return chmodScript(r.cfg.Dir, name, false) }

// Status returns the last completed run of an event (cancelled runs do not
// count), or ErrNeverRun.
func (r *Runner) Status(ev Event) (*Result, error) {
	if err := knownEvent(ev); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.last[ev]
	if !ok {
		return nil, fmt.Errorf("%w: %s in %s", ErrNeverRun, ev, r.component)
	}
	return res.clone(), nil
}

// Run runs an event with the given arguments; timeout bounds the whole
// run (zero or negative: no limit). It returns the result and, if a
// script failed or the time ran out, an error wrapping ErrFailed or
// ErrTimedOut. A run that is cancelled (by ctx, by a preempting event for
// a monitor, or by Close) returns an error wrapping ErrCancelled and the
// cause, and leaves the stored status alone. Callers that join a running
// monitor event share its fate, including cancellation by the context of
// the caller that started it.
func (r *Runner) Run(ctx context.Context, ev Event, timeout time.Duration, args ...string) (*Result, error) {
	if err := checkEvent(ev, args); err != nil {
		return nil, err
	}
	j, running, err := r.admit(ctx, ev)
	if err != nil {
		return nil, err
	}
	if running != nil {
		// A monitor run is already under way: share its outcome.
		select {
		case <-running.done:
			return running.result.clone(), running.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrCancelled, ctx.Err())
		}
	}
	defer r.release(j)

	select {
	case r.slot <- struct{}{}:
		defer func() { <-r.slot }()
	case <-j.ctx.Done():
		j.err = fmt.Errorf("%w: %s: %w", ErrCancelled, ev, context.Cause(j.ctx))
		return nil, j.err
	}
	j.result, j.err = r.execute(j.ctx, ev, timeout, args)
	if j.result != nil && !errors.Is(j.err, ErrCancelled) {
		r.mu.Lock()
		r.last[ev] = j.result.clone()
		r.mu.Unlock()
	}
	return j.result.clone(), j.err
}

// admit registers a run. For a monitor event that is already under way
// it returns that run instead.
func (r *Runner) admit(ctx context.Context, ev Event) (j, running *job, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	if ev == Monitor {
		if r.monitor != nil {
			return nil, r.monitor, nil
		}
		if r.others > 0 {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrCancelled, ev, errBusy)
		}
	} else if r.monitor != nil {
		r.monitor.cancel(errPreempted)
	}
	jctx, cancel := context.WithCancelCause(ctx)
	stopOnClose := context.AfterFunc(r.lifetime, func() { cancel(ErrClosed) })
	j = &job{
		event: ev,
		ctx:   jctx,
		cancel: func(cause error) {
			stopOnClose()
			cancel(cause)
		},
		done: make(chan struct{}),
	}
	if ev == Monitor {
		r.monitor = j
	} else {
		r.others++
	}
	return j, nil, nil
}

func (r *Runner) release(j *job) {
	r.mu.Lock()
	if j.event == Monitor {
		r.monitor = nil
	} else {
		r.others--
	}
	r.mu.Unlock()
	j.cancel(context.Canceled)
	close(j.done)
}

// execute runs the scripts of one event.
func (r *Runner) execute(ctx context.Context, ev Event, timeout time.Duration, args []string) (*Result, error) {
	res := &Result{Event: ev, Args: args, Start: time.Now()}
	scripts, err := listScripts(r.cfg.Dir)
	if err != nil {
		return nil, err
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for _, s := range scripts {
		sr, err := r.runScript(ctx, ev, s, args, expired)
		res.Scripts = append(res.Scripts, sr)
		res.Duration = time.Since(res.Start)
		if err != nil {
			return res, err
		}
		if sr.Status.failed() {
			r.cfg.Logger.Error("event script failed", "event", ev, "script", sr.Name,
				"status", sr.Status.String(), "exit", sr.ExitCode, "output", sr.Output)
			return res, res.Err()
		}
		if sr.Output != "" {
			// Scripts warn on stdout while succeeding; operators look
			// for that in the log.
			r.cfg.Logger.Info("event script output", "event", ev, "script", sr.Name, "output", sr.Output)
		}
	}
	res.Duration = time.Since(res.Start)
	return res, nil
}

// runScript runs one script. The error is only set when the run was
// cancelled.
func (r *Runner) runScript(ctx context.Context, ev Event, s Script, args []string, expired <-chan time.Time) (ScriptResult, error) {
	sr := ScriptResult{Name: s.Name, Start: time.Now()}
	if !s.Enabled {
		sr.Status = StatusDisabled
		return sr, nil
	}
	p, err := startProc(s.Path, s.Name, append([]string{string(ev)}, args...), r.env, r.cfg.MaxOutput)
	if err != nil {
		sr.Duration = time.Since(sr.Start)
		// CTDB shows scripts it cannot execute because they are not
		// there (any more), not executable or not a valid executable
		// as DISABLED rather than failing the event.
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENOEXEC) {
			sr.Status = StatusDisabled
		} else {
			sr.Status, sr.Err = StatusCannotRun, err
		}
		return sr, nil
	}
	select {
	case <-p.exited:
		st, err := p.reap()
		sr.Duration = time.Since(sr.Start)
		sr.Output, sr.OutputTruncated = p.out.snapshot()
		if err != nil {
			sr.Status, sr.Err = StatusCannotRun, err
			return sr, nil
		}
		ws, _ := st.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			sr.Status, sr.Err = StatusCannotRun, fmt.Errorf("killed by signal %v", ws.Signal())
		case st.ExitCode() == 0:
			sr.Status = StatusOK
		default:
			sr.Status, sr.ExitCode = StatusError, st.ExitCode()
		}
		return sr, nil
	case <-expired:
		sr.Duration = time.Since(sr.Start)
		sr.Status = StatusTimedOut
		sr.Output, sr.OutputTruncated = p.out.snapshot()
		r.cfg.Logger.Error("event script timed out", "event", ev, "script", s.Name, "pid", p.pid)
		r.handleHung(p, ev)
		return sr, nil
	case <-ctx.Done():
		r.killInBackground(p, ev)
		sr.Duration = time.Since(sr.Start)
		return sr, fmt.Errorf("%w: %s: %w", ErrCancelled, ev, context.Cause(ctx))
	}
}

// killInBackground kills a cancelled script's process group and reaps it
// without waiting: a script stuck in uninterruptible sleep (a dead
// cluster file system) must not hold up the event that pre-empted it.
func (r *Runner) killInBackground(p *proc, ev Event) {
	p.signalGroup(syscall.SIGKILL)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.reapers.Add(1)
	go func() {
		defer r.reapers.Done()
		if _, err := p.kill(); err != nil {
			r.cfg.Logger.Error("reaping cancelled event script", "event", ev, "pid", p.pid, "err", err)
		}
	}()
}

// handleHung runs the debug script for a timed-out script and then
// terminates its process group, in the background so that the next event
// is not held up. Only one debug script runs at a time; hung scripts
// arriving meanwhile are terminated without one.
func (r *Runner) handleHung(p *proc, ev Event) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.signalGroup(syscall.SIGKILL)
		return
	}
	debug := r.cfg.DebugScript != "" && !r.debugRunning
	if debug {
		r.debugRunning = true
	}
	r.reapers.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.reapers.Done()
		if debug {
			r.runDebug(p.pid, ev)
			r.mu.Lock()
			r.debugRunning = false
			r.mu.Unlock()
		}
		if _, err := p.terminate(r.cfg.KillGrace, r.lifetime.Done()); err != nil {
			r.cfg.Logger.Error("reaping hung event script", "event", ev, "pid", p.pid, "err", err)
		}
	}()
}

// runDebug runs "DebugScript PID EVENT" and logs its output.
func (r *Runner) runDebug(pid int, ev Event) {
	log := r.cfg.Logger.With("script", "event_debug", "event", ev, "pid", pid)
	p, err := startProc(r.cfg.DebugScript, r.cfg.DebugScript, []string{strconv.Itoa(pid), string(ev)}, r.env, r.cfg.MaxOutput)
	if err != nil {
		log.Error("cannot run event debug script", "err", err)
		return
	}
	t := time.NewTimer(r.cfg.DebugTimeout)
	defer t.Stop()
	select {
	case <-p.exited:
		_, err = p.reap()
	case <-t.C:
		log.Error("event debug script timed out", "timeout", r.cfg.DebugTimeout)
		_, err = p.kill()
	case <-r.lifetime.Done():
		_, err = p.kill()
	}
	if err != nil {
		log.Error("reaping event debug script", "err", err)
	}
	out, _ := p.out.snapshot()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		log.Error(sc.Text())
	}
}

// Close cancels running events, kills hung scripts that are still being
// debugged and waits for them. The Runner cannot be used afterwards.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	done := make(chan struct{})
	go func() {
		r.reapers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(closeTimeout):
		// A process in uninterruptible sleep outlives any signal; the
		// daemon must still stop.
		return fmt.Errorf("event scripts still running after %v", closeTimeout)
	}
}

// closeTimeout bounds how long Close waits for killed scripts to go.
const closeTimeout = 5 * time.Second
