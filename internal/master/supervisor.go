package master

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Process is a started worker process. *exec.Cmd adapts to it (see
// cmdProcess); tests use fakes.
type Process interface {
	// Pid returns the process id.
	Pid() int
	// Signal sends sig to the process.
	Signal(sig os.Signal) error
	// Wait blocks until the process has exited and returns why (nil for
	// exit status 0). It is called once.
	Wait() error
}

// StartFunc starts worker index (0 ≤ index < Workers).
type StartFunc func(index int) (Process, error)

// Backoff is the delay before a worker that exited unexpectedly is started
// again: Initial after the first exit, doubled for each further exit of a
// worker that had run less than StableAfter, capped at Max. A worker that
// ran StableAfter or longer before exiting starts the count again.
type Backoff struct {
	// Initial is the first delay. Zero means 100ms.
	Initial time.Duration
	// Max caps the delay. Zero means 10s.
	Max time.Duration
	// StableAfter is how long a worker must have run for its exit not to
	// count as part of a crash loop. Zero means 10s.
	StableAfter time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.StableAfter <= 0 {
		b.StableAfter = 10 * time.Second
	}
	return b
}

// Delay returns the delay before the restart that follows the n-th
// consecutive early exit (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// SupervisorConfig configures a Supervisor.
type SupervisorConfig struct {
	// Workers is the number of worker processes kept running. Required (≥ 1).
	Workers int
	// Start starts one worker. Required.
	Start StartFunc
	// Backoff paces the restarts of workers that exit unexpectedly.
	Backoff Backoff
	// Clock times the restarts and the stop grace period. Nil means the wall clock.
	Clock clock.Clock
	// Logger receives a line per start, exit, restart and readiness. Nil discards them.
	Logger *slog.Logger
}

// Supervisor keeps Workers processes running: it starts them, restarts one
// that exits unexpectedly after a backoff delay, signals them all, and stops
// them (a signal, then SIGKILL after a grace period). It is safe for
// concurrent use.
type Supervisor struct {
	cfg SupervisorConfig
	clk clock.Clock
	log *slog.Logger

	mu       sync.Mutex
	slots    []slot
	stopping bool
	stopSig  os.Signal
	changed  chan struct{} // closed and replaced when a slot changes
}

// slot is one worker position.
type slot struct {
	proc     Process // nil while not running
	starting bool    // Start is running for this slot
	pid      int
	started  time.Time
	exits    int         // consecutive early exits
	restart  clock.Timer // pending restart, or nil
	ready    bool        // the current process reported ready
	restarts int         // restarts so far, for logs
}

// NewSupervisor returns a supervisor; Start starts the workers.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	return &Supervisor{
		cfg: cfg, clk: cfg.Clock, log: cfg.Logger,
		slots:   make([]slot, max(cfg.Workers, 0)),
		changed: make(chan struct{}),
	}
}

// Start starts every worker. A worker that fails to start is retried after
// the backoff delay, as if it had exited.
func (s *Supervisor) Start() {
	for i := range s.slots {
		s.start(i)
	}
}

// start starts worker i unless the supervisor is stopping.
func (s *Supervisor) start(i int) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.slots[i].restart = nil
	s.slots[i].starting = true
	s.mu.Unlock()
	// Starting a process is slow (fork and exec): the lock is not held. A
	// Stop meanwhile waits for the slot (starting), and the process gets its
	// signal below.
	proc, err := s.cfg.Start(i)
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &s.slots[i]
	sl.starting = false
	if err != nil {
		s.notifyLocked()
		if s.stopping {
			return
		}
		s.log.Error("worker failed to start", "worker", i, "error", err.Error())
		s.scheduleLocked(i, 0)
		return
	}
	sl.proc, sl.pid, sl.started, sl.ready = proc, proc.Pid(), s.clk.Now(), false
	s.notifyLocked()
	if sl.restarts == 0 {
		s.log.Info("worker started", "worker", i, "pid", sl.pid)
	} else {
		s.log.Info("worker restarted", "worker", i, "pid", sl.pid, "restarts", sl.restarts)
	}
	if s.stopping {
		// Stop ran while the process was starting.
		_ = proc.Signal(s.stopSig)
	}
	go s.wait(i, proc)
}

// wait reaps worker i's process and handles its exit.
func (s *Supervisor) wait(i int, proc Process) {
	err := proc.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := &s.slots[i]
	if sl.proc != proc {
		return
	}
	lived := s.clk.Now().Sub(sl.started)
	sl.proc, sl.ready = nil, false
	s.notifyLocked()
	status := "exit status 0"
	if err != nil {
		status = err.Error()
	}
	if s.stopping {
		s.log.Info("worker stopped", "worker", i, "pid", sl.pid, "status", status)
		return
	}
	s.scheduleLocked(i, lived)
	s.log.Error("worker exited unexpectedly", "worker", i, "pid", sl.pid, "status", status,
		"ran", lived, "restart_in", s.cfg.Backoff.Delay(sl.exits))
}

// scheduleLocked arranges for worker i to start again after the backoff
// delay; lived is how long its last process ran.
func (s *Supervisor) scheduleLocked(i int, lived time.Duration) {
	sl := &s.slots[i]
	if lived >= s.cfg.Backoff.StableAfter {
		sl.exits = 0
	}
	sl.exits++
	sl.restarts++
	sl.restart = s.clk.AfterFunc(s.cfg.Backoff.Delay(sl.exits), func() { s.start(i) })
}

func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Signal sends sig to every running worker.
func (s *Supervisor) Signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.slots {
		if p := s.slots[i].proc; p != nil {
			_ = p.Signal(sig)
		}
	}
}

// Ready records that worker index, process pid, is serving. A report from
// a process that is no longer the slot's (it exited since) is ignored.
func (s *Supervisor) Ready(index, pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index < 0 || index >= len(s.slots) {
		return
	}
	sl := &s.slots[index]
	if sl.proc == nil || sl.pid != pid || sl.ready {
		return
	}
	sl.ready = true
	s.notifyLocked()
	s.log.Info("worker ready", "worker", index, "pid", pid, "startup", s.clk.Now().Sub(sl.started))
}

// WaitReady blocks until every worker has reported ready, or ctx ends.
func (s *Supervisor) WaitReady(ctx context.Context) error {
	return s.waitFor(ctx, func() bool {
		for _, sl := range s.slots {
			if !sl.ready {
				return false
			}
		}
		return true
	})
}

// Pids returns the process id of each worker, 0 for a worker not running.
func (s *Supervisor) Pids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.slots))
	for i, sl := range s.slots {
		if sl.proc != nil {
			out[i] = sl.pid
		}
	}
	return out
}

// waitFor blocks until cond (called with s.mu held) holds or ctx ends.
func (s *Supervisor) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ErrKilled reports that Stop had to kill workers that outlived the grace period.
var ErrKilled = errors.New("workers still running after the grace period were killed")

// Stop ends supervision: no worker is started again, every worker gets sig
// (SIGTERM: finish the requests in flight, then exit), and those still
// running after grace are killed. It returns when every worker has exited:
// nil, or ErrKilled when some had to be killed.
func (s *Supervisor) Stop(sig os.Signal, grace time.Duration) error {
	s.mu.Lock()
	s.stopping, s.stopSig = true, sig
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.restart != nil {
			sl.restart.Stop()
			sl.restart = nil
		}
		if sl.proc != nil {
			_ = sl.proc.Signal(sig)
		}
	}
	s.mu.Unlock()
	allExited := func() bool {
		for _, sl := range s.slots {
			if sl.proc != nil || sl.starting {
				return false
			}
		}
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := s.clk.AfterFunc(grace, cancel)
	defer timer.Stop()
	if s.waitFor(ctx, allExited) == nil {
		return nil
	}
	s.mu.Lock()
	for i := range s.slots {
		if p := s.slots[i].proc; p != nil {
			s.log.Warn("worker still running after the grace period; killing it", "worker", i, "pid", s.slots[i].pid)
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	s.mu.Unlock()
	_ = s.waitFor(context.Background(), allExited)
	return ErrKilled
}
