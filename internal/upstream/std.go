package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/scope"
)

// stdTransport sends requests with net/http; it is used for https://
// backends, where TLS and HTTP/2 matter more than per-request cost.
type stdTransport struct {
	base    string // scheme://host
	tr      *http.Transport
	retired atomic.Bool
}

func newStd(base string, opts Options) *stdTransport {
	d := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &stdTransport{base: base, tr: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        opts.MaxIdle,
		MaxIdleConnsPerHost: opts.MaxIdle,
		IdleConnTimeout:     opts.IdleTimeout,
		TLSHandshakeTimeout: opts.ConnectTimeout,
		DisableCompression:  true,
		TLSClientConfig:     opts.TLSConfig,
	}}
}

func (s *stdTransport) roundTrip(ctx context.Context, req *Request, auth Header) (*Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, s.base+req.Path, body)
	if err != nil {
		return nil, &Error{Kind: KindWrite, Err: err}
	}
	if len(req.Forward) > 0 {
		conn := connectionTokens(req.Forward)
		eachField(req.Forward, func(name, value []byte) {
			if Forwardable(name) && !listed(conn, name) && !req.Header.hasField(name) {
				hr.Header.Add(string(name), string(value))
			}
		})
	}
	for _, f := range req.Header {
		hr.Header.Set(f.Name, f.Value)
	}
	for _, f := range auth {
		hr.Header.Set(f.Name, f.Value)
	}
	if _, ok := hr.Header["User-Agent"]; !ok {
		hr.Header.Set("User-Agent", "continuum")
	}
	res, err := s.tr.RoundTrip(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, scope.Cause(ctx)
		}
		kind := KindRead
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			kind = KindConnect
		}
		return nil, &Error{Kind: kind, Err: err}
	}
	out := &Response{Status: res.StatusCode, Body: &stdBody{ctx: ctx, rc: res.Body, s: s}}
	for name, values := range res.Header {
		for _, v := range values {
			out.Header = append(out.Header, Field{name, v})
		}
	}
	return out, nil
}

func (s *stdTransport) closeIdle() { s.tr.CloseIdleConnections() }

func (s *stdTransport) retire() {
	s.retired.Store(true)
	s.tr.CloseIdleConnections()
}

// stdBody reports the context's cause instead of net/http's generic error
// when the request was cancelled.
type stdBody struct {
	ctx context.Context
	rc  io.ReadCloser
	s   *stdTransport
}

func (b *stdBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		if b.ctx.Err() != nil {
			return n, scope.Cause(b.ctx)
		}
		return n, &Error{Kind: KindRead, Err: err}
	}
	return n, err
}

// Close closes the body; on a retired transport the connection it returned
// to the idle pool is closed too.
func (b *stdBody) Close() error {
	err := b.rc.Close()
	if b.s.retired.Load() {
		b.s.tr.CloseIdleConnections()
	}
	return err
}
