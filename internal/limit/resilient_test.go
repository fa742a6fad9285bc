package limit

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

var errDown = errors.New("redis down")

// fakeStore is an inner Store whose answer the test controls.
type fakeStore struct {
	mu      sync.Mutex
	err     error
	calls   [][]Item
	hold    chan struct{} // when non-nil, Take waits for it to close
	entered chan struct{} // receives once per Take, when non-nil
}

func (f *fakeStore) Take(ctx context.Context, items []Item) (Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(items))
	err, hold, entered := f.err, f.hold, f.entered
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Allowed: true, Denied: -1, Index: 0, Source: SourceRedis}, nil
}

func (f *fakeStore) Close() error { return nil }

func (f *fakeStore) set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeStore) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func item(key, scope string, burst, cost int64) Item {
	return Item{Key: key, Scope: scope, Rate: 10, Burst: burst, Cost: cost}
}

func TestResilientPolicies(t *testing.T) {
	policies := map[string]Policy{"budget": PolicyDeny, "client": PolicyAllow, "key": PolicyLocal}
	cases := []struct {
		name     string
		items    []Item
		replicas int
		want     []Result // Allowed, Denied, Index, Limit, Remaining, RetryAfter, Source
	}{
		{"local divides rate and burst by the replicas", []Item{item("k", "key", 6, 1)}, 3, []Result{
			{Allowed: true, Denied: -1, Index: 0, Limit: 2, Remaining: 1, Reset: 300 * time.Millisecond, Source: SourceLocal},
			{Allowed: true, Denied: -1, Index: 0, Limit: 2, Remaining: 0, Reset: 600 * time.Millisecond, Source: SourceLocal},
			{Denied: 0, Index: 0, Limit: 2, Reset: 600 * time.Millisecond, RetryAfter: 300 * time.Millisecond, Source: SourceLocal},
		}},
		{"unknown scope uses the default policy (local)", []Item{item("k", "other", 1, 1)}, 0, []Result{
			{Allowed: true, Denied: -1, Index: 0, Limit: 1, Remaining: 0, Reset: 100 * time.Millisecond, Source: SourceLocal},
			{Denied: 0, Index: 0, Limit: 1, Reset: 100 * time.Millisecond, RetryAfter: 100 * time.Millisecond, Source: SourceLocal},
		}},
		{"deny", []Item{item("k", "key", 5, 1), item("b", "budget", 100, 1)}, 1, []Result{
			{Denied: 1, Index: 1, Limit: 100, RetryAfter: time.Second, Source: SourceDeny},
		}},
		{"a refund is never denied", []Item{item("b", "budget", 100, -5)}, 1, []Result{
			{Allowed: true, Denied: -1, Index: -1, Source: SourceAllow},
		}},
		{"allow", []Item{item("c", "client", 1, 1)}, 1, []Result{
			{Allowed: true, Denied: -1, Index: -1, Source: SourceAllow},
			{Allowed: true, Denied: -1, Index: -1, Source: SourceAllow},
		}},
		{"local and allow: local decides, indexes are the caller's", []Item{item("c", "client", 1, 1), item("k", "key", 1, 1)}, 1, []Result{
			{Allowed: true, Denied: -1, Index: 1, Limit: 1, Reset: 100 * time.Millisecond, Source: SourceLocal},
			{Denied: 1, Index: 1, Limit: 1, Reset: 100 * time.Millisecond, RetryAfter: 100 * time.Millisecond, Source: SourceLocal},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewResilient(&fakeStore{err: errDown}, ResilientOptions{
				Clock:    clock.NewFake(start),
				Policies: policies,
				Replicas: func() int { return c.replicas },
			})
			for i, want := range c.want {
				got, err := r.Take(context.Background(), c.items)
				if err != nil {
					t.Fatalf("take %d: %v", i, err)
				}
				if got != want {
					t.Errorf("take %d: got %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

// transitions records breaker transitions.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) hook(from, to BreakerState) {
	tr.mu.Lock()
	tr.got = append(tr.got, from.String()+">"+to.String())
	tr.mu.Unlock()
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.got)
}

func TestResilientBreaker(t *testing.T) {
	clk := clock.NewFake(start)
	inner := &fakeStore{err: errDown}
	var tr transitions
	var errs, decisions int
	r := NewResilient(inner, ResilientOptions{Clock: clk, Hooks: Hooks{
		Breaker:  tr.hook,
		Error:    func(error) { errs++ },
		Decision: func(Result) { decisions++ },
	}})
	ctx := context.Background()
	items := []Item{item("k", "key", 1000, 1)}
	takes := func(n int) {
		t.Helper()
		for range n {
			if res, err := r.Take(ctx, items); err != nil || !res.Allowed {
				t.Fatalf("Take = %+v, %v; want allowed locally", res, err)
			}
		}
	}
	steps := []struct {
		advance   time.Duration
		takes     int
		innerErr  error
		wantCalls int
		wantState BreakerState
	}{
		{0, 1, errDown, 1, BreakerOpen},  // the first failure opens
		{0, 10, errDown, 1, BreakerOpen}, // open: the store is not tried
		{499 * time.Millisecond, 10, errDown, 1, BreakerOpen},
		{time.Millisecond, 1, errDown, 2, BreakerOpen},     // one probe, which fails
		{0, 10, errDown, 2, BreakerOpen},                   // open again for OpenFor
		{500 * time.Millisecond, 1, nil, 4, BreakerClosed}, // the probe succeeds, then writes back
		{0, 5, nil, 9, BreakerClosed},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		inner.set(s.innerErr)
		takes(s.takes)
		if got := inner.ncalls(); got != s.wantCalls {
			t.Errorf("step %d: store called %d times, want %d", i, got, s.wantCalls)
		}
		if got := r.State(); got != s.wantState {
			t.Errorf("step %d: state %v, want %v", i, got, s.wantState)
		}
	}
	want := []string{"closed>open", "open>half-open", "half-open>open", "open>half-open", "half-open>closed"}
	if got := tr.list(); !slices.Equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	if errs != 2 || decisions != 38 {
		t.Errorf("hooks: %d errors, %d decisions; want 2, 38", errs, decisions)
	}
}

func TestResilientOneProbe(t *testing.T) {
	clk := clock.NewFake(start)
	inner := &fakeStore{err: errDown}
	r := NewResilient(inner, ResilientOptions{Clock: clk})
	ctx := context.Background()
	items := []Item{item("k", "key", 1000, 1)}
	r.Take(ctx, items) // opens
	clk.Advance(DefaultOpenFor)

	hold, entered := make(chan struct{}), make(chan struct{}, 1)
	inner.mu.Lock()
	inner.err, inner.hold, inner.entered = nil, hold, entered
	inner.mu.Unlock()
	probed := make(chan Result)
	go func() {
		res, _ := r.Take(ctx, items)
		probed <- res
	}()
	<-entered // the probe is in the store
	for i := range 20 {
		res, err := r.Take(ctx, items)
		if err != nil || res.Source != SourceLocal {
			t.Fatalf("take %d during the probe = %+v, %v; want a local decision", i, res, err)
		}
	}
	if got := r.State(); got != BreakerHalfOpen {
		t.Errorf("state during the probe %v, want half-open", got)
	}
	close(hold)
	if res := <-probed; res.Source != SourceRedis {
		t.Errorf("probe result %+v, want from the store", res)
	}
	if got := inner.ncalls(); got != 3 {
		t.Errorf("store called %d times, want 3 (the failure, the probe, the write-back)", got)
	}
}

func TestResilientWriteBack(t *testing.T) {
	clk := clock.NewFake(start)
	inner := &fakeStore{err: errDown}
	r := NewResilient(inner, ResilientOptions{Clock: clk, Policies: map[string]Policy{"c": PolicyAllow}})
	ctx := context.Background()
	batch := []Item{item("k", "key", 100, 3), item("c", "c", 100, 1), {Key: "free", Cost: 1}}
	for range 4 {
		r.Take(ctx, batch)
	}
	r.Take(ctx, []Item{item("k", "key", 100, -2)})
	r.Take(ctx, []Item{item("k", "key", 100, 0)})
	clk.Advance(DefaultOpenFor)
	inner.set(nil)
	if _, err := r.Take(ctx, []Item{item("other", "key", 100, 1)}); err != nil {
		t.Fatal(err)
	}
	inner.mu.Lock()
	calls := inner.calls
	inner.mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("store called %d times, want 3 (failure, probe, write-back)", len(calls))
	}
	wb := calls[2]
	slices.SortFunc(wb, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	// k: 4 × 3 − 2 = 10 units at once, at 10 per second: 1 s of arrival
	// time, of which the 500ms outage paid half. c: 4 units, 0.4 s, all
	// paid: nothing to write.
	want := []Item{
		{Key: "k", Scope: "key", Rate: 10, Burst: 100, Cost: 5, Debt: true},
	}
	if !slices.Equal(wb, want) {
		t.Errorf("write-back %+v, want %+v", wb, want)
	}
	r.Take(ctx, batch)
	if got := inner.ncalls(); got != 4 {
		t.Errorf("store called %d times, want 4: nothing left to write back", got)
	}
}

func TestResilientWriteBackFailureKeepsJournal(t *testing.T) {
	clk := clock.NewFake(start)
	inner := &failAfter{fakeStore: fakeStore{err: errDown}}
	r := NewResilient(inner, ResilientOptions{Clock: clk})
	ctx := context.Background()
	r.Take(ctx, []Item{item("k", "key", 100, 20)}) // 2 s of arrival time at 10/s
	clk.Advance(DefaultOpenFor)
	inner.set(nil)
	inner.failNext = true // the probe passes, the write-back fails (of 15)
	r.Take(ctx, []Item{item("x", "key", 100, 1)})
	if got := r.State(); got != BreakerOpen {
		t.Fatalf("state after a failed write-back %v, want open", got)
	}
	clk.Advance(DefaultOpenFor)
	r.Take(ctx, []Item{item("x", "key", 100, 1)})
	inner.mu.Lock()
	last := inner.calls[len(inner.calls)-1]
	inner.mu.Unlock()
	if len(last) != 1 || last[0].Key != "k" || last[0].Cost != 10 || !last[0].Debt {
		t.Errorf("second write-back %+v, want k: 10 as debt (20, less 1 s of refill)", last)
	}
}

// TestResilientWriteBackAfterLongOutage: a key that kept within its limit
// through a long outage is not charged its whole outage on recovery (which
// locked it out for about as long as the outage); only what the shared
// bucket would not have refilled yet is written back.
func TestResilientWriteBackAfterLongOutage(t *testing.T) {
	clk := clock.NewFake(start)
	inner := &fakeStore{err: errDown}
	r := NewResilient(inner, ResilientOptions{Clock: clk})
	ctx := context.Background()
	steady := Item{Key: "k", Scope: "key", Rate: 10, Burst: 20, Cost: 1}
	for range 600 { // 60 s at 8 per second, within 10 per second
		if res, _ := r.Take(ctx, []Item{steady}); !res.Allowed {
			t.Fatal("a request within the limit was refused during the outage")
		}
		clk.Advance(125 * time.Millisecond)
	}
	// A burst of 15 at the end: the shared bucket must learn of it.
	for range 15 {
		r.Take(ctx, []Item{{Key: "b", Scope: "key", Rate: 10, Burst: 20, Cost: 1}})
	}
	clk.Advance(DefaultOpenFor) // the next check probes Redis, back now
	inner.set(nil)
	if res, err := r.Take(ctx, []Item{item("probe", "key", 100, 1)}); err != nil || res.Source != SourceRedis {
		t.Fatalf("the probe: %+v, %v", res, err)
	}
	inner.mu.Lock()
	wb := inner.calls[len(inner.calls)-1]
	inner.mu.Unlock()
	got := map[string]int64{}
	for _, it := range wb {
		got[it.Key] = it.Cost
	}
	if got["k"] > 1 {
		t.Errorf("the steady key is charged %d on recovery, want at most 1 (its 480 admissions were paid by 60 s at 10/s)", got["k"])
	}
	if got["b"] != 10 {
		t.Errorf("the last burst is charged %d, want 10 (15, less the 500ms before the probe)", got["b"])
	}
}

// failAfter fails the Take after the next successful one, once.
type failAfter struct {
	fakeStore
	failNext bool
	passed   bool
}

func (f *failAfter) Take(ctx context.Context, items []Item) (Result, error) {
	f.mu.Lock()
	if f.failNext && f.err == nil {
		if f.passed {
			f.failNext = false
			f.mu.Unlock()
			return Result{}, errDown
		}
		f.passed = true
	}
	f.mu.Unlock()
	return f.fakeStore.Take(ctx, items)
}

func TestResilientCallerCancel(t *testing.T) {
	clk := clock.NewFake(start)
	var errs int
	r := NewResilient(&fakeStore{err: context.Canceled}, ResilientOptions{Clock: clk, Hooks: Hooks{Error: func(error) { errs++ }}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Take(ctx, []Item{item("k", "key", 1, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Take with a cancelled context: %v, want context.Canceled", err)
	}
	if errs != 0 || r.State() != BreakerClosed {
		t.Errorf("a caller's cancel counted as a store failure: %d errors, state %v", errs, r.State())
	}
}
