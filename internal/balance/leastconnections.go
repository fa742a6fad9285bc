package balance

import (
	"slices"

	"github.com/continuumhq/continuum/internal/backend"
)

// LeastConnectionsName is LeastConnections' canonical name and YAML value.
const LeastConnectionsName = "LeastConnections"

// LeastConnections picks the available candidate with the fewest requests in
// flight (State.InFlight), in turn among the candidates that tie.
type LeastConnections struct {
	candidates []*backend.Backend
	turn       rotation
}

var _ Policy = (*LeastConnections)(nil)

// NewLeastConnections returns a LeastConnections over a copy of candidates.
func NewLeastConnections(candidates []*backend.Backend) *LeastConnections {
	return &LeastConnections{candidates: slices.Clone(candidates)}
}

// Name returns LeastConnectionsName.
func (*LeastConnections) Name() string { return LeastConnectionsName }

// Pick returns the least loaded available candidate, or nil. key is ignored.
func (p *LeastConnections) Pick(f Filter, _ string) *backend.Backend {
	return pickLeast(p.candidates, f, &p.turn, inFlight)
}

// inFlight scores a backend by its requests in flight.
func inFlight(b *backend.Backend) int64 { return b.State.InFlight() }
