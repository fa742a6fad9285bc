package resilience

import (
	"math"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Window counts successes and failures in a sliding time window made of
// equal buckets, like failsafe-rs's time-bucketed statistics. The counts
// cover the current, partly elapsed bucket and the buckets-1 before it, so
// an outcome is forgotten between size-size/buckets and size after it was
// added.
//
// A Window is safe for concurrent use. The breaker keeps its own unlocked
// copy of the same structure; Window is exported so that health tracking and
// the admin API can count the same way.
type Window struct {
	clk clock.Clock

	mu sync.Mutex
	r  ring
}

// NewWindow returns an empty window of the given size counted in the given
// number of buckets. A size of zero or less means 30s; buckets of zero or
// less means 10. A nil clk means clock.Real().
func NewWindow(size time.Duration, buckets int, clk clock.Clock) *Window {
	if clk == nil {
		clk = clock.Real()
	}
	if size <= 0 {
		size = defaultWindow
	}
	if buckets <= 0 {
		buckets = defaultWindowBuckets
	}
	return &Window{clk: clk, r: newRing(size, buckets, clk.Now())}
}

// Add counts one call, failed or not.
func (w *Window) Add(failed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.r.add(w.clk.Now(), 1, btoi(failed))
}

// Counts returns the calls and the failures among them still in the window.
func (w *Window) Counts() (calls, failures int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.r.sums(w.clk.Now())
}

// Reset forgets every call.
func (w *Window) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.r.reset()
}

// ring is an unsynchronised sliding window of buckets, each holding two
// counters (calls and failures for Window and Breaker, requests and retries
// for Budget). Buckets are addressed by epoch, the number of bucket widths
// elapsed since origin, so a bucket whose epoch is too old is simply skipped
// and reused: nothing needs a timer.
type ring struct {
	origin time.Time
	width  time.Duration
	slots  []slot
}

type slot struct {
	epoch int64 // emptyEpoch when never used or reset
	a, b  int
}

// emptyEpoch marks a slot that counts nothing.
const emptyEpoch = math.MinInt64

func newRing(size time.Duration, buckets int, origin time.Time) ring {
	width := size / time.Duration(buckets)
	if width <= 0 {
		width = 1
	}
	r := ring{origin: origin, width: width, slots: make([]slot, buckets)}
	r.reset()
	return r
}

func (r *ring) epoch(now time.Time) int64 {
	off, w := int64(now.Sub(r.origin)), int64(r.width)
	e := off / w
	if off%w < 0 {
		e--
	}
	return e
}

func (r *ring) add(now time.Time, a, b int) {
	e := r.epoch(now)
	n := int64(len(r.slots))
	i := e % n
	if i < 0 {
		i += n
	}
	s := &r.slots[i]
	if s.epoch != e {
		if s.epoch > e {
			// The slot already holds a later bucket, so e fell out of the
			// window before it was counted (a caller's clock went back).
			return
		}
		*s = slot{epoch: e}
	}
	s.a += a
	s.b += b
}

func (r *ring) sums(now time.Time) (a, b int) {
	e := r.epoch(now)
	oldest := e - int64(len(r.slots))
	for _, s := range r.slots {
		if s.epoch > oldest && s.epoch <= e {
			a += s.a
			b += s.b
		}
	}
	return a, b
}

func (r *ring) reset() {
	for i := range r.slots {
		r.slots[i] = slot{epoch: emptyEpoch}
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}
