// Package cache lets identical requests share answers: a Group makes
// concurrent identical requests share one upstream call (request
// deduplication), and a Store keeps finished answers for a while (the
// response cache, and deduplicated answers for deduplication_ttl).
//
// Two Stores exist: Memory, in process, bounded in bytes (least recently
// used answers go first), entries expiring on an injected clock; and Redis,
// shared by several replicas, where an answer kept by one answers identical
// requests on all of them. A Redis outage only makes misses.
//
// It is a leaf package: requests are identified by a Key the caller builds
// from what makes two requests identical (KeyOf), and the rule for which
// requests are deterministic enough to cache (Deterministic) reads the
// request body through internal/openai.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// Results of a request that could reuse an answer, for logs, metrics and
// the X-Continuum-Cache header.
const (
	// Hit: answered from the response cache, without an upstream call.
	Hit = "hit"
	// Miss: the request went upstream; its answer may be kept.
	Miss = "miss"
	// Shared: answered by an identical request's upstream call, in flight
	// or finished within deduplication_ttl.
	Shared = "shared"
)

// Header is the response header field that says whether an answer was
// reused: Hit, Miss or Shared.
const Header = "X-Continuum-Cache"

// Entry is a finished answer kept to answer identical requests. It is
// immutable once made: a Store and every request it answers share it.
type Entry struct {
	Status int
	Header []exchange.Field
	Body   []byte
	// Backend names the backend that produced the answer; "" for an
	// answer the router made.
	Backend string
	// Routed is the model that answered (after aliases and fallbacks).
	Routed string
	// ErrorKind is why the request failed, "" when it did not; requests
	// sharing a failure log it too.
	ErrorKind string
}

// Size is the memory an entry is counted for in a Store's bound.
func (e *Entry) Size() int64 {
	n := int64(len(e.Body)+len(e.Backend)+len(e.Routed)+len(e.ErrorKind)) + entryOverhead
	for _, f := range e.Header {
		n += int64(len(f.Name)+len(f.Value)) + fieldOverhead
	}
	return n
}

// Rough fixed costs of an entry (the item, its list element, its map slot)
// and of one header field.
const (
	entryOverhead = 256
	fieldOverhead = 32
)

// Key identifies identical requests: a SHA-256 digest.
type Key [sha256.Size]byte

// KeyOf returns the key of a request of api with body; parts are what else
// makes two requests identical (the routed model, the caller's key id, the
// prompts' digest, headers the answer depends on). Parts are length-prefixed,
// so no two different lists of parts give the same key.
func KeyOf(api exchange.API, body []byte, parts ...string) Key {
	h := sha256.New()
	var n [binary.MaxVarintLen64 + 1]byte
	n[0] = byte(api)
	h.Write(n[:1])
	for _, p := range parts {
		h.Write(binary.AppendUvarint(n[:0], uint64(len(p))))
		h.Write([]byte(p))
	}
	h.Write(binary.AppendUvarint(n[:0], uint64(len(body))))
	h.Write(body)
	var k Key
	h.Sum(k[:0])
	return k
}

// Store keeps finished answers for a while. Implementations are safe for
// concurrent use; entries given to Put and returned by Get are shared and
// must not be modified.
type Store interface {
	// Get returns the entry kept for k, if it has not expired.
	Get(ctx context.Context, k Key) (*Entry, bool)
	// Put keeps e for k for ttl, replacing what was kept for k. A store
	// may drop it earlier (to stay within its bound), or not keep it.
	Put(ctx context.Context, k Key, e *Entry, ttl time.Duration)
}

// requestKeys are the members of a request body Deterministic reads.
var requestKeys = []string{"temperature", "n"}

// Deterministic reports whether the answer to a (non-streaming) request of
// api depends only on the request, so that it may be cached: embeddings
// always; chat completions, completions, responses and messages when
// temperature is 0 and n, if given, is 1 (one choice). Tools are allowed:
// they are part of the body, hence of the key, and the router does not run
// them. A body naming temperature or n twice (or in two letter cases) is
// not deterministic: backends disagree on which one counts.
func Deterministic(api exchange.API, body []byte) bool {
	switch api {
	case exchange.Embeddings:
		return true
	case exchange.ChatCompletions, exchange.Completions, exchange.Responses, exchange.Messages:
	default:
		return false
	}
	var seen [2]int
	zero, one := false, true
	err := openai.Members(body, func(m openai.Member) bool {
		i, _ := m.MatchKey(requestKeys)
		if i < 0 {
			return true
		}
		seen[i]++
		f, err := strconv.ParseFloat(string(body[m.Start:m.End]), 64)
		switch i {
		case 0:
			zero = err == nil && f == 0
		case 1:
			one = string(body[m.Start:m.End]) == "null" || (err == nil && f == 1)
		}
		return true
	})
	return err == nil && seen[0] == 1 && seen[1] <= 1 && zero && one
}
