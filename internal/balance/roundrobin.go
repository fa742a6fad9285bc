package balance

import (
	"slices"

	"github.com/continuumhq/continuum/internal/backend"
)

// RoundRobinName is RoundRobin's canonical name and YAML value.
const RoundRobinName = "RoundRobin"

// RoundRobin hands requests to the available candidates in turn. Turns are
// counted over the available subset of each pick, so a backend that follows
// an unavailable one does not get its share too: with two available backends
// consecutive picks alternate exactly.
type RoundRobin struct {
	candidates []*backend.Backend
	turn       rotation
}

var _ Policy = (*RoundRobin)(nil)

// NewRoundRobin returns a RoundRobin over a copy of candidates, starting with
// the first available one.
func NewRoundRobin(candidates []*backend.Backend) *RoundRobin {
	return &RoundRobin{candidates: slices.Clone(candidates)}
}

// Name returns RoundRobinName.
func (*RoundRobin) Name() string { return RoundRobinName }

// Pick returns the next available candidate in turn, or nil. key is ignored.
func (p *RoundRobin) Pick(f Filter, _ string) *backend.Backend {
	return pickInTurn(p.candidates, f, &p.turn)
}

// pickInTurn returns the available candidate whose turn it is, or nil.
func pickInTurn(candidates []*backend.Backend, f Filter, turn *rotation) *backend.Backend {
	var buf [stackCandidates]int
	avail := appendAvailable(buf[:0], candidates, f)
	if len(avail) == 0 {
		return nil
	}
	return candidates[avail[turn.next(len(avail))]]
}
