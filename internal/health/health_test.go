package health

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/clock"
)

func newTracker(t *testing.T, enabled bool) (*Tracker, *backend.State, *clock.Fake, *[]string) {
	t.Helper()
	st := backend.NewState()
	clk := clock.NewFake(time.Time{})
	var mu sync.Mutex
	var changes []string
	tr := NewTracker(st, Config{Enabled: enabled, UnhealthyThreshold: 3, HealthyThreshold: 2, WarmupInterval: time.Second, Interval: 30 * time.Second, MaxWarmup: 10 * time.Second}, clk,
		func(from, to backend.Health) {
			mu.Lock()
			changes = append(changes, from.String()+">"+to.String())
			mu.Unlock()
		})
	return tr, st, clk, &changes
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		steps []Result
		want  []backend.Health // state after each step
	}{
		{"first ok decides", []Result{OK}, []backend.Health{backend.Ready}},
		{"first failure decides", []Result{Fail}, []backend.Health{backend.Down}},
		{"first 503 warms", []Result{Warming}, []backend.Health{backend.WarmingUp}},
		{"down after threshold", []Result{OK, Fail, Fail, Fail}, []backend.Health{backend.Ready, backend.Ready, backend.Ready, backend.Down}},
		{"ok resets failures", []Result{OK, Fail, Fail, OK, Fail, Fail}, []backend.Health{backend.Ready, backend.Ready, backend.Ready, backend.Ready, backend.Ready, backend.Ready}},
		{"recovery needs threshold", []Result{Fail, OK, OK}, []backend.Health{backend.Down, backend.Down, backend.Ready}},
		{"warming then ready", []Result{Warming, Warming, OK, OK}, []backend.Health{backend.WarmingUp, backend.WarmingUp, backend.WarmingUp, backend.Ready}},
		{"down then 503 warms", []Result{Fail, Warming}, []backend.Health{backend.Down, backend.WarmingUp}},
		{"ready then 503s", []Result{OK, Warming, Warming, Warming}, []backend.Health{backend.Ready, backend.Ready, backend.Ready, backend.WarmingUp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, st, _, _ := newTracker(t, true)
			for i, r := range tt.steps {
				tr.Observe(r)
				if got := st.Health(); got != tt.want[i] {
					t.Fatalf("after step %d: got %s, want %s", i, got, tt.want[i])
				}
			}
		})
	}
}

func TestWarmupExpires(t *testing.T) {
	tr, st, clk, changes := newTracker(t, true)
	tr.Observe(Warming)
	clk.Advance(10 * time.Second)
	tr.Observe(Warming)
	if st.Health() != backend.WarmingUp {
		t.Fatalf("at 10s: got %s, want warming_up", st.Health())
	}
	clk.Advance(time.Second)
	tr.Observe(Warming)
	if st.Health() != backend.Down {
		t.Fatalf("after max warm-up: got %s, want down", st.Health())
	}
	if got := *changes; len(got) != 2 || got[0] != "unknown>warming_up" || got[1] != "warming_up>down" {
		t.Fatalf("changes: got %v", got)
	}
}

func TestWarmupWithoutLimit(t *testing.T) {
	for _, tt := range []struct {
		name      string
		maxWarmup time.Duration
		want      backend.Health
	}{
		{"negative: no limit", -1, backend.WarmingUp},
		{"zero: the 300s default", 0, backend.Down},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := backend.NewState()
			clk := clock.NewFake(time.Time{})
			tr := NewTracker(st, Config{Enabled: true, MaxWarmup: tt.maxWarmup}, clk, nil)
			tr.Observe(Warming)
			for range 3 {
				clk.Advance(1000 * time.Hour)
				tr.Observe(Warming)
			}
			if got := st.Health(); got != tt.want {
				t.Errorf("after 3000h of 503 answers: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPassive(t *testing.T) {
	tr, st, _, _ := newTracker(t, true)
	tr.Passive(false)
	if st.Health() != backend.Unknown {
		t.Fatalf("one passive failure from unknown: got %s, want unknown", st.Health())
	}
	tr.Passive(false)
	tr.Passive(false)
	if st.Health() != backend.Down {
		t.Fatalf("three passive failures: got %s, want down", st.Health())
	}
	tr.Passive(true)
	tr.Passive(true)
	if st.Health() != backend.Ready {
		t.Fatalf("two passive successes: got %s, want ready", st.Health())
	}

	off, st2, _, _ := newTracker(t, false)
	for i := 0; i < 5; i++ {
		off.Passive(false)
	}
	if st2.Health() != backend.Unknown {
		t.Fatalf("health checks disabled: got %s, want unknown", st2.Health())
	}
}

func TestRunProbesOnTheClock(t *testing.T) {
	tr, st, clk, _ := newTracker(t, true)
	var mu sync.Mutex
	statuses := []int{503, 503, 200, 200}
	probes := make(chan struct{}, 10)
	probe := func(ctx context.Context) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		s := 200
		if len(statuses) > 0 {
			s, statuses = statuses[0], statuses[1:]
		}
		probes <- struct{}{}
		return s, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx, probe); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	wait := context.Background()
	step := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitForTimers(wait, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(d)
		<-probes
	}
	<-probes // immediate first probe: 503
	if err := clk.WaitForTimers(wait, 1); err != nil {
		t.Fatal(err)
	}
	if st.Health() != backend.WarmingUp {
		t.Fatalf("got %s, want warming_up", st.Health())
	}
	if d, _ := clk.NextDeadline(); d.Sub(clk.Now()) != time.Second {
		t.Fatalf("warm-up probe interval: got %v, want 1s", d.Sub(clk.Now()))
	}
	step(time.Second) // 503
	step(time.Second) // 200
	step(time.Second) // 200 → ready
	if err := clk.WaitForTimers(wait, 1); err != nil {
		t.Fatal(err)
	}
	if st.Health() != backend.Ready {
		t.Fatalf("got %s, want ready", st.Health())
	}
	if d, _ := clk.NextDeadline(); d.Sub(clk.Now()) != 30*time.Second {
		t.Fatalf("normal probe interval: got %v, want 30s", d.Sub(clk.Now()))
	}
}

func TestProbeTimeout(t *testing.T) {
	tr, st, clk, _ := newTracker(t, true)
	tr.Reconfigure(Config{Enabled: true, Timeout: 5 * time.Second})
	started := make(chan struct{})
	probe := func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, errors.New("timed out")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx, probe); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-started
	clk.Advance(5 * time.Second)
	if err := clk.WaitForTimers(context.Background(), 1); err != nil { // next probe scheduled
		t.Fatal(err)
	}
	if st.Health() != backend.Down {
		t.Fatalf("got %s, want down after a timed-out first probe", st.Health())
	}
}

func TestClassifyProbe(t *testing.T) {
	for _, tt := range []struct {
		status int
		err    error
		want   Result
	}{{200, nil, OK}, {204, nil, OK}, {503, nil, Warming}, {500, nil, Fail}, {404, nil, Fail}, {0, errors.New("refused"), Fail}} {
		if got := ClassifyProbe(tt.status, tt.err); got != tt.want {
			t.Errorf("ClassifyProbe(%d, %v): got %v, want %v", tt.status, tt.err, got, tt.want)
		}
	}
}
