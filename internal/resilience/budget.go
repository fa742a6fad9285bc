package resilience

import (
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// defaultBudgetWindow is the retry budget's window when BudgetConfig.Window is zero.
const defaultBudgetWindow = 10 * time.Second

// budgetBuckets is how many buckets a Budget's window is counted in.
const budgetBuckets = 10

// budgetSlack absorbs floating-point error in the allowance, so that 0.1 of
// 30 requests allows 3 retries, not 4.
const budgetSlack = 1e-9

// BudgetConfig sets a retry budget. Zero fields are taken literally, except
// Window; DefaultBudgetConfig returns the configuration file's defaults.
type BudgetConfig struct {
	// Ratio is how many retries each first attempt in the window earns: 0.2
	// allows one retry per five requests. DefaultBudgetConfig uses 0.2. Zero
	// earns nothing, so with MinPerSecond 0 no retry is ever allowed; a
	// negative Ratio means retries are unlimited.
	Ratio float64
	// MinPerSecond is a floor of retries per second allowed however little
	// traffic there is, so that a quiet router can still retry.
	// DefaultBudgetConfig uses 1. Zero means no floor.
	MinPerSecond float64
	// Window is how far back requests and retries are counted, in ten
	// buckets. Zero (or negative) means 10s.
	Window time.Duration
}

// DefaultBudgetConfig returns the retry budget defaults: retries may add 20%
// to the traffic of the last 10s, and at least one retry per second is
// allowed.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{Ratio: 0.2, MinPerSecond: 1, Window: defaultBudgetWindow}
}

// Budget bounds retries to a fraction of recent traffic, like Finagle's
// retry budget, so that a fleet-wide outage does not multiply the load on
// the backends that are left. A retry is allowed while the retries in the
// window stay below MinPerSecond*Window.Seconds() + Ratio*requests in the
// window. Budget is safe for concurrent use.
type Budget struct {
	clk clock.Clock

	mu  sync.Mutex
	cfg BudgetConfig
	r   ring // a: requests, b: retries
}

// NewBudget returns an empty budget. A nil clk means clock.Real().
func NewBudget(cfg BudgetConfig, clk clock.Clock) *Budget {
	if clk == nil {
		clk = clock.Real()
	}
	if cfg.Window <= 0 {
		cfg.Window = defaultBudgetWindow
	}
	return &Budget{clk: clk, cfg: cfg, r: newRing(cfg.Window, budgetBuckets, clk.Now())}
}

// Request counts a first attempt, which earns Ratio retries.
func (b *Budget) Request() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.r.add(b.clk.Now(), 1, 0)
}

// TryRetry reports whether the budget allows one more retry now, and counts
// the retry when it does.
func (b *Budget) TryRetry() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clk.Now()
	if b.cfg.Ratio >= 0 {
		requests, retries := b.r.sums(now)
		allowance := b.cfg.MinPerSecond*b.cfg.Window.Seconds() + b.cfg.Ratio*float64(requests)
		if float64(retries) >= allowance-budgetSlack {
			return false
		}
	}
	b.r.add(now, 0, 1)
	return true
}

// Counts returns the first attempts and the retries still in the window.
func (b *Budget) Counts() (requests, retries int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.r.sums(b.clk.Now())
}
