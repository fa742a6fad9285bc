package app

import (
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/continuumhq/continuum/internal/apidocs"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/server"
)

// metricsOnAdmin reports whether cfg's metrics are served on the admin
// API's own listener. That needs the listener, which exists only when the
// router started with admin.bind_address set.
func (a *App) metricsOnAdmin(cfg *config.Config) bool {
	return cfg.Metrics.Enabled && cfg.Metrics.Listener == config.MetricsOnAdmin && a.adminApart
}

// buildExtra returns the handler for the listener's non-API paths: the
// metrics endpoint (unless metrics are on the admin listener), the OpenAPI
// document and its page, and the admin API and the dashboard when they
// share the main listener; and the metrics path served on the admin listener ("" for
// none). It is part of the runtime a reload replaces.
func (a *App) buildExtra(cfg *config.Config) (func(ctx *fasthttp.RequestCtx) bool, string) {
	metricsPath, adminMetricsPath := "", ""
	var metricsHandler fasthttp.RequestHandler
	switch {
	case a.metricsOnAdmin(cfg):
		adminMetricsPath = cfg.Metrics.Endpoint
	case cfg.Metrics.Enabled:
		metricsPath = cfg.Metrics.Endpoint
		metricsHandler = fasthttpadaptor.NewFastHTTPHandler(a.metricsHTTP)
	}
	spec, page := apidocs.Spec(), apidocs.Page()
	var admin, dashboard fasthttp.RequestHandler
	if !a.adminApart && a.adminHandler != nil {
		admin = fasthttpadaptor.NewFastHTTPHandler(a.adminHandler)
		dashboard = fasthttpadaptor.NewFastHTTPHandler(a.uiHandler)
	}
	return func(ctx *fasthttp.RequestCtx) bool {
		path := string(ctx.Path())
		switch {
		case metricsHandler != nil && path == metricsPath:
			if getOnly(ctx) {
				metricsHandler(ctx)
			}
		case path == "/openapi.json":
			if getOnly(ctx) {
				ctx.SetContentType("application/json")
				ctx.SetBody(spec)
			}
		case path == "/docs" || path == "/docs/":
			if getOnly(ctx) {
				ctx.SetContentType("text/html; charset=utf-8")
				ctx.SetBody(page)
			}
		case admin != nil && (path == "/admin" || strings.HasPrefix(path, "/admin/")):
			admin(ctx)
		case dashboard != nil && isUIPath(path):
			dashboard(ctx)
		default:
			return false
		}
		return true
	}, adminMetricsPath
}

// serveExtra implements server.Deps.Extra with the current handler.
func (a *App) serveExtra(ctx *fasthttp.RequestCtx) bool {
	h := a.rt.Load().extra
	return h != nil && h(ctx)
}

// serveAdminListener serves the admin API's own listener: the metrics
// endpoint when metrics.listener is admin (without admin authentication:
// scrapers rarely send credentials, and this listener is private), the
// dashboard under /ui, and the admin API for everything else.
func (a *App) serveAdminListener(w http.ResponseWriter, r *http.Request) {
	path := a.rt.Load().adminMetrics
	if path != "" && r.URL.Path == path {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			w.Write(methodNotAllowed().JSON())
			return
		}
		a.metricsHTTP.ServeHTTP(w, r)
		return
	}
	if isUIPath(r.URL.Path) {
		a.uiHandler.ServeHTTP(w, r)
		return
	}
	a.adminHandler.ServeHTTP(w, r)
}

// isUIPath reports whether path is the dashboard's: /ui or below it.
func isUIPath(path string) bool { return path == "/ui" || strings.HasPrefix(path, "/ui/") }

// methodNotAllowed returns the error of a request to a GET-only page
// (metrics, the OpenAPI document) with another method.
func methodNotAllowed() openai.Error {
	return openai.ErrorForStatus(http.StatusMethodNotAllowed, "method not allowed here; use GET")
}

// getOnly reports whether the request is a GET or HEAD; otherwise it
// answers 405 in the OpenAI error envelope, with Allow.
func getOnly(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	ctx.SetStatusCode(http.StatusMethodNotAllowed)
	ctx.SetContentType("application/json")
	ctx.SetBody(methodNotAllowed().JSON())
	return false
}

// withRequestID gives every answer of the admin API's own listener an
// X-Request-Id, by the main listener's rules: the client's when it is
// valid (server.ValidRequestID), else a new one.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !server.ValidRequestID(id) {
			id = server.NewRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r)
	})
}
