// Package backend describes one inference backend and its live runtime state.
//
// It is a leaf package: every stage may read a *Backend, and the hot path
// only touches the atomics in State. A Backend's static fields never change
// after construction; a config reload builds new Backend values but keeps the
// *State of every backend whose identity (name, type, URL) did not change, so
// health, breaker and latency history survive reloads.
package backend

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Type names the API dialect a backend speaks. Its value equals the YAML value.
type Type string

// Backend types.
const (
	OpenAI   Type = "openai"   // any OpenAI-compatible server
	VLLM     Type = "vllm"     // vLLM's OpenAI-compatible server
	LlamaCpp Type = "llamacpp" // llama.cpp's llama-server
	LMStudio Type = "lmstudio" // LM Studio's local server
	LocalAI  Type = "localai"  // LocalAI
	Ollama   Type = "ollama"   // Ollama (OpenAI-compatible /v1 plus /api/tags)
	// Anthropic is Anthropic's Messages API (api.anthropic.com and
	// compatible servers).
	Anthropic Type = "anthropic"
	// Gemini is Google's Gemini API: native generateContent, or its
	// OpenAI-compatible endpoint.
	Gemini Type = "gemini"
)

// Types lists every supported Type in documentation order.
var Types = []Type{OpenAI, VLLM, LlamaCpp, LMStudio, LocalAI, Ollama, Anthropic, Gemini}

// Protocol is the wire API a backend type speaks.
type Protocol uint8

// Protocols.
const (
	ProtocolOpenAI    Protocol = iota // OpenAI chat completions and friends
	ProtocolAnthropic                 // Anthropic Messages
	ProtocolGemini                    // Gemini generateContent
)

// Protocol returns the wire API of t.
func (t Type) Protocol() Protocol {
	switch t {
	case Anthropic:
		return ProtocolAnthropic
	case Gemini:
		return ProtocolGemini
	}
	return ProtocolOpenAI
}

// Valid reports whether t is a supported type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Backend is one configured inference server.
type Backend struct {
	// Name is unique among backends; it appears in logs, metrics, the admin
	// API and the X-Continuum-Backend header.
	Name string
	// Type selects the dialect; see Type.
	Type Type
	// URL is the base URL as configured, without a trailing slash.
	URL string
	// APIKey is sent as "Authorization: Bearer <APIKey>" when not empty.
	APIKey string
	// Weight is used by weighted policies; it is at least 1.
	Weight int
	// Models is the static model list from the configuration; when empty the
	// models are discovered and found through State.Models.
	Models []string
	// State is the live, shared runtime state. It is never nil for backends
	// built by the app package.
	State *State
}

// Identity is what must stay equal across a reload for a backend to keep its State.
func (b *Backend) Identity() string { return string(b.Type) + "|" + b.Name + "|" + b.URL }

// ServedModels returns the static models if configured, else the discovered ones.
func (b *Backend) ServedModels() []string {
	if len(b.Models) > 0 {
		return b.Models
	}
	if b.State == nil {
		return nil
	}
	return b.State.Models()
}

// Health is a backend's health as seen by active probes and passive outcomes.
type Health int32

// Health states. Their String values are the names used by the admin API and metrics.
const (
	Unknown   Health = iota // not probed yet; routable
	Ready                   // answering normally
	WarmingUp               // answering 503 while loading (llama.cpp does this); not routable
	Down                    // failing; not routable unless in panic mode
)

func (h Health) String() string {
	switch h {
	case Ready:
		return "ready"
	case WarmingUp:
		return "warming_up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// Routable reports whether a backend in this state may receive traffic
// outside panic mode.
func (h Health) Routable() bool { return h == Ready || h == Unknown }

// State is the mutable runtime state of one backend. All methods are safe for
// concurrent use and lock-free.
type State struct {
	inFlight      atomic.Int64
	health        atomic.Int32
	drained       atomic.Bool
	cooldownUntil atomic.Int64  // unix nanoseconds; 0 = none
	overloaded    atomic.Bool   // the cooldown's cause: overloaded (503, 529), else rate limited (429)
	latency       atomic.Uint64 // float64 bits: EWMA of seconds to first token / response
	models        atomic.Pointer[[]string]
	requests      atomic.Uint64
	failures      atomic.Uint64
	errorRate     atomic.Uint64 // float64 bits: EWMA of failure (1) / success (0)
}

// NewState returns a fresh state: health Unknown, nothing in flight.
func NewState() *State { return &State{} }

// InFlight returns the number of requests currently sent to the backend.
func (s *State) InFlight() int64 { return s.inFlight.Load() }

// Acquire counts one more request in flight.
func (s *State) Acquire() { s.inFlight.Add(1) }

// Release counts one request less in flight.
func (s *State) Release() { s.inFlight.Add(-1) }

// Health returns the current health state.
func (s *State) Health() Health { return Health(s.health.Load()) }

// SetHealth sets the health state and returns the previous one.
func (s *State) SetHealth(h Health) Health { return Health(s.health.Swap(int32(h))) }

// Drained reports whether the backend was drained by an operator: it takes no
// new requests, in-flight ones finish.
func (s *State) Drained() bool { return s.drained.Load() }

// SetDrained drains (true) or undrains (false) the backend.
func (s *State) SetDrained(v bool) { s.drained.Store(v) }

// CoolDown keeps the backend out of rotation until t: after a 429
// (overloaded false: the backend rate limits its clients) or after a 503
// with Retry-After or an Anthropic overloaded error (overloaded true). A
// later cooldown never shortens an earlier one; the one that lasts longest
// says why the backend rests.
func (s *State) CoolDown(until time.Time, overloaded bool) {
	n := until.UnixNano()
	for {
		cur := s.cooldownUntil.Load()
		if cur >= n {
			return
		}
		if s.cooldownUntil.CompareAndSwap(cur, n) {
			s.overloaded.Store(overloaded)
			return
		}
	}
}

// CooldownOverloaded reports whether the current (or last) cooldown came
// from the backend being overloaded rather than rate limiting.
func (s *State) CooldownOverloaded() bool { return s.overloaded.Load() }

// CooldownUntil returns the end of the current cooldown, or the zero time.
func (s *State) CooldownUntil() time.Time {
	n := s.cooldownUntil.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// CoolingDown reports whether now is inside the cooldown window.
func (s *State) CoolingDown(now time.Time) bool {
	return now.UnixNano() < s.cooldownUntil.Load()
}

// latencyAlpha weights the newest observation in the latency EWMA.
const latencyAlpha = 0.3

// errorAlpha weights the newest outcome in the error-rate EWMA (about the last 20 calls).
const errorAlpha = 0.05

// ObserveLatency folds one latency observation into the EWMA.
func (s *State) ObserveLatency(d time.Duration) {
	v := d.Seconds()
	for {
		old := s.latency.Load()
		next := v
		if old != 0 {
			prev := math.Float64frombits(old)
			next = prev + latencyAlpha*(v-prev)
		}
		if s.latency.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// Latency returns the latency EWMA, or 0 if nothing was observed yet.
func (s *State) Latency() time.Duration {
	return time.Duration(math.Float64frombits(s.latency.Load()) * float64(time.Second))
}

// ObserveResult counts one finished attempt for the admin API's recent error
// rate. Capacity answers and client cancellations are not passed here.
func (s *State) ObserveResult(failed bool) {
	s.requests.Add(1)
	v := 0.0
	if failed {
		s.failures.Add(1)
		v = 1
	}
	for {
		old := s.errorRate.Load()
		prev := math.Float64frombits(old)
		next := prev + errorAlpha*(v-prev)
		if s.errorRate.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// ErrorRate returns the recent failure rate in [0, 1] (an EWMA over about 20 attempts).
func (s *State) ErrorRate() float64 { return math.Float64frombits(s.errorRate.Load()) }

// Totals returns the attempts and failures counted by ObserveResult since start.
func (s *State) Totals() (requests, failures uint64) { return s.requests.Load(), s.failures.Load() }

// Models returns the discovered models (nil before the first discovery).
func (s *State) Models() []string {
	if p := s.models.Load(); p != nil {
		return *p
	}
	return nil
}

// SetModels replaces the discovered model list. The slice must not be modified afterwards.
func (s *State) SetModels(m []string) { s.models.Store(&m) }

// ModelsKnown reports whether discovery has produced a list at least once.
func (s *State) ModelsKnown() bool { return s.models.Load() != nil }
