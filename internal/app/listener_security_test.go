package app_test

// Listener hardening, end to end: requests the listener cannot read are
// answered without repeating them and logged without their credentials;
// ambiguous routing fields and ambiguous framing are refused before any
// backend sees the request.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// rawExchange writes raw on a new TCP connection to the router and returns
// everything it sends until it closes the connection.
func rawExchange(t *testing.T, e *env, raw string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(e.URL, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read until the router closes the connection: %v (got %q)", err, got)
	}
	return got
}

// rawAnswers parses every HTTP answer in data.
func rawAnswers(t *testing.T, data []byte) []*http.Response {
	t.Helper()
	var out []*http.Response
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d is not well-formed HTTP: %v\n%q", len(out)+1, err, data)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d: body: %v", len(out)+1, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
}

// rawBody returns an answer's body.
func rawBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

const listenerSecret = "sk-secret-listener-5e2a77"

func TestListenerUnreadableRequestsNotEchoedNorLogged(t *testing.T) {
	t.Parallel()
	auth := "Authorization: Bearer " + listenerSecret + "\r\n"
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\n"
	body := chatBody(mock.DefaultModel, false)
	cl := "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	requests := []struct {
		name string
		raw  string
		want int
	}{
		{"one 17 KB header line", head + auth + "X-Padding: " + strings.Repeat("p", 17<<10) + "\r\n" + cl + "\r\n" + body, 431},
		{"header block over the read buffer", head + auth + strings.Repeat("X-Filler: "+strings.Repeat("f", 200)+"\r\n", 90) + cl + "\r\n" + body, 431},
		{"control character in the key", head + "Authorization: Bearer " + listenerSecret + "\x7f\x01\r\n" + cl + "\r\n" + body, 400},
		{"X-Api-Key and a bad header name", head + "X-Api-Key: " + listenerSecret + "\r\nBad\x00Name: x\r\n" + cl + "\r\n" + body, 400},
		{"Api-Key and Content-Length twice", head + "Api-Key: " + listenerSecret + "\r\n" + cl + "Content-Length: 1\r\n\r\n" + body, 400},
		{"Content-Length and Transfer-Encoding", head + auth + cl + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"broken chunked body", head + auth + "Transfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
		{"unsupported transfer coding", head + auth + "Transfer-Encoding: compress\r\n\r\n" + body, 501},
		{"no Host", "POST /v1/chat/completions HTTP/1.1\r\n" + auth + cl + "\r\n" + body, 400},
		{"bad request line", "POST /v1/chat/completions?key=" + listenerSecret + " HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400},
		{"folded credential", head + "Authorization: Bearer\r\n " + listenerSecret + "\r\n" + cl + "\r\n" + body, 400},
		{"body too large", head + auth + "Content-Length: 99999999\r\n\r\n" + body, 413},
		{"unknown path with a key in the query", "GET /v1/unknown?api_key=" + listenerSecret + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + auth + "\r\n", 404},
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			e := start(t, withBackend("a", mock.Options{}), withConfig(func(c *config.Config) {
				c.Logging.Format = format
				c.Server.MaxBodySize = 1 << 20
			}))
			for _, rq := range requests {
				t.Run(rq.name, func(t *testing.T) {
					got := rawExchange(t, e, rq.raw)
					rs := rawAnswers(t, got)
					if len(rs) != 1 || rs[0].StatusCode != rq.want {
						t.Fatalf("got %d answers %q, want one %d", len(rs), got, rq.want)
					}
					opsErrorType(t, rawBody(rs[0]))
					for _, leak := range []string{listenerSecret, "Bearer", "ppppppppp", "fffffffff", "X-Filler", "X-Padding"} {
						if bytes.Contains(got, []byte(leak)) {
							t.Errorf("the answer repeats request bytes %q:\n%s", leak, got)
						}
					}
					if rs[0].Header.Get("X-Request-Id") == "" {
						t.Error("no X-Request-Id")
					}
				})
			}
			// Each answer was read to the end of its connection; the
			// router logs before it closes one.
			logs := e.Logs.String()
			if strings.Contains(logs, listenerSecret) || strings.Contains(logs, "Bearer") {
				t.Errorf("the %s logs hold request bytes:\n%s", format, logs)
			}
			for _, want := range []string{"431", "501", `listener`} {
				if !strings.Contains(logs, want) {
					t.Errorf("the %s logs lack %q; the test no longer sees the listener's lines", format, want)
				}
			}
			if n := inference(e.Backends["a"]); n != 0 {
				t.Errorf("the backend got %d requests, want none", n)
			}
		})
	}
}

func TestListenerDuplicateRoutingKey(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(),
		withConfig(func(c *config.Config) {
			c.APIKeys.Mode = "blocking"
			c.APIKeys.Keys = []config.APIKey{{Key: "sk-only-m2-7c1f", ID: "only-m2", Enabled: true, Models: []string{"m2"}}}
		}),
		withBackend("go", mock.Options{Models: []string{"m1", "m2"}}))
	key := []string{"Authorization", "Bearer sk-only-m2-7c1f"}
	tests := []struct {
		name, body string
		want       int
		wantParam  string
	}{
		{"allowed model", `{"model":"m2","messages":[]}`, 200, ""},
		{"upper-case variant after", `{"model":"m2","MODEL":"m1","messages":[]}`, 400, "model"},
		{"upper-case variant before", `{"MODEL":"m1","model":"m2","messages":[]}`, 400, "model"},
		{"model twice", `{"model":"m2","model":"m1","messages":[]}`, 400, "model"},
		{"escaped duplicate", `{"model":"m2","mod\u0065l":"m1","messages":[]}`, 400, "model"},
		{"variant with a long s", `{"model":"m2","ſtream":true,"messages":[]}`, 400, "stream"},
		{"include_usage variant", `{"model":"m2","stream_options":{"include_usage":true,"INCLUDE_USAGE":false},"messages":[]}`, 400, "stream_options.include_usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := inference(e.Backends["go"])
			resp, body := e.Post("/v1/chat/completions", tt.body, key...)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == 400 {
				if typ := opsErrorType(t, body); typ != "invalid_request_error" ||
					!strings.Contains(body, `"code":"duplicate_parameter"`) || !strings.Contains(body, `"param":"`+tt.wantParam+`"`) {
					t.Errorf("got %s, want invalid_request_error duplicate_parameter on %s", body, tt.wantParam)
				}
				if n := inference(e.Backends["go"]); n != before {
					t.Errorf("the backend was called %d times, want never", n-before)
				}
			}
		})
	}
}

func TestListenerSmuggling(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	body := chatBody(mock.DefaultModel, false)
	smuggled := "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	chunked := strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"Content-Length and Transfer-Encoding", head + "Content-Length: " + strconv.Itoa(len(chunked)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled, 400},
		{"Content-Length hiding a second request", head + "Transfer-Encoding: chunked\r\nContent-Length: " + strconv.Itoa(len(chunked)+len(smuggled)) + "\r\n\r\n" + chunked + smuggled, 400},
		{"Content-Length twice, different values", head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Length: 5\r\n\r\n" + body + smuggled, 400},
		{"Content-Length twice, same value", head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + smuggled, 400},
		{"Transfer-Encoding identity", head + "Transfer-Encoding: identity\r\n\r\n" + body + smuggled, 501},
		{"Transfer-Encoding gzip", head + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked + smuggled, 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rawAnswers(t, rawExchange(t, e, tt.raw))
			if len(rs) != 1 {
				t.Fatalf("got %d answers, want exactly one", len(rs))
			}
			if rs[0].StatusCode != tt.want || !rs[0].Close {
				t.Errorf("got %d (close %v), want %d and the connection closed", rs[0].StatusCode, rs[0].Close, tt.want)
			}
			opsErrorType(t, rawBody(rs[0]))
		})
	}
	if n := inference(e.Backends["a"]); n != 0 {
		t.Errorf("the backend got %d requests, want none", n)
	}
}
