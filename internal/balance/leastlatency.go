package balance

import (
	"slices"

	"github.com/continuumhq/continuum/internal/backend"
)

// LeastLatencyName is LeastLatency's canonical name and YAML value.
const LeastLatencyName = "LeastLatency"

// LeastLatency picks the available candidate with the lowest latency EWMA
// (State.Latency), in turn among the candidates that tie. Candidates with no
// observation yet report 0 and so come first, in turn, until each has been
// measured once; a candidate keeps getting every request until its first
// observation is recorded, so the caller should record latency promptly.
type LeastLatency struct {
	candidates []*backend.Backend
	turn       rotation
}

var _ Policy = (*LeastLatency)(nil)

// NewLeastLatency returns a LeastLatency over a copy of candidates.
func NewLeastLatency(candidates []*backend.Backend) *LeastLatency {
	return &LeastLatency{candidates: slices.Clone(candidates)}
}

// Name returns LeastLatencyName.
func (*LeastLatency) Name() string { return LeastLatencyName }

// Pick returns an unmeasured available candidate if there is one, else the
// fastest available one, or nil. key is ignored.
func (p *LeastLatency) Pick(f Filter, _ string) *backend.Backend {
	return pickLeast(p.candidates, f, &p.turn, latency)
}

// latency scores a backend by its latency EWMA in nanoseconds; 0 when unmeasured.
func latency(b *backend.Backend) int64 { return int64(b.State.Latency()) }
