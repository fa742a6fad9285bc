package server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/exchange"
)

// countingGate admits every request and counts those in flight.
type countingGate struct{ n atomic.Int32 }

func (g *countingGate) TryAcquire() bool { g.n.Add(1); return true }
func (g *countingGate) Release()         { g.n.Add(-1) }

// panickingObserver panics on the records of one path, and passes the
// others on.
type panickingObserver struct {
	next *testObserver
	path string
}

func (o panickingObserver) RequestDone(rec *exchange.Record) {
	if string(rec.Path) == o.path {
		panic("observer panic " + panicSecret)
	}
	o.next.RequestDone(rec)
}

// TestPanicRecovery injects panics in a handler, a committed stream, the
// extra handler and the observer, while a stream on another connection is
// in progress, and checks that each panicking request fails alone.
func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	gate := &countingGate{}
	l := startListener(t, Options{}, Settings{}, func(d *Deps) {
		d.Gate = gate
		d.Extra = func(ctx *fasthttp.RequestCtx) bool {
			if string(ctx.Path()) == "/boom" {
				var none []byte
				_ = none[len(ctx.Path())] // a runtime error: index out of range
			}
			return false
		}
		d.Observer = panickingObserver{next: d.Observer.(*testObserver), path: "/v1/embeddings"}
	})

	// A stream on its own connection, committed and then held.
	held := l.dial()
	if _, err := io.WriteString(held, request("POST", "/v1/chat/completions", `{"model":"`+modelHeldStream+`","stream":true}`, false, "X-Request-Id", "held")); err != nil {
		t.Fatal(err)
	}
	heldReader := bufio.NewReader(held)
	heldResp, err := http.ReadResponse(heldReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len(`data: {"n":0}`+"\n\n"))
	if _, err := io.ReadFull(heldResp.Body, first); err != nil {
		t.Fatalf("first event of the held stream: %v", err)
	}

	t.Run("handler", func(t *testing.T) {
		r := one(t, l.exchange(request("POST", "/v1/chat/completions", `{"model":"`+modelPanic+`"}`, true, "X-Request-Id", "boom-1")))
		if r.StatusCode != 500 {
			t.Fatalf("got %d %s, want 500", r.StatusCode, r.body)
		}
		if e := errorOf(t, r); e.Type != "server_error" {
			t.Errorf("got type %q, want server_error", e.Type)
		}
		if !r.Close || r.Header.Get("X-Request-Id") != "boom-1" {
			t.Errorf("got Connection close %v, X-Request-Id %q; want close and boom-1", r.Close, r.Header.Get("X-Request-Id"))
		}
		if rec := l.obs.waitFor(t, "boom-1"); rec.ErrorKind != ErrorPanic || rec.Status != 500 || rec.Endpoint != "chat_completions" {
			t.Errorf("record: got kind %q status %d endpoint %q, want panic 500 chat_completions", rec.ErrorKind, rec.Status, rec.Endpoint)
		}
	})
	t.Run("committed stream", func(t *testing.T) {
		rs := parseResponses(t, l.exchange(request("POST", "/v1/chat/completions", `{"model":"`+modelStreamPanic+`","stream":true}`, true, "X-Request-Id", "boom-2")))
		if len(rs) != 1 || rs[0].StatusCode != 200 {
			t.Fatalf("got %d answers, want one 200 stream", len(rs))
		}
		body := string(rs[0].body)
		if !errors.Is(rs[0].bodyErr, io.ErrUnexpectedEOF) {
			t.Errorf("got body error %v, want the stream cut (no final chunk)", rs[0].bodyErr)
		}
		want := `data: {"n":0}` + "\n\n" + panicEvent
		if body != want {
			t.Errorf("got stream %q, want %q", body, want)
		}
		if strings.Contains(body, "[DONE]") {
			t.Error("a broken stream ends with data: [DONE]")
		}
		if rec := l.obs.waitFor(t, "boom-2"); rec.ErrorKind != ErrorPanic || !rec.Aborted {
			t.Errorf("record: got kind %q aborted %v, want panic and aborted", rec.ErrorKind, rec.Aborted)
		}
	})
	t.Run("extra handler", func(t *testing.T) {
		r := one(t, l.exchange(request("GET", "/boom", "", true, "X-Request-Id", "boom-3")))
		if r.StatusCode != 500 {
			t.Fatalf("got %d %s, want 500", r.StatusCode, r.body)
		}
		errorOf(t, r)
		if rec := l.obs.waitFor(t, "boom-3"); rec.ErrorKind != ErrorPanic || rec.Endpoint != EndpointOther {
			t.Errorf("record: got kind %q endpoint %q, want panic other", rec.ErrorKind, rec.Endpoint)
		}
	})
	t.Run("observer", func(t *testing.T) {
		r := one(t, l.exchange(request("POST", "/v1/embeddings", `{"model":"m1","input":"x"}`, true, "X-Request-Id", "boom-4")))
		if r.StatusCode != 500 {
			t.Fatalf("got %d %s, want 500", r.StatusCode, r.body)
		}
	})
	t.Run("served afterwards", func(t *testing.T) {
		if r := one(t, l.exchange(request("POST", "/v1/chat/completions", chat("m1"), false))); r.StatusCode != 200 {
			t.Fatalf("got %d %s, want 200", r.StatusCode, r.body)
		}
	})

	// The held stream is untouched: released, it ends cleanly.
	close(l.fwd.release)
	rest, err := io.ReadAll(heldResp.Body)
	if err != nil {
		t.Fatalf("held stream: %v", err)
	}
	if want := `data: {"n":1}` + "\n\n" + `data: {"n":2}` + "\n\n" + "data: [DONE]\n\n"; string(rest) != want {
		t.Errorf("held stream: got %q, want %q", rest, want)
	}
	if rec := l.obs.waitFor(t, "held"); rec.ErrorKind != "" || rec.Aborted {
		t.Errorf("held stream record: got kind %q aborted %v, want a clean finish", rec.ErrorKind, rec.Aborted)
	}
	if n := gate.n.Load(); n != 0 {
		t.Errorf("got %d requests in flight after every request ended, want 0", n)
	}

	logs := l.logs.String()
	if got := strings.Count(logs, "panic while serving a request"); got != 4 {
		t.Errorf("got %d panic log lines, want 4:\n%s", got, logs)
	}
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "goroutine ") || !strings.Contains(logs, "index out of range [5] with length 0") {
		t.Errorf("panic log lines lack the level, the stack or the runtime error:\n%s", logs)
	}
	if strings.Contains(logs, panicSecret) {
		t.Errorf("the logs hold the panic's value:\n%s", logs)
	}
	panics := 0
	for _, rec := range l.obs.all() {
		if rec.ErrorKind == ErrorPanic {
			panics++
		}
	}
	if panics != 3 { // the observer's own panic cannot be reported to it
		t.Errorf("got %d records of panics, want 3", panics)
	}
}
