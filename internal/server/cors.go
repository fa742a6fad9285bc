package server

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// exposedHeaders are the response headers a browser page may read.
const exposedHeaders = "X-Request-Id, X-Continuum-Backend, Retry-After, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests"

// cors applies the CORS policy; it answers preflight requests itself and
// then returns true.
func (s *Server) cors(ctx *fasthttp.RequestCtx, c *CORS) bool {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 {
		return false
	}
	allowed, any := false, false
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			allowed, any = true, true
			break
		}
		if strings.EqualFold(o, string(origin)) {
			allowed = true
			break
		}
	}
	h := &ctx.Response.Header
	h.Add("Vary", "Origin")
	if !allowed {
		return false
	}
	if any && !c.AllowCredentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.SetBytesV("Access-Control-Allow-Origin", origin)
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Expose-Headers", exposedHeaders)
	if !ctx.IsOptions() || len(ctx.Request.Header.Peek("Access-Control-Request-Method")) == 0 {
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", strings.Join(c.AllowedMethods, ", "))
	if v := allowHeaders(c.AllowedHeaders, ctx.Request.Header.Peek("Access-Control-Request-Headers")); len(v) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", v)
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(c.MaxAge/time.Second)))
	}
	ctx.SetStatusCode(204)
	return true
}

// allowHeaders returns the Access-Control-Allow-Headers value for a
// preflight that asks for the comma-separated headers requested: those the
// policy allows, as the browser named them. A header left out makes the
// browser refuse the request.
func allowHeaders(allowed []string, requested []byte) []byte {
	var out []byte
	for len(requested) > 0 {
		var name []byte
		name, requested, _ = bytes.Cut(requested, []byte(","))
		name = bytes.TrimSpace(name)
		if len(name) == 0 || !headerAllowed(allowed, name) {
			continue
		}
		if len(out) > 0 {
			out = append(out, ", "...)
		}
		out = append(out, name...)
	}
	return out
}

// headerAllowed reports whether the policy allows a request header.
func headerAllowed(allowed []string, name []byte) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if prefix, ok := strings.CutSuffix(a, "*"); ok {
			if len(name) >= len(prefix) && strings.EqualFold(string(name[:len(prefix)]), prefix) {
				return true
			}
		} else if strings.EqualFold(a, string(name)) {
			return true
		}
	}
	return false
}
