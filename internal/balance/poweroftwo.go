package balance

import (
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/continuumhq/continuum/internal/backend"
)

// PowerOfTwoName is PowerOfTwo's canonical name and YAML value.
const PowerOfTwoName = "PowerOfTwo"

// PowerOfTwo draws two distinct available candidates at random and picks the
// one with fewer requests in flight (the first drawn on a tie): nearly as
// even as LeastConnections, without herding every request onto the one
// backend that looks idle. With one available candidate it picks that one.
type PowerOfTwo struct {
	candidates []*backend.Backend

	mu  sync.Mutex
	rng *rand.Rand // guarded by mu
}

var _ Policy = (*PowerOfTwo)(nil)

// NewPowerOfTwo returns a PowerOfTwo over a copy of candidates that draws
// from src. If src is nil, a PCG with a random seed is used. src must not be
// used elsewhere afterwards.
func NewPowerOfTwo(candidates []*backend.Backend, src rand.Source) *PowerOfTwo {
	return &PowerOfTwo{candidates: slices.Clone(candidates), rng: rand.New(randomSource(src))}
}

// Name returns PowerOfTwoName.
func (*PowerOfTwo) Name() string { return PowerOfTwoName }

// Pick returns the less loaded of two randomly drawn available candidates,
// or nil. key is ignored.
func (p *PowerOfTwo) Pick(f Filter, _ string) *backend.Backend {
	var buf [stackCandidates]int
	avail := appendAvailable(buf[:0], p.candidates, f)
	switch len(avail) {
	case 0:
		return nil
	case 1:
		return p.candidates[avail[0]]
	}
	p.mu.Lock()
	i := p.rng.IntN(len(avail))
	j := p.rng.IntN(len(avail) - 1)
	p.mu.Unlock()
	if j >= i {
		j++ // distinct from i, uniform over the others
	}
	first, second := p.candidates[avail[i]], p.candidates[avail[j]]
	if second.State.InFlight() < first.State.InFlight() {
		return second
	}
	return first
}
