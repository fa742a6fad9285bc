// Package mock is a simulated OpenAI-compatible inference backend. It serves
// chat completions, completions, embeddings, the model list, Ollama's
// /api/tags and /health with deterministic output, configurable timing and
// injectable faults. It is what `continuum mock` and `continuum demo` run, and
// what the router's integration and fault tests put behind
// httptest.NewServer(mock.New(opts)).
//
// Everything it produces is deterministic: token i of every completion reads
// "tok<i> ", embeddings derive from a hash of their input, and ErrorRate draws
// from a source seeded by Options.Seed. Waits run on an injected clock.Clock
// and end as soon as the client cancels. Stats, Events and LastRequest let
// tests observe what the backend saw.
//
// Endpoints (Options.API "openai", the default):
//
//	POST /v1/chat/completions, /v1/completions, /v1/embeddings
//	GET  /v1/models, /v1/models/{id}, /api/tags, /health
//
// With Options.API "anthropic" it simulates the Anthropic Messages API
// (named stream events as the real API sends them, errors in Anthropic's
// envelope, x-api-key authentication):
//
//	POST /v1/messages, /v1/messages/count_tokens
//	GET  /v1/models, /v1/models/{id}, /health
//
// With Options.API "gemini" it simulates Gemini's native API (alt=sse
// streams, Gemini error bodies, x-goog-api-key authentication):
//
//	POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse
//	GET  /v1beta/models, /v1beta/models/{model}, /health
//
// In every mode, a chat request that declares tools and whose last message
// is the user's and contains the word "tool" is answered with a call of
// its first tool (ToolTrigger): in the OpenAI mode a tool_calls message
// with finish_reason "tool_calls", whole or streamed (the call's name, then
// its arguments in two fragments).
package mock

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// HeaderBackend is the response header that carries Options.Name.
const HeaderBackend = "X-Mock-Backend"

// eventBuffer is the capacity of the Events channel.
const eventBuffer = 1024

// Routes, as counted in Stats.ByPath.
const (
	RouteChat        = "/v1/chat/completions"
	RouteCompletions = "/v1/completions"
	RouteEmbeddings  = "/v1/embeddings"
	RouteModels      = "/v1/models"
	RouteModel       = "/v1/models/{id}"
	RouteTags        = "/api/tags"
	RouteHealth      = "/health"
	RouteOther       = "other" // any path the mock does not serve
)

var _ http.Handler = (*Server)(nil)

// Server is a simulated backend; it implements http.Handler. Create it with
// New. It is safe for concurrent use.
type Server struct {
	state  atomic.Pointer[state]
	start  time.Time // when New ran, on the clock given to New; WarmupFor counts from here
	ids    atomic.Int64
	events chan Event
	last   atomic.Pointer[lastRequest]
	stats  counters
}

// state is one immutable set of options plus the random source seeded from them.
type state struct {
	opts Options // defaults applied
	mu   sync.Mutex
	rng  *rand.Rand
}

// draw returns the next number in [0, 1) from the seeded source.
func (st *state) draw() float64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.rng.Float64()
}

type lastRequest struct {
	path   string
	header http.Header
	body   []byte
}

// New returns a Server configured by opts. It panics if opts.Validate reports
// an error (Run returns that error instead).
func New(opts Options) *Server {
	s := &Server{events: make(chan Event, eventBuffer)}
	s.stats.byRoute = make(map[string]*atomic.Int64)
	for _, r := range append([]string{RouteChat, RouteCompletions, RouteEmbeddings, RouteModels, RouteModel, RouteTags, RouteHealth, RouteOther}, vendorRoutes...) {
		s.stats.byRoute[r] = new(atomic.Int64)
	}
	st := newState(opts)
	s.start = st.opts.Clock.Now()
	s.state.Store(st)
	return s
}

func newState(opts Options) *state {
	if err := opts.Validate(); err != nil {
		panic("mock: invalid options: " + err.Error())
	}
	o := opts.withDefaults()
	return &state{opts: o, rng: rand.New(rand.NewPCG(o.Seed, o.Seed))}
}

// SetOptions replaces the options atomically, for example to turn a failing
// backend healthy. Requests already in progress keep the options they started
// with. Counters, events and the warm-up start are kept; the random source is
// reseeded from opts.Seed. It panics if opts.Validate reports an error.
func (s *Server) SetOptions(opts Options) {
	s.state.Store(newState(opts))
}

// Options returns the current options with defaults applied (Models, Tokens,
// EmbeddingDim, ErrorRate, Seed and Clock are never zero).
func (s *Server) Options() Options {
	o := s.state.Load().opts
	o.Models = append([]string(nil), o.Models...)
	return o
}

// LastRequest returns the URL path, headers and body of the most recent
// inference request (POST to a /v1 inference endpoint), or zero values if
// there was none. Probes of the model and health endpoints do not replace it.
func (s *Server) LastRequest() (path string, header http.Header, body []byte) {
	l := s.last.Load()
	if l == nil {
		return "", nil, nil
	}
	return l.path, l.header.Clone(), append([]byte(nil), l.body...)
}

// Stats is a snapshot of a Server's counters. Each request ends in exactly
// one of Completed, Cancelled or Errors; each counter is read atomically but
// not all of them together.
type Stats struct {
	Requests  int64 // requests received, on every path
	Completed int64 // requests answered in full with a status below 400
	Cancelled int64 // requests whose client went away before the answer was complete
	Errors    int64 // answered with a status of 400 or more, an error event or an empty stream, or aborted
	InFlight  int64 // requests being handled now
	// ByPath counts received requests per route: the Route constants
	// (RouteModel for every /v1/models/{id}, RouteOther for unknown paths).
	ByPath map[string]int64
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		Requests:  c.requests.Load(),
		Completed: c.completed.Load(),
		Cancelled: c.cancelled.Load(),
		Errors:    c.errors.Load(),
		InFlight:  c.inFlight.Load(),
		ByPath:    make(map[string]int64, len(c.byRoute)),
	}
	for route, n := range c.byRoute {
		if v := n.Load(); v > 0 {
			st.ByPath[route] = v
		}
	}
	return st
}

type counters struct {
	requests, completed, cancelled, errors, inFlight atomic.Int64
	byRoute                                          map[string]*atomic.Int64 // fixed keys; only values change
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventRequest   EventKind = iota + 1 // a request was received (inference: once its body is read)
	EventChunk                          // a content chunk was written and flushed; Event.Chunk is its index
	EventCancelled                      // the client went away before the answer was complete
	EventDone                           // the request ended without cancellation (whatever its status)
)

// String returns the kind's name: "request", "chunk", "cancelled" or "done".
func (k EventKind) String() string {
	switch k {
	case EventRequest:
		return "request"
	case EventChunk:
		return "chunk"
	case EventCancelled:
		return "cancelled"
	case EventDone:
		return "done"
	default:
		return "unknown"
	}
}

// Event is one step of one request, as seen by the Server.
type Event struct {
	Kind   EventKind
	Path   string      // the request's URL path
	Model  string      // the requested model, or "" when unknown
	Time   time.Time   // on Options.Clock
	Chunk  int         // content chunk index (EventChunk only)
	Status int         // the response status, once written (0 before)
	Header http.Header // the request headers; shared by the request's events, do not modify
}

// Events returns the event feed: a channel buffered for 1024 events that is
// never closed. Events are dropped while it is full, so a test should drain
// it or not rely on it under heavy load.
func (s *Server) Events() <-chan Event { return s.events }

func (s *Server) emit(o *Options, x *exchange, kind EventKind, chunk int) {
	e := Event{Kind: kind, Path: x.path, Model: x.model, Time: o.Clock.Now(), Chunk: chunk, Status: x.status, Header: x.header}
	select {
	case s.events <- e:
	default:
	}
}

// exchange is the bookkeeping of one request behind Stats and Events.
type exchange struct {
	path      string
	route     string
	model     string
	header    http.Header // a clone of the request headers
	status    int         // response status once written
	cancelled bool        // the client went away first
	failed    bool        // an error event, an empty stream or an abort
	done      bool        // the handler returned normally
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	o := &st.opts
	var route, id string
	switch o.API {
	case APIAnthropic:
		route, id = matchAnthropic(r.URL.Path)
	case APIGemini:
		route, id = matchGemini(r.URL.Path)
	default:
		route, id = match(r.URL.Path)
	}
	x := &exchange{path: r.URL.Path, route: route, header: r.Header.Clone()}
	s.stats.requests.Add(1)
	s.stats.inFlight.Add(1)
	s.stats.byRoute[route].Add(1)
	defer s.finish(o, x)
	if o.Name != "" {
		w.Header().Set(HeaderBackend, o.Name)
	}
	switch o.API {
	case APIAnthropic:
		s.serveAnthropic(w, r, st, x, route, id)
		x.done = true
		return
	case APIGemini:
		s.serveGemini(w, r, st, x, route, id)
		x.done = true
		return
	}

	switch route {
	case RouteChat, RouteCompletions, RouteEmbeddings:
		if r.Method != http.MethodPost {
			s.emit(o, x, EventRequest, 0)
			methodNotAllowed(w, x, http.MethodPost)
			break
		}
		s.serveInference(r.Context(), w, r, st, x)
	default:
		x.model = id
		s.emit(o, x, EventRequest, 0)
		switch {
		case route == RouteOther:
			writeError(w, x, http.StatusNotFound, "unknown path "+r.URL.Path, "", "not_found")
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			methodNotAllowed(w, x, "GET, HEAD")
		case route == RouteHealth:
			s.serveHealth(w, o, x)
		case !authorized(o, r):
			unauthorized(w, x)
		default:
			s.serveModels(w, o, x, route, id)
		}
	}
	x.done = true
}

// finish counts the outcome of a request and reports it. It runs deferred, so
// it also sees handlers that abort with panic(http.ErrAbortHandler).
func (s *Server) finish(o *Options, x *exchange) {
	kind := EventDone
	switch {
	case x.cancelled:
		s.stats.cancelled.Add(1)
		kind = EventCancelled
	case !x.done || x.failed || x.status >= 400:
		s.stats.errors.Add(1)
	default:
		s.stats.completed.Add(1)
	}
	s.stats.inFlight.Add(-1)
	s.emit(o, x, kind, 0)
}

// match maps a URL path to its route and, for RouteModel, the model id.
func match(path string) (route, id string) {
	switch path {
	case RouteChat, RouteCompletions, RouteEmbeddings, RouteModels, RouteTags, RouteHealth:
		return path, ""
	}
	if id, ok := strings.CutPrefix(path, RouteModels+"/"); ok && id != "" {
		return RouteModel, id // ids may contain slashes, as in "meta-llama/Llama-3.1-8B"
	}
	return RouteOther, ""
}

// warmingUp reports whether the server is still inside Options.WarmupFor.
func (s *Server) warmingUp(o *Options) bool {
	return o.WarmupFor > 0 && o.Clock.Now().Before(s.start.Add(o.WarmupFor))
}

// wait blocks for d on c, or until ctx is done, and then returns ctx.Err().
// A d of 0 or less does not wait.
func wait(ctx context.Context, c clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
