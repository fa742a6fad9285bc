package app

import (
	"context"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/limit"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/proxy"
	"github.com/continuumhq/continuum/internal/tokens"
)

// This file turns the rate_limiting configuration into the limits of each
// call: one batch of limit.Items per call, taken from the store all or
// nothing at admission (global, key, client, model; their token limits
// reserve an estimate), and a backend's own limits taken when the proxy
// picks it.

// Scopes of the limit items: the failure policy of each (see
// rate_limiting.failure_policies), the scope label of
// continuum_rate_limited_total, and the error kind rate_limited_<scope>.
const (
	scopeGlobal  = limit.ScopeGlobal
	scopeKey     = limit.ScopeAPIKey
	scopeClient  = limit.ScopeClient
	scopeModel   = "model"
	scopeBackend = "backend"
	// tokenSuffix turns a scope into its token limit's: api_key_tokens.
	tokenSuffix = "_tokens"
)

// spec is one level's limits: requests and tokens, each unlimited when its
// rate is 0.
type spec struct {
	rate       float64 // requests per second
	burst      int64   // 0: ceil(rate)
	tokenRate  float64 // tokens per second
	tokenBurst int64
}

// specOf compiles a configured rate. A token burst of 0 is a minute's worth.
func specOf(r config.RateSpec) spec {
	s := spec{rate: max(0, r.RequestsPerSecond), burst: int64(r.BurstCapacity)}
	if r.TokensPerMinute > 0 {
		s.tokenRate = r.TokensPerMinute / 60
		s.tokenBurst = int64(r.TokenBurst)
		if s.tokenBurst <= 0 {
			s.tokenBurst = int64(math.Ceil(r.TokensPerMinute))
		}
	}
	return s
}

func (s spec) limited() bool { return s.rate > 0 || s.tokenRate > 0 }

// over returns s with each of its limits replaced by o's when o sets it:
// an API key's own rate_limit over per_api_key.
func (s spec) over(o spec) spec {
	if o.rate > 0 {
		s.rate, s.burst = o.rate, o.burst
	}
	if o.tokenRate > 0 {
		s.tokenRate, s.tokenBurst = o.tokenRate, o.tokenBurst
	}
	return s
}

// named is a spec with its bucket names.
type named struct {
	spec
	requests, tokens string // bucket keys
}

func newNamed(s spec, bucket string) named {
	return named{spec: s, requests: bucket, tokens: "tokens:" + bucket}
}

// rateLimits is the rate_limiting configuration compiled for admission. It
// is immutable; a reload compiles a new one over the same store, so buckets
// keep their state (a bucket whose rate changed keeps its tokens up to its
// new burst).
type rateLimits struct {
	store                     limit.Store
	global, perKey, perClient spec
	keys                      map[string]named // each key's limits (its own over per_api_key), by key id
	models                    map[string]named // per_model by name (after aliases)
	anyModel                  spec             // per_model["*"]
	aliases                   map[string]string
	whitelist                 []netip.Prefix
	bypass                    map[string]struct{}
	// tokenLimits is set when some level limits tokens: admission then
	// estimates each call's tokens.
	tokenLimits   bool
	defaultOutput int64
	counter       *tokens.Counter
}

// compileLimits compiles cfg's limits over store; nil when nothing at the
// admission levels is limited (per_backend limits live in the targets).
func compileLimits(cfg *config.Config, store limit.Store, counter *tokens.Counter) (*rateLimits, error) {
	rl := cfg.RateLimiting
	l := &rateLimits{
		store:         store,
		keys:          map[string]named{},
		aliases:       cfg.ModelAliases,
		defaultOutput: int64(max(0, rl.DefaultOutputTokens)),
		counter:       counter,
	}
	any := false
	if rl.Enabled {
		l.global = specOf(rl.Limits.Global)
		l.perKey = specOf(rl.Limits.PerAPIKey)
		l.perClient = specOf(rl.Limits.PerClient)
		l.models = map[string]named{}
		for name, r := range rl.Limits.PerModel {
			if name == "*" {
				l.anyModel = specOf(r)
				continue
			}
			l.models[name] = newNamed(specOf(r), "model:"+name)
		}
		for _, w := range rl.Whitelist {
			pfx, err := parsePrefix(w)
			if err != nil {
				return nil, err
			}
			l.whitelist = append(l.whitelist, pfx)
		}
		// bypass_keys may name a key by its value or by its id.
		l.bypass = map[string]struct{}{}
		for _, b := range rl.BypassKeys {
			id := b
			for _, k := range cfg.APIKeys.Keys {
				if k.Key == b {
					id = k.ID
				}
			}
			l.bypass[id] = struct{}{}
		}
		any = l.global.limited() || l.perKey.limited() || l.perClient.limited() || l.anyModel.limited() || len(l.models) > 0
	}
	for _, k := range cfg.APIKeys.Keys {
		s := l.perKey.over(specOf(k.RateLimit))
		if s.limited() {
			l.keys[k.ID] = newNamed(s, "key:"+k.ID)
			any = true
		}
	}
	if !any {
		return nil, nil
	}
	for _, s := range []spec{l.global, l.perKey, l.perClient, l.anyModel} {
		l.tokenLimits = l.tokenLimits || s.tokenRate > 0
	}
	for _, n := range l.keys {
		l.tokenLimits = l.tokenLimits || n.tokenRate > 0
	}
	for _, n := range l.models {
		l.tokenLimits = l.tokenLimits || n.tokenRate > 0
	}
	return l, nil
}

// bypassed reports whether a call skips every admission limit: a bypass
// key, or a whitelisted client address.
func (l *rateLimits) bypassed(keyID string, addr netip.Addr) bool {
	if _, ok := l.bypass[keyID]; ok && keyID != "" {
		return true
	}
	if addr.IsValid() && len(l.whitelist) > 0 {
		addr = addr.Unmap().WithZone("")
		for _, p := range l.whitelist {
			if p.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// batch is the items of one call; it lives on the caller's stack.
type batch struct {
	items  [10]limit.Item
	n      int
	tokens bool // some item is a token limit (Cost 0: charged the estimate)
}

// add appends s's limits on its buckets.
func (b *batch) add(s spec, requests, tokens, scope string, withTokens bool) {
	if s.rate > 0 {
		b.items[b.n] = limit.Item{Key: requests, Scope: scope, Rate: s.rate, Burst: s.burst, Cost: 1}
		b.n++
	}
	if s.tokenRate > 0 && withTokens {
		b.items[b.n] = limit.Item{Key: tokens, Scope: scope + tokenSuffix, Rate: s.tokenRate, Burst: s.tokenBurst}
		b.n++
		b.tokens = true
	}
}

// rateLimit applies the admission limits to an inference call, in one
// all-or-nothing take from the store: global, the key's (its own
// rate_limit over per_api_key), the client address's and the model's, each
// with its token limit. Token limits reserve the call's estimated tokens
// (exchange.Call.Charge), which the proxy settles when the call ends.
// Limited answers carry OpenAI's x-ratelimit headers of the tightest limit;
// refusals are 429 with a Retry-After capped by server.max_retry_after, or
// 503 when Redis cannot decide and the limit's failure policy is deny.
func (a *App) rateLimit(ctx context.Context, c *exchange.Call) error {
	l := a.guard.limits.Load()
	if l == nil || !c.API.Inference() || l.bypassed(c.Caller.KeyID, c.ClientIP) {
		return nil
	}
	withTokens := l.tokenLimits && c.API != exchange.CountTokens
	var b batch
	b.add(l.global, "global", "tokens:global", scopeGlobal, withTokens)
	if c.Caller.KeyID != "" {
		if k, ok := l.keys[c.Caller.KeyID]; ok {
			b.add(k.spec, k.requests, k.tokens, scopeKey, withTokens)
		} else if l.perKey.limited() {
			bucket := "key:" + c.Caller.KeyID
			b.add(l.perKey, bucket, "tokens:"+bucket, scopeKey, withTokens)
		}
	}
	if l.perClient.limited() && c.ClientIP.IsValid() {
		bucket := "client:" + c.ClientIP.Unmap().WithZone("").String()
		b.add(l.perClient, bucket, "tokens:"+bucket, scopeClient, withTokens)
	}
	if model := c.Fields.Model; model != "" && (len(l.models) > 0 || l.anyModel.limited()) {
		if to, ok := l.aliases[model]; ok {
			model = to
		}
		if m, ok := l.models[model]; ok {
			b.add(m.spec, m.requests, m.tokens, scopeModel, withTokens)
		} else if l.anyModel.limited() {
			bucket := "model:" + model
			b.add(l.anyModel, bucket, "tokens:"+bucket, scopeModel, withTokens)
		}
	}
	if b.n == 0 {
		return nil
	}
	items := b.items[:b.n]
	var (
		res limit.Result
		err error
	)
	if b.tokens {
		c.Estimate = l.estimate(c)
		var r *limit.Reservation
		r, res, err = limit.Reserve(ctx, l.store, items, c.Estimate.Total())
		if r != nil {
			c.Charge = (*charge)(r)
		}
	} else {
		res, err = l.store.Take(ctx, items)
	}
	if err != nil {
		return &exchange.Refusal{Status: 503, Type: openai.TypeServer, Code: limitUnavailable, Kind: limitUnavailable,
			Message: "the rate limits could not be checked; retry shortly", Header: []exchange.Field{exchange.RetryAfter(time.Second)}}
	}
	if res.Index >= 0 {
		c.ResponseHeader = appendRateHeaders(c.ResponseHeader, items[res.Index].Scope, res)
	}
	if res.Allowed {
		return nil
	}
	scope := items[res.Denied].Scope
	if res.Source == limit.SourceDeny {
		return &exchange.Refusal{Status: 503, Type: openai.TypeServer, Code: limitUnavailable, Kind: limitUnavailable,
			Message: "the shared rate limits are unavailable (" + scope + "); retry after the time in the Retry-After header",
			Header:  []exchange.Field{exchange.RetryAfter(a.capRetryAfter(res.RetryAfter))}}
	}
	return &exchange.Refusal{Status: 429, Type: openai.TypeRateLimit, Code: openai.CodeRateLimit,
		Message: "rate limit exceeded (" + scope + "); retry after the time in the Retry-After header",
		Kind:    "rate_limited_" + scope, Header: []exchange.Field{exchange.RetryAfter(a.capRetryAfter(res.RetryAfter))}}
}

// limitUnavailable is the error code and kind of a call refused because
// the shared limits could not decide and the deny policy applies.
const limitUnavailable = "rate_limit_unavailable"

// capRetryAfter caps a rate limit's Retry-After at server.max_retry_after.
func (a *App) capRetryAfter(wait time.Duration) time.Duration {
	if cap := time.Duration(a.guard.retryAfterCap.Load()); cap > 0 && wait > cap {
		return cap
	}
	return wait
}

// appendRateHeaders adds OpenAI's x-ratelimit headers describing res: the
// -requests ones for a request limit, the -tokens ones for a token limit.
func appendRateHeaders(h []exchange.Field, scope string, res limit.Result) []exchange.Field {
	limitName, remaining, reset := "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"
	if strings.HasSuffix(scope, tokenSuffix) {
		limitName, remaining, reset = "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"
	}
	return append(h,
		exchange.Field{Name: limitName, Value: strconv.FormatInt(res.Limit, 10)},
		exchange.Field{Name: remaining, Value: strconv.FormatInt(res.Remaining, 10)},
		exchange.Field{Name: reset, Value: formatReset(res.Reset)})
}

// estimate estimates a call's tokens: the prompt, from the tokenizer of an
// OpenAI chat body of at most 64 KiB (other models, larger bodies and other
// APIs at one token per three bytes of the body), and the most output it
// may produce (its max_tokens,
// max_completion_tokens or max_output_tokens, else default_output_tokens;
// none for embeddings).
func (l *rateLimits) estimate(c *exchange.Call) exchange.Estimate {
	return estimateCall(c, l.counter, l.defaultOutput)
}

// maxTokenized is the largest body whose prompt is counted with a
// tokenizer (about 6 ms of CPU); larger ones are estimated at one token per
// three bytes, which errs high and costs nothing, so that a huge prompt
// cannot make admission expensive.
const maxTokenized = 64 << 10

func estimateCall(c *exchange.Call, counter *tokens.Counter, defaultOutput int64) exchange.Estimate {
	var prompt, out int
	ok := false
	if c.API == exchange.ChatCompletions && len(c.Body) <= maxTokenized {
		prompt, out, ok = counter.EstimateChat(c.Fields.Model, c.Body)
	}
	if !ok {
		prompt, out = (len(c.Body)+2)/3, maxOutput(c.Body)
	}
	e := exchange.Estimate{Prompt: int64(prompt), Output: int64(out)}
	switch {
	case c.API == exchange.Embeddings:
		e.Output = 0
	case e.Output <= 0:
		e.Output = defaultOutput
	}
	return e
}

// maxOutput reads the output cap of a request body: the largest of
// max_tokens, max_completion_tokens and max_output_tokens (0 when none).
func maxOutput(body []byte) int {
	n := 0
	_ = openai.Members(body, func(m openai.Member) bool {
		if m.KeyIs("max_tokens") || m.KeyIs("max_completion_tokens") || m.KeyIs("max_output_tokens") {
			if v, err := strconv.Atoi(string(body[m.Start:m.End])); err == nil {
				n = max(n, v)
			}
		}
		return true
	})
	return n
}

// charge is a token reservation as the proxy settles it (exchange.Charge).
// Its store never fails but for a cancelled context (Resilient decides by
// policy; MemoryStore cannot fail), so the settlements use no deadline of
// their own beyond the store's.
type charge limit.Reservation

var _ exchange.Charge = (*charge)(nil)

func (c *charge) r() *limit.Reservation { return (*limit.Reservation)(c) }

// Reserved implements exchange.Charge.
func (c *charge) Reserved() int64 { return c.r().Reserved() }

// TopUp implements exchange.Charge.
func (c *charge) TopUp(n int64) bool { return c.r().TopUp(context.Background(), n) }

// Reconcile implements exchange.Charge.
func (c *charge) Reconcile(used int64) { _ = c.r().Reconcile(context.Background(), used) }

// Refund implements exchange.Charge.
func (c *charge) Refund() { _ = c.r().Refund(context.Background()) }

// backendLimit applies a backend's own limits (rate_limiting.limits.per_backend)
// when the proxy picks it: one request per attempt, and its token limit
// reserving the call's estimate.
type backendLimit struct {
	store         limit.Store
	limits        named
	counter       *tokens.Counter
	defaultOutput int64
}

var _ proxy.BackendLimit = (*backendLimit)(nil)

// newBackendLimit returns the limit of the backend called name, nil when it
// has none.
func newBackendLimit(cfg *config.Config, name string, store limit.Store, counter *tokens.Counter) *backendLimit {
	rl := cfg.RateLimiting
	if !rl.Enabled || store == nil {
		return nil
	}
	r, ok := rl.Limits.PerBackend[name]
	if !ok {
		r = rl.Limits.PerBackend["*"]
	}
	s := specOf(r)
	if !s.limited() {
		return nil
	}
	return &backendLimit{store: store, limits: newNamed(s, "backend:"+name), counter: counter, defaultOutput: int64(max(0, rl.DefaultOutputTokens))}
}

// Take implements proxy.BackendLimit. A check the store cannot make (the
// call's context ended) admits: the call is over anyway.
func (b *backendLimit) Take(ctx context.Context, c *exchange.Call) (exchange.Charge, time.Duration, bool) {
	var bt batch
	bt.add(b.limits.spec, b.limits.requests, b.limits.tokens, scopeBackend, c.API != exchange.CountTokens)
	items := bt.items[:bt.n]
	if !bt.tokens {
		res, err := b.store.Take(ctx, items)
		return nil, res.RetryAfter, err != nil || res.Allowed
	}
	if c.Estimate == (exchange.Estimate{}) {
		c.Estimate = estimateCall(c, b.counter, b.defaultOutput)
	}
	r, res, err := limit.Reserve(ctx, b.store, items, c.Estimate.Total())
	if r == nil {
		return nil, res.RetryAfter, err != nil
	}
	return (*charge)(r), 0, true
}
