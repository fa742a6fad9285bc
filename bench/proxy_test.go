// Package bench holds the end-to-end benchmarks of the router and the overhead
// comparison harness (overhead.sh); see docs/performance.md.
package bench

// Benchmarks of a full proxied request over real loopback sockets: a raw
// client, the router, and a raw backend that answers a fixed response. The
// client and the backend allocate nothing per request, so -benchmem reports
// the router's own allocations.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/redistest"
)

const benchAnswer = `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`

var benchStream = func() string {
	var b bytes.Buffer
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&b, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	b.WriteString("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	return b.String()
}()

// rawBackend answers every request on its connection with a fixed response:
// JSON, or an SSE stream when the body asks for one.
func rawBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	json := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(benchAnswer)) + "\r\n\r\n" + benchAnswer)
	var sse bytes.Buffer
	sse.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	fmt.Fprintf(&sse, "%x\r\n%s\r\n0\r\n\r\n", len(benchStream), benchStream)
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReaderSize(c, 16<<10)
				body := make([]byte, 0, 4096)
				for {
					n, err := readRawRequest(br, &body)
					if err != nil {
						return
					}
					out := json
					if bytes.Contains(body[:n], []byte(`"stream":true`)) {
						out = sse.Bytes()
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRawRequest reads one request (head and Content-Length body) into *body.
func readRawRequest(br *bufio.Reader, body *[]byte) (int, error) {
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && (line[0] == 'C' || line[0] == 'c') && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
		}
	}
	if cap(*body) < length {
		*body = make([]byte, length)
	}
	*body = (*body)[:length]
	_, err := io.ReadFull(br, *body)
	return length, err
}

// benchRouter starts a router in front of backendURL.
func benchRouter(tb testing.TB, backendURL string, edit func(*config.Config)) string {
	tb.Helper()
	cfg := config.Default()
	cfg.HealthChecks.Enabled = false
	cfg.Logging.Level = "warn"
	b := cfg.NewBackend("a", backendURL)
	b.Models = []string{"m"}
	b.HealthChecks.Enabled = false
	cfg.Backends = append(cfg.Backends, b)
	if edit != nil {
		edit(cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Options{Config: cfg, Listeners: []net.Listener{ln}, LogOutput: io.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// rawClient sends one request at a time on one connection.
type rawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
	buf []byte
}

func newRawClient(tb testing.TB, addr string, stream bool) *rawClient {
	body := `{"model":"m","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}`
	if stream {
		body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}`
	}
	return newRawClientFor(tb, addr, "/v1/chat/completions", body)
}

// newRawClientFor is a raw client posting body to path.
func newRawClientFor(tb testing.TB, addr, path, body string) *rawClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	req := "POST " + path + " HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-test\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	return &rawClient{c: c, br: bufio.NewReaderSize(c, 32<<10), req: []byte(req), buf: make([]byte, 32<<10)}
}

// do sends the request and reads the whole response.
func (rc *rawClient) do() error {
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	status, length, chunked := 0, -1, false
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status == 0 {
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) <= 2 {
			break
		}
		switch {
		case bytes.HasPrefix(line, []byte("Content-Length:")):
			length, _ = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
		case bytes.HasPrefix(line, []byte("Transfer-Encoding: chunked")):
			chunked = true
		}
	}
	if status != 200 {
		return fmt.Errorf("status %d", status)
	}
	if !chunked {
		_, err := io.ReadFull(rc.br, rc.buf[:length])
		return err
	}
	for {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return err
		}
		if _, err := io.ReadFull(rc.br, rc.buf[:n+2]); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

func benchmarkProxy(b *testing.B, stream bool, conns int) {
	benchmarkCalls(b, conns, func(addr string) *rawClient { return newRawClient(b, addr, stream) })
}

// benchmarkCalls runs b.N requests over conns connections made by newClient.
func benchmarkCalls(b *testing.B, conns int, newClient func(addr string) *rawClient) {
	addr := benchRouter(b, rawBackend(b), nil)
	clients := make([]*rawClient, conns)
	for i := range clients {
		clients[i] = newClient(addr)
		if err := clients[i].do(); err != nil { // warm the connection pools
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	defer func() {
		// Process CPU per request: the router's plus the raw client's and
		// backend's, which are small and constant. Less sensitive to other
		// load on the machine than ns/op.
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1000, "cpu-µs/op")
	}()
	if conns == 1 {
		for i := 0; i < b.N; i++ {
			if err := clients[0].do(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var wg sync.WaitGroup
	per := b.N / conns
	for i := range clients {
		n := per
		if i == 0 {
			n += b.N % conns
		}
		wg.Add(1)
		go func(rc *rawClient, n int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if err := rc.do(); err != nil {
					b.Error(err)
					return
				}
			}
		}(clients[i], n)
	}
	wg.Wait()
}

// cpuTime returns the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkProxy measures one proxied request end to end over loopback.
func BenchmarkProxy(b *testing.B) {
	b.Run("chat/1conn", func(b *testing.B) { benchmarkProxy(b, false, 1) })
	b.Run("chat/32conns", func(b *testing.B) { benchmarkProxy(b, false, 32) })
	b.Run("stream/1conn", func(b *testing.B) { benchmarkProxy(b, true, 1) })
	b.Run("stream/32conns", func(b *testing.B) { benchmarkProxy(b, true, 32) })
}

// BenchmarkTranslated measures a translated call end to end: an Anthropic
// Messages client in front of the same OpenAI-compatible backend (request
// to the chat pivot, answer or each stream event back to Anthropic's form).
func BenchmarkTranslated(b *testing.B) {
	messages := func(stream bool) func(addr string) *rawClient {
		body := `{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"Say hello"}]}`
		if stream {
			body = `{"model":"m","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say hello"}]}`
		}
		return func(addr string) *rawClient { return newRawClientFor(b, addr, "/v1/messages", body) }
	}
	b.Run("messages/1conn", func(b *testing.B) { benchmarkCalls(b, 1, messages(false)) })
	b.Run("messages-stream/1conn", func(b *testing.B) { benchmarkCalls(b, 1, messages(true)) })
}

// BenchmarkDirect is the same client against the backend directly: the
// floor BenchmarkProxy is compared with.
func BenchmarkDirect(b *testing.B) {
	url := rawBackend(b)
	rc := newRawClient(b, url[len("http://"):], false)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := rc.do(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1000, "cpu-µs/op")
}

// BenchmarkBareFasthttp is a reference, not part of the product: the
// thinnest possible proxy (fasthttp server and fasthttp client, no routing,
// no resilience, no observability) in the same harness, to show what the
// router's own work costs on top of the framework.
func BenchmarkBareFasthttp(b *testing.B) {
	backend := rawBackend(b)[len("http://"):]
	hc := &fasthttp.HostClient{Addr: backend, MaxConns: 1000}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + backend + string(ctx.Path()))
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBody(ctx.PostBody())
		if err := hc.Do(req, resp); err != nil {
			ctx.SetStatusCode(502)
			return
		}
		ctx.SetStatusCode(resp.StatusCode())
		ctx.SetContentTypeBytes(resp.Header.ContentType())
		ctx.SetBody(resp.Body())
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	clients := make([]*rawClient, 32)
	for i := range clients {
		clients[i] = newRawClient(b, ln.Addr().String(), false)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	var wg sync.WaitGroup
	for i, rc := range clients {
		n := b.N / len(clients)
		if i == 0 {
			n += b.N % len(clients)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if err := rc.do(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1000, "cpu-µs/op")
}

// BenchmarkRedisAdmission measures what shared limits add to a request: the
// same client alternates between a router without limits and one whose
// global and per-key limits (never reached) live in Redis, one request each,
// and the medians of the two are compared. It reports the added median and
// 99th percentile latency (added-p50-µs, added-p99-µs) and the Redis router's
// own allocations per request. Skipped without redis-server unless
// CONTINUUM_REQUIRE_REDIS=1.
func BenchmarkRedisAdmission(b *testing.B) {
	srv := redistest.Start(b)
	backend := rawBackend(b)
	plain := benchRouter(b, backend, nil)
	shared := benchRouter(b, backend, func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.Storage = "redis"
		c.RateLimiting.Redis.URL = srv.URL()
		c.RateLimiting.Limits.Global = config.RateSpec{RequestsPerSecond: 1e6, BurstCapacity: 1e6}
		c.RateLimiting.Limits.PerAPIKey = config.RateSpec{RequestsPerSecond: 1e6, BurstCapacity: 1e6}
		c.APIKeys.Keys = []config.APIKey{{Key: "sk-test", ID: "bench", Enabled: true}}
	})
	pc, sc := newRawClient(b, plain, false), newRawClient(b, shared, false)
	for range 100 { // warm both routers and the Redis connections
		if err := pc.do(); err != nil {
			b.Fatal(err)
		}
		if err := sc.do(); err != nil {
			b.Fatal(err)
		}
	}
	without := make([]time.Duration, 0, b.N)
	with := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := pc.do(); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := sc.do(); err != nil {
			b.Fatal(err)
		}
		without = append(without, mid.Sub(start))
		with = append(with, time.Since(mid))
	}
	b.StopTimer()
	slices.Sort(without)
	slices.Sort(with)
	q := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))].Nanoseconds()) / 1000
	}
	b.ReportMetric(q(with, 0.5), "redis-p50-µs")
	b.ReportMetric(q(with, 0.5)-q(without, 0.5), "added-p50-µs")
	b.ReportMetric(q(with, 0.99)-q(without, 0.99), "added-p99-µs")
}
