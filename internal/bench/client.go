package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// Error kinds, the keys of Result.Errors besides "http_<status>" (see
// HTTPKind).
const (
	KindTimeout     = "timeout"      // Config.Timeout elapsed
	KindConnect     = "connect"      // the connection could not be opened
	KindReset       = "reset"        // the connection broke before the response was complete
	KindStreamError = "stream_error" // a stream ended without [DONE], with an error event or without content
	KindOther       = "other"        // any other transport failure
)

// HTTPKind returns the error kind of a response with a non-2xx status,
// "http_<status>".
func HTTPKind(status int) string { return "http_" + strconv.Itoa(status) }

// errKind is an error kind as recorded; kindHTTP stands for HTTPKind(status).
type errKind uint8

const (
	kindNone errKind = iota
	kindTimeout
	kindConnect
	kindReset
	kindStream
	kindOther
	kindHTTP
	numKinds
)

// name returns the kind's Result.Errors key; kindHTTP has none.
func (k errKind) name() string {
	switch k {
	case kindTimeout:
		return KindTimeout
	case kindConnect:
		return KindConnect
	case kindReset:
		return KindReset
	case kindStream:
		return KindStreamError
	case kindOther:
		return KindOther
	}
	return ""
}

// maxErrorBody bounds how much of an error response is read (to keep the
// connection reusable) before it is closed.
const maxErrorBody = 1 << 20

// newTransport returns a Transport tuned for load generation: HTTP/1.1 only,
// an idle pool as large as the run's concurrency, no compression, no proxy.
func newTransport(cfg *Config) *http.Transport {
	conns := cfg.Concurrency
	if cfg.Rate > 0 {
		conns = cfg.MaxInFlight
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      32 << 10,
		WriteBufferSize:     16 << 10,
		// A non-nil empty map turns HTTP/2 off for https:// too, so that
		// every request has a connection of its own, as with http://.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

// outcome is what one request did.
type outcome struct {
	intended  time.Time // when it was due to be sent
	sent      time.Time // when it was handed to the client
	done      time.Time // when its last byte arrived or it failed
	ttft      time.Duration
	status    int
	tokens    int64
	kind      errKind
	cancelled bool // the run ended while it was in flight
}

// scratch is the per-request working memory, reused from request to
// request so that reading responses does not allocate once it has grown.
type scratch struct {
	buf  bytes.Buffer
	sse  *openai.Reader
	gaps []time.Duration // inter-token gaps of the current stream
}

func newScratch() *scratch { return &scratch{sse: openai.NewReader(nil, 0)} }

// send sends one request with body and fills in o. ctx bounds the request.
func (r *runner) send(ctx context.Context, sc *scratch, body []byte, o *outcome) {
	sc.gaps = sc.gaps[:0]
	req := r.request.WithContext(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	o.sent = r.clk.Now()
	resp, err := r.do(req)
	if err != nil {
		o.done, o.kind = r.clk.Now(), classify(err)
		return
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		o.done, o.kind = r.clk.Now(), kindHTTP
	case r.cfg.Stream:
		r.readStream(sc, resp.Body, o)
	default:
		sc.buf.Reset()
		_, err := sc.buf.ReadFrom(resp.Body)
		o.done = r.clk.Now()
		if err != nil {
			o.kind = classify(err)
			return
		}
		if r.cfg.Endpoint != EndpointEmbeddings {
			if u, ok := openai.ParseUsage(sc.buf.Bytes()); ok {
				o.tokens = int64(u.CompletionTokens)
			}
		}
	}
}

// readStream reads a server-sent event stream to its end, timing the first
// content event (time to first token, from the intended send time) and the
// gaps between token events, and counting output tokens: the final usage's
// completion_tokens when sent, else the token events.
func (r *runner) readStream(sc *scratch, body io.Reader, o *outcome) {
	rd := sc.sse
	rd.Reset(body)
	defer rd.Reset(nil)
	var last time.Time
	tokens, usage := int64(0), int64(-1)
	content, done := false, false
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			o.done, o.kind = r.clk.Now(), kindStream
			if classify(err) == kindTimeout {
				o.kind = kindTimeout
			}
			return
		}
		if ev.IsDone() {
			done = true
			break
		}
		if ev.Data == nil && ev.Name == nil {
			continue // a comment, such as a keep-alive
		}
		c := openai.InspectEvent(ev)
		if c.Error {
			o.done, o.kind = r.clk.Now(), kindStream
			return
		}
		if !c.Content {
			continue
		}
		now := r.clk.Now()
		if !content {
			content = true
			o.ttft = now.Sub(o.intended)
		}
		hasUsage := valueStartsWith(ev.Data, usageKey, '{')
		if hasUsage {
			if u, ok := openai.ParseUsage(ev.Data); ok {
				usage = int64(u.CompletionTokens)
			}
		}
		if carriesTokens(ev.Data, hasUsage) {
			if tokens > 0 {
				sc.gaps = append(sc.gaps, now.Sub(last))
			}
			last = now
			tokens++
		}
	}
	o.done = r.clk.Now()
	if done {
		// Whatever follows [DONE] is drained so that the connection can be
		// reused; it is normally just the end of the chunked body.
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	}
	if !done || !content {
		o.kind = kindStream
		return
	}
	o.tokens = tokens
	if usage >= 0 {
		o.tokens = usage
	}
}

var (
	usageKey  = []byte(`"usage"`)
	finishKey = []byte(`"finish_reason"`)
)

// valueStartsWith reports whether the JSON document doc has a member key
// whose value starts with the byte c. It is a cheap pre-check: a key inside
// a string value is escaped and does not match.
func valueStartsWith(doc, key []byte, c byte) bool {
	i := bytes.Index(doc, key)
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(doc[i+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	return len(rest) > 0 && rest[0] == c
}

// carriesTokens reports whether a content event carries generated output
// (text, reasoning, a refusal or a tool call) rather than only a finish
// reason or usage. Events without a finish reason or usage are taken as
// token events without decoding them.
func carriesTokens(data []byte, hasUsage bool) bool {
	if !hasUsage && !valueStartsWith(data, finishKey, '"') {
		return true
	}
	var p struct {
		Choices []struct {
			Delta *struct {
				Content          string          `json:"content"`
				Refusal          string          `json:"refusal"`
				ReasoningContent string          `json:"reasoning_content"`
				Reasoning        string          `json:"reasoning"`
				ToolCalls        json.RawMessage `json:"tool_calls"`
				FunctionCall     json.RawMessage `json:"function_call"`
			} `json:"delta"`
			Text string `json:"text"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &p) != nil {
		return true
	}
	for _, c := range p.Choices {
		if c.Text != "" {
			return true
		}
		if d := c.Delta; d != nil && (d.Content != "" || d.Refusal != "" || d.ReasoningContent != "" ||
			d.Reasoning != "" || notNull(d.ToolCalls) || notNull(d.FunctionCall)) {
			return true
		}
	}
	return false
}

func notNull(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

// classify maps a transport error to its kind.
func classify(err error) errKind {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &opErr) && opErr.Op == "dial":
		return kindConnect
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindReset
	}
	return kindOther
}
