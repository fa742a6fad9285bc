package limit

import (
	"context"
	"slices"
	"sync"
)

// Reservation holds the tokens reserved for one request on its token items
// (tokens per minute, budgets counted in tokens), from admission until the
// provider reports the usage. The sequence is Reserve, any number of TopUp
// while the response streams, then exactly one Reconcile (or Refund when the
// request failed before its first token). Reconcile and Refund act once;
// later calls do nothing. It is safe for concurrent use.
//
// Bound: over any interval T a token bucket admits at most B + R·T tokens,
// plus, for the requests still in flight, what they used beyond their
// reservation; reconciliation charges that excess as debt, which later
// requests repay, so the long-run error tends to zero.
type Reservation struct {
	store Store

	mu       sync.Mutex
	tokens   []Item // the token items, Cost unset
	reserved int64  // tokens charged so far: the estimate plus granted top-ups
	done     bool
}

// Reserve charges a request's items in one all-or-nothing Take: each item
// with a Cost of zero is a token item and is charged estimate; the others
// (request limits, cost 1) are charged their own Cost once and are never
// reconciled. When the Result is refused the Reservation is nil and nothing
// was charged. An estimate above a token item's burst passes only on a full
// bucket and overdraws it (see Item.Burst). A negative estimate counts as 0.
func Reserve(ctx context.Context, s Store, items []Item, estimate int64) (*Reservation, Result, error) {
	estimate = max(0, estimate)
	batch := slices.Clone(items)
	var tokens []Item
	for i := range batch {
		if batch[i].Cost == 0 {
			tokens = append(tokens, batch[i])
			batch[i].Cost = estimate
		}
	}
	res, err := s.Take(ctx, batch)
	if err != nil || !res.Allowed {
		return nil, res, err
	}
	return &Reservation{store: s, tokens: tokens, reserved: estimate}, res, nil
}

// Reserved returns the tokens reserved so far: the estimate plus the granted
// top-ups.
func (r *Reservation) Reserved() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reserved
}

// TopUp reserves n more tokens, for a stream that outgrew its reservation
// (SCALEOUT: one block, such as 256 tokens, at a time). It reports whether
// they were granted. A refused top-up changes nothing: let the stream
// finish; Reconcile charges whatever was used beyond the reservation as
// debt. A failed store (error) counts as refused. After Reconcile or Refund
// it does nothing and returns false.
func (r *Reservation) TopUp(ctx context.Context, n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || n <= 0 || len(r.tokens) == 0 {
		return !r.done && n <= 0
	}
	res, err := r.store.Take(ctx, withCost(r.tokens, n, false))
	if err != nil || !res.Allowed {
		return false
	}
	r.reserved += n
	return true
}

// Reconcile settles the reservation against the tokens actually used: it
// refunds reserved − actual, or charges actual − reserved as debt (never
// refused). It acts once; later calls, and calls after Refund, return nil
// and do nothing. An error means the store could not record the difference
// (a Resilient store journals it instead and returns none).
func (r *Reservation) Reconcile(ctx context.Context, actual int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.done = true
	delta := max(0, actual) - r.reserved
	if delta == 0 || len(r.tokens) == 0 {
		return nil
	}
	_, err := r.store.Take(ctx, withCost(r.tokens, delta, delta > 0))
	return err
}

// Refund returns every reserved token: for a request that failed before its
// first token. It is Reconcile(ctx, 0), and acts once like it. Request items
// (cost 1) are not refunded: the request still counts.
func (r *Reservation) Refund(ctx context.Context) error { return r.Reconcile(ctx, 0) }

// withCost returns copies of items charged cost each.
func withCost(items []Item, cost int64, debt bool) []Item {
	out := slices.Clone(items)
	for i := range out {
		out[i].Cost, out[i].Debt = cost, debt
	}
	return out
}
