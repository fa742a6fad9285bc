package limit

import (
	"sync"
	"testing"
)

func TestConcurrency(t *testing.T) {
	type op int
	const (
		acquire op = iota
		release
		setMax
	)
	type step struct {
		op       op
		max      int  // for setMax
		want     bool // for acquire
		inFlight int  // after the step
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"fails at max, release frees", 2, []step{
			{op: acquire, want: true, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
			{op: acquire, want: false, inFlight: 2},
			{op: release, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
			{op: acquire, want: false, inFlight: 2},
		}},
		{"unlimited still counts", 0, []step{
			{op: acquire, want: true, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
			{op: acquire, want: true, inFlight: 3},
			{op: release, inFlight: 2},
		}},
		{"negative max is unlimited", -1, []step{
			{op: acquire, want: true, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
		}},
		{"lowering below in flight refuses until released", 3, []step{
			{op: acquire, want: true, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
			{op: acquire, want: true, inFlight: 3},
			{op: setMax, max: 1, inFlight: 3},
			{op: acquire, want: false, inFlight: 3},
			{op: release, inFlight: 2},
			{op: release, inFlight: 1},
			{op: acquire, want: false, inFlight: 1},
			{op: release, inFlight: 0},
			{op: acquire, want: true, inFlight: 1},
		}},
		{"raising lets more in", 1, []step{
			{op: acquire, want: true, inFlight: 1},
			{op: acquire, want: false, inFlight: 1},
			{op: setMax, max: 2, inFlight: 1},
			{op: acquire, want: true, inFlight: 2},
			{op: setMax, max: 0, inFlight: 2},
			{op: acquire, want: true, inFlight: 3},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc := NewConcurrency(c.max)
			if got := cc.Max(); got != c.max {
				t.Errorf("Max() = %d, want %d", got, c.max)
			}
			for i, s := range c.steps {
				switch s.op {
				case acquire:
					if got := cc.TryAcquire(); got != s.want {
						t.Errorf("step %d: TryAcquire() = %t, want %t", i, got, s.want)
					}
				case release:
					cc.Release()
				case setMax:
					cc.SetMax(s.max)
					if got := cc.Max(); got != s.max {
						t.Errorf("step %d: Max() = %d, want %d", i, got, s.max)
					}
				}
				if got := cc.InFlight(); got != s.inFlight {
					t.Errorf("step %d: InFlight() = %d, want %d", i, got, s.inFlight)
				}
			}
		})
	}
}

func TestConcurrencyZeroValueIsUnlimited(t *testing.T) {
	var c Concurrency
	for i := range 3 {
		if !c.TryAcquire() {
			t.Fatalf("TryAcquire %d on the zero value = false, want true", i)
		}
	}
}

func TestConcurrencyReleaseWithoutAcquirePanics(t *testing.T) {
	c := NewConcurrency(1)
	defer func() {
		if recover() == nil {
			t.Errorf("Release without TryAcquire did not panic")
		}
	}()
	c.Release()
}

func TestConcurrencyParallel(t *testing.T) {
	const (
		max     = 3
		workers = 8
		rounds  = 2000
	)
	c := NewConcurrency(max)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		over     int
		acquired int
	)
	for range workers {
		wg.Go(func() {
			n, bad := 0, 0
			for range rounds {
				if !c.TryAcquire() {
					continue
				}
				n++
				if c.InFlight() > max {
					bad++
				}
				c.Release()
			}
			mu.Lock()
			acquired += n
			over += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	if over != 0 {
		t.Errorf("saw more than %d in flight %d times", max, over)
	}
	if acquired == 0 {
		t.Errorf("no TryAcquire succeeded")
	}
	if got := c.InFlight(); got != 0 {
		t.Errorf("InFlight() after all releases = %d, want 0", got)
	}
}
