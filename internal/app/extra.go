package app

import (
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/continuumhq/continuum/internal/apidocs"
	"github.com/continuumhq/continuum/internal/config"
)

// buildExtra returns the handler for the listener's non-API paths: the
// metrics endpoint, the OpenAPI document and its page, and the admin API
// when it shares the main listener. It is rebuilt on reload.
func (a *App) buildExtra(cfg *config.Config) func(ctx *fasthttp.RequestCtx) bool {
	metricsPath := ""
	var metricsHandler fasthttp.RequestHandler
	if cfg.Metrics.Enabled {
		metricsPath = cfg.Metrics.Endpoint
		metricsHandler = fasthttpadaptor.NewFastHTTPHandler(a.metrics.Handler(a.registry))
	}
	spec, page := apidocs.Spec(), apidocs.Page()
	var admin fasthttp.RequestHandler
	if !a.adminApart && a.adminHandler != nil {
		admin = fasthttpadaptor.NewFastHTTPHandler(a.adminHandler)
	}
	return func(ctx *fasthttp.RequestCtx) bool {
		path := string(ctx.Path())
		switch {
		case metricsHandler != nil && path == metricsPath:
			metricsHandler(ctx)
		case path == "/openapi.json":
			if ctx.IsGet() || ctx.IsHead() {
				ctx.SetContentType("application/json")
				ctx.SetBody(spec)
			} else {
				ctx.Error("method not allowed", http.StatusMethodNotAllowed)
			}
		case path == "/docs" || path == "/docs/":
			ctx.SetContentType("text/html; charset=utf-8")
			ctx.SetBody(page)
		case admin != nil && (path == "/admin" || strings.HasPrefix(path, "/admin/")):
			admin(ctx)
		default:
			return false
		}
		return true
	}
}

// serveExtra implements server.Deps.Extra with the current handler.
func (a *App) serveExtra(ctx *fasthttp.RequestCtx) bool {
	a.mu.Lock()
	h := a.extra
	a.mu.Unlock()
	return h != nil && h(ctx)
}
