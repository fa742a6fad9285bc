// Package proxy is the request pipeline behind the listener: route → balance
// → resilience → upstream. It is the only package that knows that order.
//
// For each request it resolves the model, picks an available backend with
// the configured policy, takes a breaker permit, sends the request and waits
// for the commit point: the first content event of a stream, or the whole
// body otherwise. Any failure before that point may fail over to another
// backend, within the attempt limit and the retry budget; after it nothing is
// retried, and a failure ends the stream with an SSE error event.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/balance"
	"github.com/continuumhq/continuum/internal/cache"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/prompts"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/route"
	"github.com/continuumhq/continuum/internal/scope"
	"github.com/continuumhq/continuum/internal/translate"
	"github.com/continuumhq/continuum/internal/upstream"
)

// Sender sends requests to one backend. *upstream.Client implements it.
type Sender interface {
	Do(ctx context.Context, req *upstream.Request) (*upstream.Response, error)
	// APIPath is the path of an OpenAI endpoint ("/chat/completions")
	// below the backend's /v1.
	APIPath(endpoint string) string
	// RootPath is a path below the backend's root URL ("/v1/messages").
	RootPath(p string) string
}

// PassiveHealth records the outcome of real requests. *health.Tracker implements it.
type PassiveHealth interface {
	Passive(ok bool)
}

// Observer is told about attempts and retries, for metrics. All methods
// must be cheap and safe for concurrent use.
type Observer interface {
	// AttemptDone reports one finished attempt: its backend, outcome and,
	// for failures, the error kind (a metric label such as "connect").
	AttemptDone(backend string, outcome resilience.Outcome, kind string)
	// Retried reports that a request is tried again after a failure of kind on backend.
	Retried(backend, kind string)
	// BudgetExhausted reports a retry refused by the retry budget.
	BudgetExhausted()
}

// BackendLimit admits attempts to one backend: its own rate limits
// (rate_limiting.limits.per_backend). The application implements it over
// its rate-limit store, so that the proxy needs no limit package.
type BackendLimit interface {
	// Take charges one attempt of c on the backend. When the backend is over
	// its limit it returns ok false, charging nothing, and how long until
	// it may take the attempt. Otherwise charge, when not nil, holds the
	// tokens reserved on the backend's token limit: refunded if the attempt
	// fails before its first token, settled with the call's own otherwise.
	Take(ctx context.Context, c *exchange.Call) (charge exchange.Charge, wait time.Duration, ok bool)
}

// SharedCooldowns shares provider cooldowns (after a 429, or a 503 with
// Retry-After) between the replicas of the router: the limit they signal
// belongs to the upstream account every replica uses.
type SharedCooldowns interface {
	// Until returns when backend's shared cooldown ends; a zero time when
	// it has none. It must not block: it reads a local copy.
	Until(backend string) time.Time
	// Set cools backend down on every replica until the given time. It
	// must not block the request.
	Set(backend string, until time.Time)
}

// RetryPolicy is one backend's retry block: the delay before trying again
// after this backend failed, and whether it may be asked again.
type RetryPolicy struct {
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	Exponential bool
	Jitter      bool
	// SameBackend lets a request that failed on this backend (5xx,
	// connection error, first-token timeout) be retried on it when no
	// other backend can take it. Other backends are always tried first.
	SameBackend bool
}

// Target is one backend as the proxy uses it.
type Target struct {
	Backend *backend.Backend
	Sender  Sender
	// Breaker guards the backend; nil means no breaker.
	Breaker *resilience.Breaker
	// Health receives passive outcomes; nil means none.
	Health PassiveHealth
	// FirstTokenTimeout bounds, per attempt, the wait for the first content
	// event of a stream or for the whole body otherwise. Zero means no limit.
	FirstTokenTimeout time.Duration
	// IdleTimeout bounds the gap between two stream events. Zero means no limit.
	IdleTimeout time.Duration
	// Timeout bounds one attempt on this backend, stream included. Zero means
	// no limit beyond the request's total timeout.
	Timeout time.Duration
	// Retry is the delay policy after this backend failed.
	Retry RetryPolicy
	// Dialect holds the settings of translations to the backend's API.
	Dialect Dialect
	// Limit admits attempts to the backend; nil means the backend has no
	// rate limit of its own.
	Limit BackendLimit
}

// Options configure a Snapshot.
type Options struct {
	// Strategy is the balancing policy name (balance.Canonical). "" means RoundRobin.
	Strategy string
	// Timeout bounds a whole request, retries and stream included. Zero means no limit.
	Timeout time.Duration
	// MaxAttempts bounds attempts per request, the first included. Zero means 3.
	MaxAttempts int
	// Budget bounds retries to a share of traffic; nil means unlimited.
	Budget *resilience.Budget
	// PanicThreshold: when the share of a model's backends whose health
	// allows traffic falls below it, health is ignored for that model and
	// traffic spreads over all of its backends (breakers, cooldowns and
	// drains still apply). When none is healthy, fallback models are tried
	// first. Zero means panic mode only when no backend is healthy; 1 means
	// whenever one is not.
	PanicThreshold float64
	// DefaultCooldown is how long a backend rests after a 429 without a
	// usable Retry-After. Zero means 1s.
	DefaultCooldown time.Duration
	// MaxResponseBytes bounds a non-streaming response body. Zero means 256 MiB.
	MaxResponseBytes int64
	// MaxRetryAfter is the longest Retry-After the router waits out itself
	// when every backend of a request rests after asking for a pause; longer
	// ones are passed to the client at once. Zero means never wait.
	MaxRetryAfter time.Duration
	// ClientWriteTimeout bounds one blocked write of a stream to its client;
	// the request is then ended. Zero means no limit.
	ClientWriteTimeout time.Duration
	// RetryAfterCap caps the Retry-After of the router's own 429 and 503
	// answers (open breakers, resting backends): clients such as the
	// official SDKs sleep that long. Zero means no cap.
	RetryAfterCap time.Duration
	// Seed seeds the policies' and the retry jitter's random sources.
	Seed uint64
	// Prompts holds the system prompts merged into chat, messages and
	// responses requests, per attempt (a backend's prompt depends on the
	// backend picked). Nil means none: requests are forwarded as received.
	Prompts *prompts.Set
	// Reuse lets identical requests share answers. Nil means never.
	Reuse *Reuse
	// Cooldowns shares cooldowns with the other replicas: a backend cooling
	// down on any replica is not picked. Nil means cooldowns stay local.
	Cooldowns SharedCooldowns
}

// Reuse configures how identical requests share answers: request
// deduplication and the response cache. Only non-streaming calls of the
// chat completions, completions, embeddings, responses and messages APIs
// share answers; two calls are identical when their API, routed model,
// caller's key id, body (byte for byte), the prompts' digest and, for
// Anthropic clients, anthropic-version and anthropic-beta are.
type Reuse struct {
	// Dedup makes identical calls that arrive while one of them is being
	// answered wait for that answer instead of going upstream: they get
	// its status, headers and body, failures included.
	Dedup bool
	// DedupTTL is how long, with Dedup, a finished 2xx answer keeps
	// answering identical calls. Zero means only while in flight.
	DedupTTL time.Duration
	// CacheTTL, when positive, caches the 2xx answers of deterministic
	// calls (cache.Deterministic) for this long.
	CacheTTL time.Duration
	// Store keeps finished answers (for CacheTTL and DedupTTL). Nil means
	// none are kept.
	Store cache.Store
}

func (o Options) withDefaults() Options {
	if o.Strategy == "" {
		o.Strategy = balance.RoundRobinName
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.DefaultCooldown <= 0 {
		o.DefaultCooldown = time.Second
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 256 << 20
	}
	return o
}

// Snapshot is an immutable routing state: the table, a policy per model
// group, and the targets. A reload or a change of discovered models builds a
// new Snapshot; requests keep the one they started with.
type Snapshot struct {
	table    *route.Table
	policies []balance.Policy
	targets  map[*backend.Backend]*Target
	opts     Options
}

// NewSnapshot builds a snapshot over table. Every backend in the table must
// have a Target.
func NewSnapshot(table *route.Table, targets []*Target, opts Options) (*Snapshot, error) {
	opts = opts.withDefaults()
	s := &Snapshot{table: table, targets: make(map[*backend.Backend]*Target, len(targets)), opts: opts}
	for _, t := range targets {
		s.targets[t.Backend] = t
	}
	s.policies = make([]balance.Policy, table.Len())
	for i := range s.policies {
		g := table.Group(i)
		for _, b := range g.Backends {
			if s.targets[b] == nil {
				return nil, fmt.Errorf("build routing snapshot: backend %q has no target", b.Name)
			}
		}
		p, err := balance.New(opts.Strategy, g.Backends, opts.Seed+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("build routing snapshot: %w", err)
		}
		s.policies[i] = p
	}
	return s, nil
}

// Proxy forwards requests using the current Snapshot.
type Proxy struct {
	snap     atomic.Pointer[Snapshot]
	clk      clock.Clock
	log      *slog.Logger
	observer Observer
	// discovered is closed when the first model discovery round has
	// finished; until then an unknown model waits for it.
	discovered <-chan struct{}

	mu  sync.Mutex
	rnd *rand.Rand

	states sync.Pool // *forwarding
	// flights holds the deduplicated calls in flight; it outlives
	// snapshots, so a call started before a reload is joined after it.
	flights cache.Group
}

// Config holds a Proxy's fixed collaborators.
type Config struct {
	// Clock drives every timeout and backoff. Nil means the wall clock.
	Clock clock.Clock
	// Logger receives failover and stream error lines. Nil discards them.
	Logger *slog.Logger
	// Observer receives attempt events. Nil means none.
	Observer Observer
	// Discovered, if not nil, is closed once the first model discovery has
	// finished; requests for unknown models wait for it.
	Discovered <-chan struct{}
	// Seed seeds retry jitter.
	Seed uint64
}

// New returns a proxy serving snap.
func New(snap *Snapshot, cfg Config) *Proxy {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	p := &Proxy{clk: cfg.Clock, log: cfg.Logger, observer: cfg.Observer, discovered: cfg.Discovered,
		rnd: rand.New(rand.NewPCG(cfg.Seed, 0x636f6e74696e7575))}
	p.snap.Store(snap)
	return p
}

// Swap installs a new snapshot; requests in flight finish on the old one.
func (p *Proxy) Swap(s *Snapshot) { p.snap.Store(s) }

// Models returns the current model list for GET /v1/models.
func (p *Proxy) Models() []openai.Model { return p.snap.Load().table.Models() }

type nopObserver struct{}

func (nopObserver) AttemptDone(string, resilience.Outcome, string) {}
func (nopObserver) Retried(string, string)                         {}
func (nopObserver) BudgetExhausted()                               {}

// Cancellation causes set by the proxy's own timers.
var (
	errFirstToken  = errors.New("no first token within first_token_timeout")
	errIdle        = errors.New("no stream event within idle_timeout")
	errTotal       = errors.New("request exceeded its total timeout")
	errAttempt     = errors.New("attempt exceeded the backend's request timeout")
	errClientWrite = errors.New("a write to the client blocked longer than server.client_write_timeout")
	errClientGone  = errors.New("client went away")
)

// Forward serves one request and returns the response to write. ctx must be
// cancelled when the client goes away. For a streaming response the request
// is not finished until the returned Stream has been written or closed.
func (p *Proxy) Forward(ctx context.Context, req *exchange.Call) *exchange.Response {
	resp := p.forward(ctx, req)
	if req.API.Anthropic() {
		resp = anthropicAnswer(req, resp)
	}
	return resp
}

// anthropicAnswer gives an answer to an Anthropic client its request-id
// header and, for an error, Anthropic's error envelope (re-rendered when
// the router made it in OpenAI's) with the request id in its body.
func anthropicAnswer(req *exchange.Call, resp *exchange.Response) *exchange.Response {
	resp.Header = append(resp.Header, exchange.Field{Name: "request-id", Value: req.RequestID})
	if resp.Stream != nil || resp.Status < 400 {
		return resp
	}
	if resp.Backend == "" {
		var e openai.ErrorBody
		if json.Unmarshal(resp.Body, &e) == nil && e.Error.Type != "" {
			resp.Status, resp.Body = renderError(req.API, resp.Status, e.Error)
		}
	}
	resp.Body = withRequestID(resp.Body, req.RequestID)
	return resp
}

// withRequestID adds "request_id" to an Anthropic error body that has
// none (Anthropic's own errors carry one; a passed-through one keeps the
// backend's). Any other body is returned as it is.
func withRequestID(body []byte, id string) []byte {
	isError, has := false, false
	err := openai.Members(body, func(m openai.Member) bool {
		switch {
		case m.KeyIs("type"):
			isError = string(body[m.Start:m.End]) == `"error"`
		case m.KeyIs("request_id"):
			has = true
		}
		return true
	})
	if err != nil || !isError || has {
		return body
	}
	end := bytes.LastIndexByte(body, '}')
	quoted, _ := json.Marshal(id)
	out := make([]byte, 0, len(body)+len(quoted)+16)
	out = append(out, body[:end]...)
	out = append(out, `,"request_id":`...)
	out = append(out, quoted...)
	return append(out, body[end:]...)
}

func (p *Proxy) forward(ctx context.Context, req *exchange.Call) *exchange.Response {
	snap := p.snap.Load()
	rec := req.Record
	res, ok := snap.table.Resolve(req.Fields.Model)
	if !ok && p.discovered != nil {
		select {
		case <-p.discovered:
		case <-ctx.Done():
			settle(req, nil, false, 0)
			return cancelled(ctx).response(rec)
		}
		snap = p.snap.Load()
		res, ok = snap.table.Resolve(req.Fields.Model)
	}
	if !ok {
		settle(req, nil, false, 0)
		rec.ErrorKind = "model_not_found"
		return errorResponse(404, openai.ModelNotFound(req.Fields.Model), 0)
	}
	rec.Routed = res.Model
	if !snap.serves(req.API, res) {
		settle(req, nil, false, 0)
		if req.API == exchange.CountTokens {
			return countTokens(req)
		}
		rec.ErrorKind = "unsupported_endpoint"
		return errorResponse(400, openai.NewError(openai.TypeInvalidRequest, "unsupported_endpoint", "model",
			"model `"+req.Fields.Model+"` is not served by any backend that supports "+req.API.String()), 0)
	}

	if r := snap.opts.Reuse; r != nil && !req.Fields.Stream && reusable(req.API) {
		return p.reuse(ctx, snap, r, req, res)
	}
	return p.run(ctx, snap, req, res)
}

// run forwards a routed call: backend by backend until one answers.
func (p *Proxy) run(ctx context.Context, snap *Snapshot, req *exchange.Call, res route.Resolution) *exchange.Response {
	f, _ := p.states.Get().(*forwarding)
	if f == nil {
		f = &forwarding{}
	}
	f.p, f.snap, f.req, f.rec, f.res, f.parent, f.start = p, snap, req, req.Record, res, ctx, p.clk.Now()
	f.reusable = true
	f.tried = f.triedBuf[:0]
	if snap.opts.Timeout > 0 {
		f.deadline = f.start.Add(snap.opts.Timeout)
	}
	f.flt.snap, f.flt.api = snap, req.API
	resp := f.run()
	if resp.Stream == nil {
		// A stream settles its reservations when it ends.
		settle(req, f.charge, f.committed, -1)
		f.release()
	}
	return resp
}

// topUpBlock is how many tokens a stream reserves at a time once it has
// used its reservation (SCALEOUT §2: one block at a time).
const topUpBlock = 256

// settle settles a call's token reservations when the call is over: the
// call's own and backendCharge, its backend's. When no backend's answer
// reached the client (committed false) they are refunded. Otherwise they
// are reconciled to the usage the backend reported or, without one, to the
// prompt estimate plus streamed, the output events a stream relayed
// (streamed < 0: a whole answer without usage keeps its reservation).
func settle(req *exchange.Call, backendCharge exchange.Charge, committed bool, streamed int64) {
	if req.Charge == nil && backendCharge == nil {
		return
	}
	rec := req.Record
	used := int64(-1)
	switch {
	case !committed:
	case rec.HasUsage:
		used = int64(rec.Prompt + rec.Completion)
	case streamed >= 0:
		used = req.Estimate.Prompt + streamed
	}
	for _, c := range [...]exchange.Charge{req.Charge, backendCharge} {
		switch {
		case c == nil:
		case !committed:
			c.Refund()
		case used < 0:
			c.Reconcile(c.Reserved())
		default:
			c.Reconcile(used)
		}
	}
}

// serves reports whether some backend of res can serve a call of api.
func (s *Snapshot) serves(api exchange.API, res route.Resolution) bool {
	for _, g := range res.Groups {
		for _, b := range g.Backends {
			if supports(api, s.targets[b]) {
				return true
			}
		}
	}
	return false
}

// countTokens answers Anthropic's count_tokens without a backend that can:
// an estimate (characters / 4), flagged X-Continuum-Estimated.
func countTokens(req *exchange.Call) *exchange.Response {
	pivot, err := anthropicClient.DecodeRequest(req.Body, translate.ClientOptions{CountTokens: true})
	if err != nil {
		var re *translate.RequestError
		if !errors.As(err, &re) {
			re = &translate.RequestError{Message: err.Error()}
		}
		req.Record.ErrorKind = "invalid_request"
		return errorResponse(400, re.OpenAI(), 0)
	}
	return &exchange.Response{Status: 200, Body: translate.EncodeCountTokens(translate.EstimateTokens(pivot)),
		Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Continuum-Estimated", Value: "true"}}}
}

// release returns the forwarding state to the pool once nothing refers to
// it any more: after a whole answer was returned, or when a stream ended.
// A state whose timer may still fire is left to the garbage collector.
func (f *forwarding) release() {
	if !f.reusable {
		return
	}
	p := f.p
	// The first attempt's timer is stopped (or was never set): it is kept,
	// bound to the same attempt, for the next request.
	timer := f.first.timer
	*f = forwarding{}
	f.first.timer = timer
	p.states.Put(f)
}

// forwarding is the state of one request across its attempts.
type forwarding struct {
	p      *Proxy
	snap   *Snapshot
	req    *exchange.Call
	rec    *exchange.Record
	res    route.Resolution
	parent context.Context // the client's context: cancelled when the client goes away
	start  time.Time       // on the proxy's clock
	// deadline ends the whole request (request.timeout); zero means none.
	deadline time.Time
	// timedOut is set when the deadline passed while waiting to retry.
	timedOut bool
	flt      filter
	// reusable is false once a timer of this request fired, or may still
	// fire: the state is then not returned to the pool.
	reusable bool
	attempts int
	first    attempt // the first attempt, kept here to save an allocation
	triedBuf [4]*backend.Backend
	hdr      [3]upstream.Field
	ureq     upstream.Request

	tried []*backend.Backend
	// again lists backends that failed but may be asked again
	// (retry.same_backend), once no other backend can take the request.
	again  []*backend.Backend
	bodies map[string][]byte // request body per target model (alias and fallback rewrites)
	// prompted holds the request bodies with a system prompt merged in,
	// per target model and prompt (attempts on backends sharing a prompt
	// share the body).
	prompted []promptedBody
	last     *failure
	retries  int

	// charge is the token reservation on the backend of the attempt about
	// to start (taken at its pick) and then of the committed attempt.
	charge exchange.Charge
	// committed is set once an answer was committed to the client.
	committed bool
	// limited lists the backends refused by their own rate limit during
	// this request, and until when.
	limited []limitedBackend
	// overloaded is set by nextAvailable when every candidate rests only
	// because it said it was overloaded (503 with Retry-After, 529), not
	// because of a rate limit: the router then answers 503, not 429.
	overloaded bool
}

// limitedBackend is a backend over its own rate limit.
type limitedBackend struct {
	b     *backend.Backend
	until time.Time
}

func (f *forwarding) run() *exchange.Response {
	opts := f.snap.opts
	if opts.Budget != nil {
		opts.Budget.Request()
	}
	for attempt := 1; ; attempt++ {
		t, permit, group, wait, limited := f.pick()
		if t == nil {
			if limited && f.last != nil && f.last.capacity && attempt <= opts.MaxAttempts && f.shortWait(wait) {
				// Every candidate rests after asking for a pause (429, or
				// 503 with Retry-After) and one is back soon: honour its
				// Retry-After rather than failing. Waiting is not an attempt.
				if !f.sleep(wait) {
					return f.ended(f.last)
				}
				attempt--
				continue
			}
			if f.last != nil {
				return f.last.response(f.rec)
			}
			switch {
			case limited && f.overloaded:
				f.rec.ErrorKind = "backends_overloaded"
				return errorResponse(503, openai.NewError(typeOverloaded, codeOverloaded, "", "every backend for model `"+f.req.Fields.Model+"` is overloaded; retry after the indicated time"), f.capWait(wait))
			case limited:
				f.rec.ErrorKind = "backends_rate_limited"
				return errorResponse(429, openai.ErrorForStatus(429, "every backend for model `"+f.req.Fields.Model+"` is rate limited; retry after the indicated time"), f.capWait(wait))
			}
			f.rec.ErrorKind = "no_backend"
			return noBackend(f.req.Fields.Model, f.capWait(wait))
		}
		f.rec.Attempts = attempt
		f.rec.Backend = t.Backend.Name
		f.rec.Routed = group.Model
		resp, fail := f.attempt(t, permit, group.Model)
		if fail == nil {
			return resp
		}
		f.last = fail
		switch {
		case fail.capacity:
			// A backend that asked for a pause is kept out by its cooldown
			// instead, and may be asked again once it is over.
		case fail.stale:
			// A pooled connection the backend had closed: not the
			// backend's failure; it may be asked again at once.
		case t.Retry.SameBackend && !fail.final:
			f.again = append(f.again, t.Backend)
		default:
			f.tried = append(f.tried, t.Backend)
		}
		if fail.final || f.parent.Err() != nil {
			return fail.response(f.rec)
		}
		if attempt >= opts.MaxAttempts {
			return fail.response(f.rec)
		}
		untried := f.anyUntried()
		if !untried && len(f.again) == 0 && !fail.stale {
			return fail.response(f.rec)
		}
		if opts.Budget != nil && !opts.Budget.TryRetry() {
			f.p.observer.BudgetExhausted()
			f.p.log.Warn("retry budget exhausted", "request_id", f.req.RequestID, "backend", t.Backend.Name, "error", fail.kind)
			return fail.response(f.rec)
		}
		f.retries++
		f.rec.Retries = f.retries
		f.p.observer.Retried(t.Backend.Name, fail.kind)
		f.p.log.Info("failing over", "request_id", f.req.RequestID, "backend", t.Backend.Name, "error", fail.kind, "detail", fail.detail, "attempt", attempt)
		// Asking a backend that just failed again waits for the retry
		// delay even after a refused connection.
		if !fail.immediate || (!untried && !fail.stale) {
			if d := f.p.retryDelay(t.Retry, f.retries); d > 0 && !f.sleep(d) {
				return f.ended(fail)
			}
		}
	}
}

// capWait caps the Retry-After of a router-made answer.
func (f *forwarding) capWait(d time.Duration) time.Duration {
	if c := f.snap.opts.RetryAfterCap; c > 0 && d > c {
		return c
	}
	return d
}

// cancelled is the failure of a request whose context ended: its client
// went away, or the router is shutting down (exchange.ErrShutdown) and the
// client is told so.
func cancelled(ctx context.Context) *failure {
	if errors.Is(scope.Cause(ctx), exchange.ErrShutdown) {
		return &failure{kind: "shutdown", detail: exchange.ErrShutdown.Error(), status: 503, final: true, outcome: resilience.Ignored}
	}
	return &failure{kind: "client_cancel", detail: "client went away", status: 499, final: true, outcome: resilience.Ignored}
}

// shortWait reports whether waiting d for a backend's Retry-After is worth
// it: short (at most MaxRetryAfter) and within the request's deadline.
func (f *forwarding) shortWait(d time.Duration) bool {
	if d <= 0 || d > f.snap.opts.MaxRetryAfter {
		return false
	}
	return f.deadline.IsZero() || f.p.clk.Now().Add(d).Before(f.deadline)
}

// ended answers a request whose client left, or whose total time ran out,
// while it waited to try again.
func (f *forwarding) ended(last *failure) *exchange.Response {
	if f.parent.Err() != nil {
		return cancelled(f.parent).response(f.rec)
	}
	if f.timedOut {
		f.rec.ErrorKind = "timeout_total"
		return routerError(504, errTotal.Error())
	}
	return last.response(f.rec)
}

// sleep waits d on the proxy's clock; it reports false if the request ended first.
func (f *forwarding) sleep(d time.Duration) bool {
	waitStart := time.Now()
	defer func() { f.rec.Waited += time.Since(waitStart) }()
	last := false
	if !f.deadline.IsZero() {
		if rest := f.deadline.Sub(f.p.clk.Now()); rest <= d {
			d, last = rest, true
		}
	}
	timer := f.p.clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		f.timedOut = last
		return !last
	case <-f.parent.Done():
		return false
	}
}

func (p *Proxy) retryDelay(r RetryPolicy, retry int) time.Duration {
	if r.BaseDelay <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return resilience.RetryDelay(retry, r.BaseDelay, r.MaxDelay, r.Exponential, r.Jitter, p.rnd)
}

// filter decides which backends may be picked for one attempt.
type filter struct {
	snap     *Snapshot
	tried    []*backend.Backend
	again    []*backend.Backend // excluded unless allowAgain
	excluded []*backend.Backend
	// allowAgain admits the backends in again (retry.same_backend), once
	// no other backend could be picked.
	allowAgain bool
	// api is the call's: backends that cannot serve it are not available.
	api   exchange.API
	now   time.Time
	panic bool
	// refused lists the backends whose open breaker kept them out of this
	// request, each reported once (continuum_circuit_breaker_rejections_total).
	refused []*backend.Backend
}

// refuse records that b's breaker kept it out of the request, reporting it
// the first time.
func (f *filter) refuse(b *backend.Backend, report bool) {
	for _, x := range f.refused {
		if x == b {
			return
		}
	}
	f.refused = append(f.refused, b)
	if report {
		f.snap.targets[b].Breaker.Reject()
	}
}

// Available implements balance.Filter.
func (f *filter) Available(b *backend.Backend) bool {
	for _, x := range f.tried {
		if x == b {
			return false
		}
	}
	for _, x := range f.excluded {
		if x == b {
			return false
		}
	}
	if !f.allowAgain {
		for _, x := range f.again {
			if x == b {
				return false
			}
		}
	}
	st := b.State
	if st.Drained() || st.CoolingDown(f.now) {
		return false
	}
	if c := f.snap.opts.Cooldowns; c != nil && c.Until(b.Name).After(f.now) {
		return false
	}
	if f.api != exchange.ChatCompletions && !supports(f.api, f.snap.targets[b]) {
		return false
	}
	if !f.panic && !st.Health().Routable() {
		return false
	}
	if t := f.snap.targets[b]; t.Breaker != nil && !t.Breaker.Available() {
		f.refuse(b, true)
		return false
	}
	return true
}

// pick chooses the next backend, group by group (the requested model, then
// its fallbacks). Within a group, backends whose health allows traffic are
// used; when their share of the group's backends is below the panic
// threshold, health is ignored for the group and traffic spreads over all of
// them (panic mode). A group with no healthy backend at all is passed over
// so that the fallback models are tried first, and is then used in panic
// mode. Breakers, cooldowns and drains always apply. When nothing is
// available it returns how long until something may be (for Retry-After),
// and whether every candidate is only resting after a 429 (rate limited).
func (f *forwarding) pick() (*Target, resilience.Permit, route.Group, time.Duration, bool) {
	now := f.p.clk.Now()
	key := f.req.HashKey()
	flt := &f.flt
	flt.tried, flt.again, flt.now, flt.allowAgain = f.tried, f.again, now, false
	if t, permit, g, ok := f.pickFrom(flt, key); ok {
		return t, permit, g, 0, false
	}
	if len(f.again) > 0 {
		flt.allowAgain = true
		if t, permit, g, ok := f.pickFrom(flt, key); ok {
			return t, permit, g, 0, false
		}
	}
	wait, limited := f.nextAvailable(now)
	return nil, resilience.Permit{}, route.Group{}, wait, limited
}

// pickFrom runs the policy over the request's groups with flt.
func (f *forwarding) pickFrom(flt *filter, key string) (*Target, resilience.Permit, route.Group, bool) {
	for pass := 0; pass < 2; pass++ {
		for i, g := range f.res.Groups {
			if i > 0 && !f.req.ModelAllowed(g.Model) {
				continue
			}
			healthy, total := groupHealth(g)
			switch {
			case total == 0: // every backend drained
				continue
			case healthy == 0:
				if pass == 0 {
					continue // fallback models first
				}
				flt.panic = true
			case pass == 1:
				continue // already tried with health in the first pass
			default:
				flt.panic = float64(healthy)/float64(total) < f.snap.opts.PanicThreshold
			}
			flt.excluded = flt.excluded[:0]
			policy := f.snap.policies[g.Index]
			for range g.Backends {
				b := policy.Pick(flt, key)
				if b == nil {
					break
				}
				t := f.snap.targets[b]
				if t.Limit != nil {
					charge, wait, ok := t.Limit.Take(f.parent, f.req)
					if !ok {
						// Over its own limit: kept out like a backend
						// resting after a 429.
						f.limited = append(f.limited, limitedBackend{b, flt.now.Add(wait)})
						flt.excluded = append(flt.excluded, b)
						continue
					}
					f.charge = charge
				}
				if t.Breaker == nil {
					return t, resilience.Permit{}, g, true
				}
				if permit, ok := t.Breaker.Allow(); ok {
					return t, permit, g, true
				}
				if f.charge != nil {
					f.charge.Refund()
					f.charge = nil
				}
				flt.refuse(b, false) // Allow reported it
				flt.excluded = append(flt.excluded, b)
			}
		}
	}
	return nil, resilience.Permit{}, route.Group{}, false
}

// groupHealth counts a group's backends that are not drained, and those of
// them whose health allows traffic.
func groupHealth(g route.Group) (healthy, total int) {
	for _, b := range g.Backends {
		if b.State.Drained() {
			continue
		}
		total++
		if b.State.Health().Routable() {
			healthy++
		}
	}
	return healthy, total
}

// anyUntried reports whether some backend has not failed this request yet
// (backends resting after a 429 count as not tried).
func (f *forwarding) anyUntried() bool {
	for _, g := range f.res.Groups {
		for _, b := range g.Backends {
			if !slices.Contains(f.tried, b) && !slices.Contains(f.again, b) {
				return true
			}
		}
	}
	return false
}

// nextAvailable estimates when a backend of the request's groups may take
// traffic again: the earliest end of an open breaker or a cooldown. limited
// reports whether every candidate that is not drained is cooling down after
// a 429 and nothing else keeps it out.
func (f *forwarding) nextAvailable(now time.Time) (wait time.Duration, limited bool) {
	best := time.Duration(math.MaxInt64)
	limited = true
	rateLimited := false // some candidate rests for a rate limit, not overload
	seen := 0
	for _, g := range f.res.Groups {
		for _, b := range g.Backends {
			if b.State.Drained() {
				continue
			}
			seen++
			cooling, overloaded := false, false
			if until := b.State.CooldownUntil(); until.After(now) {
				best = min(best, until.Sub(now))
				cooling, overloaded = true, b.State.CooldownOverloaded()
				rateLimited = rateLimited || !overloaded
			}
			if c := f.snap.opts.Cooldowns; c != nil {
				// Another replica's cooldown does not say why: a rate limit,
				// unless this replica saw the backend overloaded itself.
				if until := c.Until(b.Name); until.After(now) {
					best = min(best, until.Sub(now))
					cooling = true
					rateLimited = rateLimited || !overloaded
				}
			}
			for _, l := range f.limited {
				if l.b == b && l.until.After(now) {
					best = min(best, l.until.Sub(now))
					cooling = true
					rateLimited = true
				}
			}
			if t := f.snap.targets[b]; t.Breaker != nil {
				if until := t.Breaker.OpenUntil(); until.After(now) {
					best = min(best, until.Sub(now))
					cooling = false
				}
			}
			if !cooling {
				limited = false
			}
		}
	}
	if best == time.Duration(math.MaxInt64) {
		best = 0
	}
	f.overloaded = limited && seen > 0 && !rateLimited
	return best, limited && seen > 0
}

// body returns the request body for a target model, rewriting the model
// field when it differs from the requested one (alias or fallback).
func (f *forwarding) body(model string) []byte {
	if model == f.req.Fields.Model {
		return f.req.Body
	}
	if b, ok := f.bodies[model]; ok {
		return b
	}
	if f.bodies == nil {
		f.bodies = map[string][]byte{}
	}
	b := f.req.Fields.RewriteModel(f.req.Body, model)
	f.bodies[model] = b
	return b
}
