package balance

import (
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/continuumhq/continuum/internal/backend"
)

// RandomName is Random's canonical name and YAML value.
const RandomName = "Random"

// Random picks an available candidate uniformly at random.
type Random struct {
	candidates []*backend.Backend

	mu  sync.Mutex
	rng *rand.Rand // guarded by mu
}

var _ Policy = (*Random)(nil)

// NewRandom returns a Random over a copy of candidates that draws from src.
// If src is nil, a PCG with a random seed is used. src must not be used
// elsewhere afterwards.
func NewRandom(candidates []*backend.Backend, src rand.Source) *Random {
	return &Random{candidates: slices.Clone(candidates), rng: rand.New(randomSource(src))}
}

// Name returns RandomName.
func (*Random) Name() string { return RandomName }

// Pick returns a uniformly drawn available candidate, or nil. key is ignored.
func (p *Random) Pick(f Filter, _ string) *backend.Backend {
	var buf [stackCandidates]int
	avail := appendAvailable(buf[:0], p.candidates, f)
	if len(avail) == 0 {
		return nil
	}
	p.mu.Lock()
	n := p.rng.IntN(len(avail))
	p.mu.Unlock()
	return p.candidates[avail[n]]
}
