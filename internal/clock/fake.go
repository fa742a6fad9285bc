package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when Advance or Set is called.
// It is safe for concurrent use. The zero value is not usable; call NewFake.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	seq     uint64
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

// NewFake returns a fake clock set to start. A zero start means
// 2025-01-01T00:00:00Z, so that tests print readable times.
func NewFake(start time.Time) *Fake {
	if start.IsZero() {
		start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	f.schedule(t, d)
	return t
}

// AfterFunc calls fn in its own goroutine when the fake time reaches Now()+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	f.schedule(t, d)
	return t
}

func (f *Fake) schedule(t *fakeTimer, d time.Duration) {
	f.mu.Lock()
	t.when = f.now.Add(d)
	f.seq++
	t.seq = f.seq
	t.active = true
	f.timers = append(f.timers, t)
	f.notifyLocked()
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Advance moves the fake time forward by d and fires, in time order, every
// timer that is due. AfterFunc callbacks run in their own goroutines, as with
// the real clock.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	var due []*fakeTimer
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.active {
			continue
		}
		if !t.when.After(now) {
			t.active = false
			due = append(due, t)
			continue
		}
		kept = append(kept, t)
	}
	for i := len(kept); i < len(f.timers); i++ {
		f.timers[i] = nil
	}
	f.timers = kept
	if len(due) > 0 {
		f.notifyLocked()
	}
	f.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if due[i].when.Equal(due[j].when) {
			return due[i].seq < due[j].seq
		}
		return due[i].when.Before(due[j].when)
	})
	for _, t := range due {
		if t.fn != nil {
			go t.fn()
			continue
		}
		select {
		case t.ch <- t.when:
		default:
		}
	}
}

// Set moves the fake time to t (which must not be before Now) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.Advance(t.Sub(f.Now()))
}

// Pending returns how many timers are scheduled and not yet fired or stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if t.active {
			n++
		}
	}
	return n
}

// WaitForTimers blocks until at least n timers are pending or ctx ends. Tests
// use it to know that the code under test has started waiting before they
// advance the clock.
func (f *Fake) WaitForTimers(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		pending := 0
		for _, t := range f.timers {
			if t.active {
				pending++
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if pending >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitForDeadline blocks until a pending timer is due at exactly t, or ctx
// ends: a test knows the code under test started the wait it expects.
func (f *Fake) WaitForDeadline(ctx context.Context, t time.Time) error {
	for {
		f.mu.Lock()
		found := false
		for _, tm := range f.timers {
			if tm.active && tm.when.Equal(t) {
				found = true
				break
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextDeadline returns when the earliest pending timer fires, and false if none is pending.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best time.Time
	found := false
	for _, t := range f.timers {
		if t.active && (!found || t.when.Before(best)) {
			best, found = t.when, true
		}
	}
	return best, found
}

type fakeTimer struct {
	clock  *Fake
	ch     chan time.Time
	fn     func()
	when   time.Time
	seq    uint64
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	was := t.active
	t.active = false
	if was {
		f.notifyLocked()
	}
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	was := t.active
	t.when = f.now.Add(d)
	f.seq++
	t.seq = f.seq
	t.active = true
	present := false
	for _, x := range f.timers {
		if x == t {
			present = true
			break
		}
	}
	if !present {
		f.timers = append(f.timers, t)
	}
	f.notifyLocked()
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
	return was
}
