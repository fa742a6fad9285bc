package balance

import (
	"slices"
	"sync"

	"github.com/continuumhq/continuum/internal/backend"
)

// WeightedRoundRobinName is WeightedRoundRobin's canonical name and YAML value.
const WeightedRoundRobinName = "WeightedRoundRobin"

// WeightedRoundRobin spreads requests in proportion to Backend.Weight with
// nginx's smooth weighted round robin: on each pick every available candidate
// adds its weight to its current value, the highest current value wins (the
// earliest candidate on a tie) and the winner's current value drops by the
// total weight of the available candidates. Weights 3:1 give A A B A, and
// heavy backends are interleaved rather than picked in long runs.
// Unavailable candidates keep their current value until they return.
type WeightedRoundRobin struct {
	candidates []*backend.Backend
	weights    []int64 // Backend.Weight, at least 1

	mu      sync.Mutex
	current []int64 // guarded by mu
}

var _ Policy = (*WeightedRoundRobin)(nil)

// NewWeightedRoundRobin returns a WeightedRoundRobin over a copy of
// candidates. A Weight below 1 counts as 1.
func NewWeightedRoundRobin(candidates []*backend.Backend) *WeightedRoundRobin {
	weights := make([]int64, len(candidates))
	for i, b := range candidates {
		weights[i] = int64(max(b.Weight, 1))
	}
	return &WeightedRoundRobin{
		candidates: slices.Clone(candidates),
		weights:    weights,
		current:    make([]int64, len(candidates)),
	}
}

// Name returns WeightedRoundRobinName.
func (*WeightedRoundRobin) Name() string { return WeightedRoundRobinName }

// Pick returns the available candidate that is furthest behind its weighted
// share, or nil. key is ignored.
func (p *WeightedRoundRobin) Pick(f Filter, _ string) *backend.Backend {
	var buf [stackCandidates]int
	avail := appendAvailable(buf[:0], p.candidates, f) // the filter runs outside the lock
	if len(avail) == 0 {
		return nil
	}
	p.mu.Lock()
	best := avail[0]
	var total int64
	for _, i := range avail {
		p.current[i] += p.weights[i]
		total += p.weights[i]
		if p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= total
	p.mu.Unlock()
	return p.candidates[best]
}
