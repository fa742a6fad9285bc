package limit

import "sync/atomic"

// Concurrency bounds the requests in flight, for load shedding: TryAcquire
// fails at once when the bound is reached; nothing queues. It is safe for
// concurrent use and lock-free. The zero value is unlimited.
type Concurrency struct {
	max      atomic.Int64 // <= 0: unlimited
	inFlight atomic.Int64
}

// NewConcurrency returns a bound of max requests in flight. A max of zero or
// less means unlimited (requests are still counted).
func NewConcurrency(max int) *Concurrency {
	c := &Concurrency{}
	c.max.Store(int64(max))
	return c
}

// TryAcquire takes a slot and reports whether it got one. Every successful
// TryAcquire must be followed by exactly one Release.
func (c *Concurrency) TryAcquire() bool {
	for {
		n, limit := c.inFlight.Load(), c.max.Load()
		if limit > 0 && n >= limit {
			return false
		}
		if c.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release frees a slot taken by TryAcquire. It panics when no slot is taken,
// which is a bug in the caller (as with a negative sync.WaitGroup counter).
func (c *Concurrency) Release() {
	if c.inFlight.Add(-1) < 0 {
		panic("limit: Concurrency.Release without a matching TryAcquire")
	}
}

// SetMax changes the bound; zero or less means unlimited. Lowering it below
// the requests in flight refuses new ones until enough have been released;
// none is interrupted.
func (c *Concurrency) SetMax(max int) { c.max.Store(int64(max)) }

// Max returns the bound; zero or less means unlimited.
func (c *Concurrency) Max() int { return int(c.max.Load()) }

// InFlight returns the number of slots taken.
func (c *Concurrency) InFlight() int { return int(c.inFlight.Load()) }
