package balance

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/continuumhq/continuum/internal/backend"
)

// ConsistentHashName is ConsistentHash's canonical name and YAML value.
const ConsistentHashName = "ConsistentHash"

// Ring sizing for ConsistentHash: each candidate gets virtualNodesPerWeight
// points per unit of Backend.Weight (as nginx's hash consistent does), with
// the weight capped at maxRingWeight so that one heavy backend cannot blow up
// the ring. A candidate's points depend only on its own name and weight, so
// adding or removing another candidate never moves them.
const (
	virtualNodesPerWeight = 160
	maxRingWeight         = 16
)

// ConsistentHash sends every request with the same key to the same backend
// for as long as that backend stays available, so that a conversation keeps
// hitting a warm prefix cache. Backends sit on a hash ring of virtual nodes;
// a key goes to the first available backend clockwise from its hash. When a
// backend leaves (unavailable, or removed from the candidate list) only the
// keys it held move, and they come back when it returns. The hash (64-bit
// FNV-1a with a 64-bit finalizer) is stable across processes and versions,
// so every router replica maps a key to the same backend. Requests without a
// key are spread round robin.
type ConsistentHash struct {
	candidates []*backend.Backend
	ring       []ringNode // sorted by hash, then by backend name
	turn       rotation   // for requests without a key
}

// ringNode is one virtual node: a point on the ring and the candidate it belongs to.
type ringNode struct {
	hash  uint64
	index int // into ConsistentHash.candidates
}

var _ Policy = (*ConsistentHash)(nil)

// NewConsistentHash returns a ConsistentHash over a copy of candidates. Each
// candidate gets 160 virtual nodes per unit of Weight; a Weight below 1
// counts as 1 and one above 16 as 16. The ring does not depend on the order
// of candidates.
func NewConsistentHash(candidates []*backend.Backend) *ConsistentHash {
	candidates = slices.Clone(candidates)
	size := 0
	for _, b := range candidates {
		size += ringWeight(b) * virtualNodesPerWeight
	}
	ring := make([]ringNode, 0, size)
	for i, b := range candidates {
		for v := range ringWeight(b) * virtualNodesPerWeight {
			ring = append(ring, ringNode{hash: stableHash(b.Name + "#" + strconv.Itoa(v)), index: i})
		}
	}
	slices.SortFunc(ring, func(a, b ringNode) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash),
			cmp.Compare(candidates[a.index].Name, candidates[b.index].Name))
	})
	return &ConsistentHash{candidates: candidates, ring: ring}
}

// ringWeight returns b's weight clamped to [1, maxRingWeight].
func ringWeight(b *backend.Backend) int { return min(max(b.Weight, 1), maxRingWeight) }

// Name returns ConsistentHashName.
func (*ConsistentHash) Name() string { return ConsistentHashName }

// Pick returns the first available candidate clockwise from key's hash, or
// nil. An empty key picks round robin among the available candidates.
func (p *ConsistentHash) Pick(f Filter, key string) *backend.Backend {
	if key == "" {
		return pickInTurn(p.candidates, f, &p.turn)
	}
	if len(p.ring) == 0 {
		return nil
	}
	h := stableHash(key)
	start, _ := slices.BinarySearchFunc(p.ring, h, func(n ringNode, h uint64) int { return cmp.Compare(n.hash, h) })

	// rejected marks the candidates f turned down, so that f runs at most once
	// per candidate and the walk stops once every candidate was turned down.
	var small [4]uint64 // room for 256 candidates
	rejected := small[:]
	if words := (len(p.candidates) + 63) / 64; words > len(small) {
		rejected = make([]uint64, words)
	}
	left := len(p.candidates)
	for step := range len(p.ring) {
		i := p.ring[(start+step)%len(p.ring)].index
		word, bit := i/64, uint64(1)<<(i%64)
		if rejected[word]&bit != 0 {
			continue
		}
		if b := p.candidates[i]; available(f, b) {
			return b
		}
		rejected[word] |= bit
		if left--; left == 0 {
			break
		}
	}
	return nil
}

// FNV-1a 64 parameters.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// stableHash returns the 64-bit FNV-1a hash of s passed through the
// MurmurHash3 fmix64 finalizer, which spreads FNV's output evenly over the
// ring even for keys that differ in one trailing byte. It must never change:
// router replicas and restarts rely on it to agree on every key's backend.
func stableHash(s string) uint64 { return fmix64(fnv1a64(s)) }

// fnv1a64 returns the 64-bit FNV-1a hash of s, as hash/fnv's New64a does,
// without allocating.
func fnv1a64(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// fmix64 is MurmurHash3's 64-bit finalizer: a bijection in which every input
// bit affects every output bit.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
