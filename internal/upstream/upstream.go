// Package upstream sends requests to backends: one Client per backend, built
// for the backend's type (its paths, discovery and authentication), over a
// pooled HTTP/1.1 connection for http:// URLs or net/http for https:// URLs.
package upstream

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
)

// Field is one HTTP header field.
type Field struct{ Name, Value string }

// Header is an ordered list of header fields.
type Header []Field

// Get returns the first value of the named field (case-insensitive), or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether the named field is present.
func (h Header) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Request is one attempt's outgoing request.
type Request struct {
	// Method is the HTTP method; "" means POST.
	Method string
	// Path is the path (and query) below the backend's URL, e.g. "/v1/chat/completions".
	Path string
	// Header holds the fields the router sets (content type, request id…).
	// Authorization for the backend is added by the Client.
	Header Header
	// Forward is the client's own header block as received ("Name: value"
	// lines, CRLF or LF terminated). Its fields are passed on, except
	// hop-by-hop fields, those named in its Connection field, those the
	// router sets itself (see Forwardable) and those in Header.
	Forward []byte
	// Body is sent with a Content-Length.
	Body []byte
}

// Response is a backend's answer. Body must be closed.
type Response struct {
	Status int
	Header Header
	Body   io.ReadCloser
}

// transport sends one request; it is implemented by the pooled HTTP/1.1
// client and by the net/http adapter.
type transport interface {
	roundTrip(ctx context.Context, req *Request, auth Header) (*Response, error)
	closeIdle()
	// retire closes idle connections and makes connections in use close
	// when their request ends instead of returning to the pool.
	retire()
}

// ErrorKind says where sending failed. It is used as a metric label.
type ErrorKind string

// Error kinds.
const (
	KindConnect  ErrorKind = "connect"  // could not connect; nothing was sent
	KindWrite    ErrorKind = "write"    // connection failed while sending the request
	KindRead     ErrorKind = "read"     // connection failed before or while reading the response
	KindProtocol ErrorKind = "protocol" // the backend's answer was not valid HTTP/1.1
)

// Error is a transport failure talking to a backend.
type Error struct {
	Kind ErrorKind
	Err  error
	// Stale reports that the request went out on a pooled connection that
	// had served earlier requests, and the connection failed before any
	// byte of the answer: most likely the backend had closed it while it
	// was idle. The request was written, so it is not sent again here;
	// whether to retry is the caller's decision.
	Stale bool
}

func (e *Error) Error() string { return fmt.Sprintf("upstream %s: %v", e.Kind, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// IsStale reports whether err is an *Error with Stale set.
func IsStale(err error) bool {
	var ue *Error
	return errors.As(err, &ue) && ue.Stale
}

// KindOf returns the kind of a transport error, or "" for other errors.
func KindOf(err error) ErrorKind {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Kind
	}
	return ""
}

// Options configure a Client.
type Options struct {
	// ConnectTimeout bounds connection setup. Zero means no limit beyond the
	// operating system's own.
	ConnectTimeout time.Duration
	// MaxIdle is the number of idle connections kept for reuse. Zero means 100.
	MaxIdle int
	// IdleTimeout closes connections idle longer than this. Zero means 90s.
	IdleTimeout time.Duration
	// Now returns the current time for idle bookkeeping; nil means time.Now.
	Now func() time.Time
	// TLSConfig is used for https:// backends; nil means Go's defaults
	// (system roots).
	TLSConfig *tls.Config
	// AnthropicVersion is the anthropic-version sent to a type anthropic
	// backend with requests that carry none. Zero means "2023-06-01".
	AnthropicVersion string
	// GeminiOpenAI calls a type gemini backend through its OpenAI-compatible
	// endpoint (bearer key) instead of natively (x-goog-api-key).
	GeminiOpenAI bool
}

// DefaultAnthropicVersion is the anthropic-version used when none is set.
const DefaultAnthropicVersion = "2023-06-01"

func (o Options) withDefaults() Options {
	if o.MaxIdle <= 0 {
		o.MaxIdle = 100
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 90 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Client sends requests to one backend. It knows the backend type's paths
// and authentication. It is safe for concurrent use.
type Client struct {
	tr    transport
	typ   backend.Type
	root  string // URL path prefix without a trailing "/v1"
	auth  Header
	paths map[string]string // APIPath results for the common endpoints
	// version is a type anthropic backend's default anthropic-version.
	version string
	// geminiKey authenticates a type gemini backend's native model listing.
	geminiKey string
}

// New returns a Client for b: a pooled HTTP/1.1 client for http:// URLs and
// a net/http client (HTTP/2 capable) for https:// URLs. Requests carry the
// backend's bearer key, or, when it has none and b.URL holds user
// information (http://user:password@host), that user and password as HTTP
// basic authentication; and, when orgID is set, the OpenAI-Organization
// header. The user information is never part of the request's URL.
func New(b *backend.Backend, orgID string, opts Options) (*Client, error) {
	u, err := url.Parse(b.URL)
	if err != nil {
		// url.Parse's error quotes the URL, which may hold a password.
		return nil, fmt.Errorf("backend %s: the url does not parse", b.Name)
	}
	c := &Client{typ: b.Type}
	switch {
	case b.APIKey != "" && b.Type == backend.Anthropic:
		c.auth = append(c.auth, Field{"x-api-key", b.APIKey})
	case b.APIKey != "" && b.Type == backend.Gemini && !opts.GeminiOpenAI:
		c.auth = append(c.auth, Field{"x-goog-api-key", b.APIKey})
	case b.APIKey != "":
		c.auth = append(c.auth, Field{"Authorization", "Bearer " + b.APIKey})
	case u.User != nil:
		password, _ := u.User.Password()
		credentials := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + password))
		c.auth = append(c.auth, Field{"Authorization", "Basic " + credentials})
	}
	if orgID != "" {
		c.auth = append(c.auth, Field{"OpenAI-Organization", orgID})
	}
	if b.Type == backend.Anthropic {
		c.version = opts.AnthropicVersion
		if c.version == "" {
			c.version = DefaultAnthropicVersion
		}
	}
	if b.Type == backend.Gemini && opts.GeminiOpenAI {
		c.geminiKey = b.APIKey
	}
	c.root = strings.TrimSuffix(strings.TrimSuffix(u.EscapedPath(), "/"), "/v1")
	c.paths = map[string]string{}
	for _, ep := range []string{"/chat/completions", "/completions", "/embeddings", "/models"} {
		c.paths[ep] = c.root + "/v1" + ep
	}
	opts = opts.withDefaults()
	switch u.Scheme {
	case "http":
		c.tr = newHTTP1(u.Host, opts)
	case "https":
		c.tr = newStd(u.Scheme+"://"+u.Host, opts)
	default:
		return nil, fmt.Errorf("backend %s: unsupported url scheme %q", b.Name, u.Scheme)
	}
	return c, nil
}

// Do sends req and returns once the response head has arrived; the body is
// read as it arrives. Cancelling ctx aborts the request at any point,
// including while its body is being read, and closes the connection; the
// error then is ctx's cause (scope.Cause). A type anthropic backend gets the
// client's default anthropic-version when req sets none.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	if c.version != "" && !req.Header.Has("anthropic-version") {
		r := *req
		r.Header = append(append(Header(nil), req.Header...), Field{"anthropic-version", c.version})
		return c.tr.roundTrip(ctx, &r, c.auth)
	}
	return c.tr.roundTrip(ctx, req, c.auth)
}

// Type returns the backend type the client was made for.
func (c *Client) Type() backend.Type { return c.typ }

// APIPath returns the path of an OpenAI endpoint (such as "/chat/completions")
// on this backend: the URL's path, then "/v1", then the endpoint. A URL that
// already ends in "/v1" does not get a second one.
func (c *Client) APIPath(endpoint string) string {
	if p, ok := c.paths[endpoint]; ok {
		return p
	}
	return c.root + "/v1" + endpoint
}

// RootPath returns p below the backend's root (its URL path without "/v1"),
// for health endpoints such as "/health" or "/v1/models".
func (c *Client) RootPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return c.root + p
}

// DefaultHealthPath is the probe path used when none is configured: the
// models listing (Ollama: /api/tags, which every Ollama version serves;
// Gemini: /v1beta/models).
func (c *Client) DefaultHealthPath() string {
	switch c.typ {
	case backend.Ollama:
		return c.RootPath("/api/tags")
	case backend.Gemini:
		return c.RootPath("/v1beta/models")
	}
	return c.APIPath("/models")
}

// CloseIdle closes pooled idle connections.
func (c *Client) CloseIdle() { c.tr.closeIdle() }

// Close retires the client (after a reload replaced it, or at shutdown):
// idle connections are closed now, and connections still in use are closed
// when their request ends. Requests in flight are not interrupted.
func (c *Client) Close() { c.tr.retire() }
