package master

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// fakeProc is a worker process driven by the test.
type fakeProc struct {
	pid  int
	exit chan error
	// obey makes SIGTERM end the process (exit status 0).
	obey bool

	mu      sync.Mutex
	signals []os.Signal
	exited  bool
}

func (p *fakeProc) Pid() int { return p.pid }

func (p *fakeProc) Signal(sig os.Signal) error {
	p.mu.Lock()
	p.signals = append(p.signals, sig)
	p.mu.Unlock()
	if sig == syscall.SIGKILL || (p.obey && sig == syscall.SIGTERM) {
		p.die(nil)
	}
	return nil
}

func (p *fakeProc) Wait() error { return <-p.exit }

// die makes the process exit with err, once.
func (p *fakeProc) die(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		p.exited = true
		p.exit <- err
	}
}

func (p *fakeProc) got() []os.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]os.Signal(nil), p.signals...)
}

// harness runs a Supervisor on a fake clock; every start is reported on
// starts.
type harness struct {
	t      *testing.T
	clk    *clock.Fake
	sup    *Supervisor
	starts chan *fakeProc
	// fail makes the next starts of a worker fail.
	mu      sync.Mutex
	fail    map[int]int
	nextPid int
	obey    bool
}

func newHarness(t *testing.T, workers int, obey bool) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(time.Time{}), starts: make(chan *fakeProc, 16), fail: map[int]int{}, nextPid: 100, obey: obey}
	h.sup = NewSupervisor(SupervisorConfig{
		Workers: workers,
		Clock:   h.clk,
		Backoff: Backoff{Initial: 100 * time.Millisecond, Max: time.Second, StableAfter: 10 * time.Second},
		Start: func(index int) (Process, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.fail[index] > 0 {
				h.fail[index]--
				return nil, errors.New("exec failed")
			}
			h.nextPid++
			p := &fakeProc{pid: h.nextPid, exit: make(chan error, 1), obey: h.obey}
			h.starts <- p
			return p, nil
		},
	})
	t.Cleanup(func() {
		h.mu.Lock()
		h.obey = true
		h.mu.Unlock()
		done := make(chan struct{})
		go func() { _ = h.sup.Stop(syscall.SIGKILL, 0); close(done) }()
		<-done
	})
	return h
}

// started waits for the next started process.
func (h *harness) started() *fakeProc {
	h.t.Helper()
	select {
	case p := <-h.starts:
		return p
	case <-time.After(5 * time.Second):
		h.t.Fatal("no worker started")
		return nil
	}
}

// notStarted checks that no process was started.
func (h *harness) notStarted() {
	h.t.Helper()
	select {
	case p := <-h.starts:
		h.t.Fatalf("worker pid %d started before its backoff delay", p.pid)
	default:
	}
}

// restartAfter waits for the restart scheduled at now+d, checks it does
// not happen a nanosecond early, then lets the clock reach it and returns
// the new process.
func (h *harness) restartAfter(d time.Duration) *fakeProc {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.clk.WaitForDeadline(ctx, h.clk.Now().Add(d)); err != nil {
		next, _ := h.clk.NextDeadline()
		h.t.Fatalf("no restart scheduled in %s (next timer in %s)", d, next.Sub(h.clk.Now()))
	}
	h.clk.Advance(d - time.Nanosecond)
	h.notStarted()
	h.clk.Advance(time.Nanosecond)
	return h.started()
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {3, 400 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {50, time.Second}} {
		if got := b.Delay(tt.n); got != tt.want {
			t.Errorf("Delay(%d): got %s, want %s", tt.n, got, tt.want)
		}
	}
	if got := (Backoff{}).Delay(1); got != 100*time.Millisecond {
		t.Errorf("default first delay: got %s, want 100ms", got)
	}
	if got := (Backoff{}).Delay(100); got != 10*time.Second {
		t.Errorf("default cap: got %s, want 10s", got)
	}
}

func TestSupervisorRestartsWithBackoff(t *testing.T) {
	h := newHarness(t, 2, true)
	h.sup.Start()
	w0, w1 := h.started(), h.started()
	if got := h.sup.Pids(); got[0] != w0.pid || got[1] != w1.pid {
		t.Fatalf("Pids: got %v, want [%d %d]", got, w0.pid, w1.pid)
	}

	// A crash loop: each early exit doubles the delay, up to Max.
	p := w1
	for _, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		p.die(errors.New("signal: killed"))
		p = h.restartAfter(d)
		if got := h.sup.Pids()[1]; got != p.pid {
			t.Fatalf("Pids()[1]: got %d, want the new pid %d", got, p.pid)
		}
	}
	// A worker that ran StableAfter before exiting starts the count again.
	h.clk.Advance(10 * time.Second)
	p.die(nil) // an unexpected exit, even with status 0
	if p = h.restartAfter(100 * time.Millisecond); h.sup.Pids()[1] != p.pid {
		t.Fatalf("Pids()[1]: got %d, want %d", h.sup.Pids()[1], p.pid)
	}

	// The other worker was never touched.
	if got := h.sup.Pids()[0]; got != w0.pid {
		t.Errorf("worker 0: got pid %d, want %d", got, w0.pid)
	}
	if got := w0.got(); len(got) != 0 {
		t.Errorf("worker 0 got signals %v, want none", got)
	}
}

func TestSupervisorRetriesFailedStarts(t *testing.T) {
	h := newHarness(t, 1, true)
	h.fail[0] = 2
	h.sup.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// First failure: 100ms; the second start fails too: 200ms more.
	if err := h.clk.WaitForDeadline(ctx, h.clk.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(100 * time.Millisecond)
	h.restartAfter(200 * time.Millisecond)
}

func TestSupervisorSignalAndReady(t *testing.T) {
	h := newHarness(t, 2, true)
	h.sup.Start()
	w0, w1 := h.started(), h.started()
	h.sup.Signal(syscall.SIGHUP)
	for _, p := range []*fakeProc{w0, w1} {
		if got := p.got(); len(got) != 1 || got[0] != syscall.SIGHUP {
			t.Errorf("pid %d got signals %v, want [hangup]", p.pid, got)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := h.sup.WaitReady(ctx); err == nil {
		t.Fatal("WaitReady returned before any worker was ready")
	}
	h.sup.Ready(0, w0.pid)
	h.sup.Ready(1, 999) // a process that is not worker 1's: ignored
	h.sup.Ready(7, 1)   // no such worker: ignored
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	if err := h.sup.WaitReady(ctx2); err == nil {
		t.Fatal("WaitReady returned with worker 1 not ready")
	}
	done := make(chan error, 1)
	go func() { done <- h.sup.WaitReady(context.Background()) }()
	h.sup.Ready(1, w1.pid)
	if err := <-done; err != nil {
		t.Fatalf("WaitReady: %v", err)
	}

	// A restarted worker is not ready until it says so.
	w1.die(errors.New("boom"))
	h.restartAfter(100 * time.Millisecond)
	ctx3, cancel3 := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel3()
	if err := h.sup.WaitReady(ctx3); err == nil {
		t.Fatal("WaitReady counted a restarted worker as ready")
	}
}

func TestSupervisorStop(t *testing.T) {
	t.Run("workers that finish in time", func(t *testing.T) {
		h := newHarness(t, 2, true)
		h.sup.Start()
		w0, w1 := h.started(), h.started()
		if err := h.sup.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
			t.Fatalf("Stop: got %v, want nil", err)
		}
		for _, p := range []*fakeProc{w0, w1} {
			if got := p.got(); len(got) != 1 || got[0] != syscall.SIGTERM {
				t.Errorf("pid %d got %v, want [terminated]", p.pid, got)
			}
		}
		// Exits during a stop are not restarted.
		if n := h.clk.Pending(); n != 0 {
			t.Errorf("%d timers pending after Stop, want 0", n)
		}
		h.notStarted()
		if got := h.sup.Pids(); got[0] != 0 || got[1] != 0 {
			t.Errorf("Pids after Stop: got %v, want zeros", got)
		}
	})
	t.Run("workers that outlive the grace period are killed", func(t *testing.T) {
		h := newHarness(t, 2, false)
		h.sup.Start()
		w0, w1 := h.started(), h.started()
		start := h.clk.Now()
		done := make(chan error, 1)
		go func() { done <- h.sup.Stop(syscall.SIGTERM, 5*time.Second) }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.clk.WaitForDeadline(ctx, start.Add(5*time.Second)); err != nil {
			t.Fatal("Stop did not start its grace period")
		}
		w0.die(nil) // one finishes in time
		// The supervisor reaps it on its own goroutine.
		if err := h.sup.waitFor(ctx, func() bool { return h.sup.slots[0].proc == nil }); err != nil {
			t.Fatal("worker 0's exit was not seen")
		}
		h.clk.Advance(5*time.Second - time.Nanosecond)
		select {
		case err := <-done:
			t.Fatalf("Stop returned %v before the grace period ended", err)
		default:
		}
		h.clk.Advance(time.Nanosecond)
		if err := <-done; !errors.Is(err, ErrKilled) {
			t.Fatalf("Stop: got %v, want ErrKilled", err)
		}
		if got := w1.got(); len(got) != 2 || got[0] != syscall.SIGTERM || got[1] != syscall.SIGKILL {
			t.Errorf("worker 1 got %v, want [terminated killed]", got)
		}
		if got := w0.got(); len(got) != 1 {
			t.Errorf("worker 0 got %v, want [terminated] only", got)
		}
	})
	t.Run("a pending restart is cancelled", func(t *testing.T) {
		h := newHarness(t, 1, true)
		h.sup.Start()
		p := h.started()
		p.die(errors.New("crash"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.clk.WaitForDeadline(ctx, h.clk.Now().Add(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := h.sup.Stop(syscall.SIGTERM, time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		h.clk.Advance(time.Minute)
		h.notStarted()
	})
}
