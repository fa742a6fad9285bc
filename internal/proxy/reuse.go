package proxy

import (
	"context"
	"slices"
	"time"

	"github.com/continuumhq/continuum/internal/cache"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/route"
)

// reusable reports whether answers of api may be shared between identical
// calls (when not streamed).
func reusable(api exchange.API) bool {
	switch api {
	case exchange.ChatCompletions, exchange.Completions, exchange.Embeddings, exchange.Responses, exchange.Messages:
		return true
	}
	return false
}

// reuse serves a call that may share an answer: from the store (a cached
// answer, or a deduplicated one within DedupTTL), by joining an identical
// call in flight, or by going upstream and keeping the answer. A call that
// is answered without going upstream never picks a backend.
func (p *Proxy) reuse(ctx context.Context, snap *Snapshot, r *Reuse, req *exchange.Call, res route.Resolution) *exchange.Response {
	rec := req.Record
	cacheable := r.CacheTTL > 0 && cache.Deterministic(req.API, req.Body)
	if !cacheable && !r.Dedup {
		return p.run(ctx, snap, req, res)
	}
	ttl := time.Duration(0)
	if cacheable {
		ttl = r.CacheTTL
	}
	if r.Dedup {
		ttl = max(ttl, r.DedupTTL)
	}
	keep := r.Store != nil && ttl > 0
	key := callKey(snap, req, res)
	// A cacheable call finding an answer is a hit, whoever kept it; any
	// other call can only find an answer kept by deduplication.
	found := cache.Shared
	if cacheable {
		found = cache.Hit
	}
	if keep {
		if e, ok := r.Store.Get(ctx, key); ok {
			return reused(rec, e, found)
		}
	}

	var resp *exchange.Response
	upstream := func(ctx context.Context) *cache.Entry {
		resp = p.run(ctx, snap, req, res)
		e := entryOf(resp, rec)
		if keep && resp.Status >= 200 && resp.Status <= 299 {
			r.Store.Put(ctx, key, e, ttl)
		}
		return e
	}
	if !r.Dedup {
		upstream(ctx)
		return missed(rec, resp)
	}
	waitStart := time.Now()
	e, shared := p.flights.Do(ctx, key, upstream, func() {
		p.log.Debug("waiting for an identical request's answer", "request_id", req.RequestID)
	})
	if !shared {
		return missed(rec, resp)
	}
	rec.Waited += time.Since(waitStart)
	if e == nil { // the client left while waiting
		rec.Cache = cache.Shared
		return cancelled(ctx).response(rec)
	}
	return reused(rec, e, cache.Shared)
}

// callKey identifies identical calls; see Reuse.
func callKey(snap *Snapshot, req *exchange.Call, res route.Resolution) cache.Key {
	if req.API.Anthropic() {
		return cache.KeyOf(req.API, req.Body, res.Model, req.Caller.KeyID, snap.opts.Prompts.Digest(),
			clientHeader(req, "anthropic-version"), clientHeader(req, "anthropic-beta"))
	}
	return cache.KeyOf(req.API, req.Body, res.Model, req.Caller.KeyID, snap.opts.Prompts.Digest())
}

// entryOf keeps an answer to share. The header list is copied: the
// answer's own is changed for its client afterwards; the body is shared.
func entryOf(resp *exchange.Response, rec *exchange.Record) *cache.Entry {
	return &cache.Entry{Status: resp.Status, Header: slices.Clone(resp.Header), Body: resp.Body,
		Backend: resp.Backend, Routed: rec.Routed, ErrorKind: rec.ErrorKind}
}

// missed marks an answer made upstream for a call that could have reused one.
func missed(rec *exchange.Record, resp *exchange.Response) *exchange.Response {
	rec.Cache = cache.Miss
	resp.Header = append(resp.Header, exchange.Field{Name: cache.Header, Value: cache.Miss})
	return resp
}

// reused answers a call with a kept or shared answer. No backend served
// this call: its record names none, and reports no tokens.
func reused(rec *exchange.Record, e *cache.Entry, result string) *exchange.Response {
	rec.Cache = result
	if e.Routed != "" {
		rec.Routed = e.Routed
	}
	rec.ErrorKind = e.ErrorKind
	h := make([]exchange.Field, len(e.Header), len(e.Header)+2)
	copy(h, e.Header)
	h = append(h, exchange.Field{Name: cache.Header, Value: result})
	return &exchange.Response{Status: e.Status, Header: h, Body: e.Body, Backend: e.Backend}
}
