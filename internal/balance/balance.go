// Package balance picks one backend among the candidates that serve a model.
//
// A Policy is built once for one fixed, ordered candidate list (the route
// stage's answer for one model) and then only read and advanced by atomics or
// a short mutex: Pick never blocks on I/O, never allocates in the common case
// and returns nil when no candidate is available. Which candidates are
// available for one attempt (healthy, breaker closed, not tried yet, not
// cooling down) is decided by the caller's Filter, so every policy applies the
// same availability rules.
//
// Every policy has an exported type, a constructor and a const Name equal to
// its YAML value in selection_strategy; New builds one by name. Load-aware
// policies (LeastConnections, LeastLatency, PowerOfTwo) read each candidate's
// State, which must not be nil.
package balance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/continuumhq/continuum/internal/backend"
)

// Filter reports whether a backend may be picked for this attempt (healthy,
// breaker permits, not tried yet...).
//
// Pick calls Available at most once per candidate and may call it for
// candidates it does not return, so Available must not reserve anything (a
// half-open breaker probe, for example, is reserved after the pick).
type Filter interface {
	Available(b *backend.Backend) bool
}

// FilterFunc adapts an ordinary function to a Filter.
type FilterFunc func(b *backend.Backend) bool

// Available returns f(b).
func (f FilterFunc) Available(b *backend.Backend) bool { return f(b) }

// Policy picks one backend. A Policy is built for one fixed, ordered candidate
// list (the backends that serve one model) and is safe for concurrent use.
type Policy interface {
	// Name returns the policy's canonical name, equal to its YAML value,
	// e.g. "RoundRobin".
	Name() string
	// Pick returns one candidate that f reports available, or nil when there
	// is none. A nil f makes every candidate available. key is the
	// consistent-hash key (the request's "user" field or X-Session-Id); it
	// may be empty and is ignored by every policy but ConsistentHash. Pick
	// never blocks.
	Pick(f Filter, key string) *backend.Backend
}

// ErrUnknownPolicy is returned (wrapped) by New for a name Canonical does not know.
var ErrUnknownPolicy = errors.New("unknown selection strategy")

// Canonical maps a configured strategy name, in PascalCase ("RoundRobin") or
// snake_case ("round_robin"), to its canonical PascalCase Name, reporting
// false if the name is unknown. Matching is exact: other spellings are
// unknown, so that the configuration can point at them.
func Canonical(name string) (string, bool) {
	switch name {
	case RoundRobinName, "round_robin":
		return RoundRobinName, true
	case WeightedRoundRobinName, "weighted_round_robin":
		return WeightedRoundRobinName, true
	case LeastConnectionsName, "least_connections":
		return LeastConnectionsName, true
	case LeastLatencyName, "least_latency":
		return LeastLatencyName, true
	case RandomName, "random":
		return RandomName, true
	case PowerOfTwoName, "power_of_two":
		return PowerOfTwoName, true
	case ConsistentHashName, "consistent_hash":
		return ConsistentHashName, true
	}
	return "", false
}

// Names lists the canonical names in documentation order. The caller owns the
// returned slice.
func Names() []string {
	return []string{
		RoundRobinName,
		WeightedRoundRobinName,
		LeastConnectionsName,
		LeastLatencyName,
		RandomName,
		PowerOfTwoName,
		ConsistentHashName,
	}
}

// New builds the named policy (canonical or snake_case, see Canonical) over
// candidates. seed seeds the policy's own random source (a math/rand/v2 PCG)
// so that Random and PowerOfTwo are reproducible in tests; the other policies
// ignore it. The candidate slice is copied.
func New(name string, candidates []*backend.Backend, seed uint64) (Policy, error) {
	canonical, ok := Canonical(name)
	if !ok {
		return nil, fmt.Errorf("build balance policy %q: %w (want one of %s)",
			name, ErrUnknownPolicy, strings.Join(Names(), ", "))
	}
	switch canonical {
	case RoundRobinName:
		return NewRoundRobin(candidates), nil
	case WeightedRoundRobinName:
		return NewWeightedRoundRobin(candidates), nil
	case LeastConnectionsName:
		return NewLeastConnections(candidates), nil
	case LeastLatencyName:
		return NewLeastLatency(candidates), nil
	case RandomName:
		return NewRandom(candidates, newSource(seed)), nil
	case PowerOfTwoName:
		return NewPowerOfTwo(candidates, newSource(seed)), nil
	default: // ConsistentHashName
		return NewConsistentHash(candidates), nil
	}
}

// pcgStream is the second PCG seed word used by New; any fixed odd constant will do.
const pcgStream = 0x9e3779b97f4a7c15

// newSource returns the PCG source New gives to a random policy.
func newSource(seed uint64) rand.Source { return rand.NewPCG(seed, pcgStream) }

// randomSource returns src, or a randomly seeded PCG when src is nil.
func randomSource(src rand.Source) rand.Source {
	if src == nil {
		return rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	return src
}

// stackCandidates is how many candidates a pick tracks without allocating;
// longer lists still work, at the price of one allocation per pick.
const stackCandidates = 32

// available reports whether f admits b; a nil f admits every backend.
func available(f Filter, b *backend.Backend) bool { return f == nil || f.Available(b) }

// appendAvailable appends to dst the indexes of the candidates that f admits,
// in candidate order, calling f once per candidate.
func appendAvailable(dst []int, candidates []*backend.Backend, f Filter) []int {
	for i, b := range candidates {
		if available(f, b) {
			dst = append(dst, i)
		}
	}
	return dst
}

// rotation hands out turns for round robin; the zero value starts at turn 0.
type rotation struct{ turns atomic.Uint64 }

// next returns the next turn reduced to [0, n); n must be positive.
func (r *rotation) next(n int) int { return int((r.turns.Add(1) - 1) % uint64(n)) }

// pickLeast returns the available candidate with the lowest score, rotating
// among the candidates that share it; nil when none is available.
func pickLeast(candidates []*backend.Backend, f Filter, turn *rotation, score func(*backend.Backend) int64) *backend.Backend {
	type scored struct {
		index int
		score int64
	}
	var buf [stackCandidates]scored
	all := buf[:0]
	var lowest int64
	tied := 0
	for i, b := range candidates {
		if !available(f, b) {
			continue
		}
		s := score(b)
		all = append(all, scored{i, s})
		switch {
		case tied == 0 || s < lowest:
			lowest, tied = s, 1
		case s == lowest:
			tied++
		}
	}
	if tied == 0 {
		return nil
	}
	nth := turn.next(tied)
	for _, c := range all {
		if c.score != lowest {
			continue
		}
		if nth == 0 {
			return candidates[c.index]
		}
		nth--
	}
	panic("unreachable: fewer tied candidates than counted")
}
