package limit

import (
	"context"
	"math"
	"time"
)

// Sources name who decided a Result. They are the source label of decision
// metrics.
const (
	SourceRedis = "redis" // the shared buckets in Redis
	SourceLocal = "local" // buckets in this process (MemoryStore, or the local failure policy)
	SourceAllow = "allow" // Redis failed and the allow policy let the request through
	SourceDeny  = "deny"  // Redis failed and the deny policy refused the request
)

// Item is one limit a request must pass: a bucket, its GCRA rate and burst,
// and what this request costs in it.
//
// Key names the bucket, for example "key:team-a", "model:llama",
// "backend:vllm-a", "client:10.0.0.1" or "global"; two items with the same
// Key share one bucket wherever they come from. Scope is the kind of limit
// ("api_key", "team", "model", "backend", "client", "global", "tokens", …):
// Resilient picks its failure policy by Scope, and metrics use it as a label.
type Item struct {
	// Key names the bucket. It must not be "".
	Key string
	// Scope is the kind of limit; see above. Default "": the default policy.
	Scope string
	// Rate is the sustained rate in units per second (requests, or tokens
	// for a token limit). Zero, negative, NaN and infinite rates mean
	// unlimited: the item is skipped.
	Rate float64
	// Burst is the bucket size in the same units: how much may come at once
	// after a quiet period. Default 0: max(1, ceil(Rate)). A cost larger
	// than Burst passes only on a full bucket and overdraws it (the excess
	// is carried as debt), so a large request is never refused forever.
	Burst int64
	// Cost is what the request takes from the bucket: 1 for a request, a
	// token count for a token limit. A negative Cost refunds, never beyond a
	// full bucket; refunds always pass. Zero only reads the bucket.
	Cost int64
	// Debt charges the cost even when the bucket does not hold it: the
	// bucket goes into debt, which later requests repay. Reconciliation
	// uses it to charge tokens already spent. A Debt item never refuses.
	Debt bool
}

// limited reports whether it limits anything.
func (it *Item) limited() bool {
	return it.Rate > 0 && !math.IsInf(it.Rate, 1)
}

// burst returns the item's burst with its default filled in.
func (it *Item) burst() int64 {
	if it.Burst > 0 {
		return it.Burst
	}
	return max(1, int64(math.Ceil(it.Rate)))
}

// spec returns the item's rate as a normalized Spec.
func (it *Item) spec() Spec {
	return Spec{RatePerSecond: it.Rate, Burst: int(it.burst())}
}

// refuses reports whether the item can refuse a request: a positive cost
// that is not debt.
func (it *Item) refuses() bool { return it.Cost > 0 && !it.Debt }

// Result is the outcome of Store.Take, with the data of the rate-limit
// response headers.
type Result struct {
	// Allowed reports whether the request passed every item. When false,
	// nothing was taken from any item.
	Allowed bool
	// Denied is the index (in the items passed to Take) of the item that
	// refused the request: when several did, the one with the longest
	// RetryAfter. -1 when Allowed.
	Denied int
	// Index is the item that Limit, Remaining and Reset describe: Denied
	// when refused; when allowed, the tightest item (the lowest fraction of
	// its burst left after this request; the first on a tie). -1 when no
	// item limited anything.
	Index int
	// Limit is that item's burst.
	Limit int64
	// Remaining is the whole units left in it (after this request when
	// allowed); never negative, even in debt.
	Remaining int64
	// Reset is the time until it is full again.
	Reset time.Duration
	// RetryAfter, when refused, is the time until the refusing item holds
	// the cost: at least one millisecond. Zero when Allowed.
	RetryAfter time.Duration
	// Source says who decided: SourceRedis, SourceLocal, SourceAllow or
	// SourceDeny.
	Source string
}

// Store takes a batch of limit items for one request, all or nothing. The
// implementations are MemoryStore (one process), RedisStore (shared by every
// replica) and Resilient (RedisStore with a failure policy).
type Store interface {
	// Take charges every item's cost if every item can pay it, and nothing
	// otherwise. Unlimited items (Rate not positive) are skipped. An error
	// means the store could not decide (Resilient turns errors into its
	// failure policy and returns none but the caller's context error).
	Take(ctx context.Context, items []Item) (Result, error)
	// Close releases the store's resources.
	Close() error
}

// unlimited is the Result of a batch in which no item limits anything.
func unlimited(source string) Result {
	return Result{Allowed: true, Denied: -1, Index: -1, Source: source}
}
