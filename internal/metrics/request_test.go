package metrics

import (
	"strconv"
	"testing"
	"time"
)

func TestObserveRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request

		reqLabels labels // of requests_total; duration drops "status"
		wantTTFT  bool
		wantOver  bool
		wantToks  bool
		wantAbort bool
	}{
		{
			name: "full stream",
			req: Request{
				Endpoint: "chat_completions", Model: "llama", Backend: "vllm-a", Status: 200, Stream: true,
				Duration: 3 * time.Second, TTFT: 250 * time.Millisecond, Overhead: 40 * time.Microsecond,
				PromptTokens: 12, CompletionTokens: 34, HasUsage: true,
			},
			reqLabels: labels{"endpoint": "chat_completions", "model": "llama", "backend": "vllm-a", "status": "200"},
			wantTTFT:  true, wantOver: true, wantToks: true,
		},
		{
			name:      "not routed",
			req:       Request{Endpoint: "chat_completions", Status: 401, Duration: time.Millisecond},
			reqLabels: labels{"endpoint": "chat_completions", "model": "none", "backend": "none", "status": "401"},
		},
		{
			name:      "status out of range",
			req:       Request{Endpoint: "models", Status: 0, Duration: time.Millisecond, Overhead: time.Microsecond},
			reqLabels: labels{"endpoint": "models", "model": "none", "backend": "none", "status": "other"},
			wantOver:  true,
		},
		{
			name: "aborted stream",
			req: Request{
				Endpoint: "completions", Model: "qwen", Backend: "ollama-1", Status: 200, Stream: true,
				Duration: time.Second, TTFT: time.Millisecond, Aborted: true,
			},
			reqLabels: labels{"endpoint": "completions", "model": "qwen", "backend": "ollama-1", "status": "200"},
			wantTTFT:  true, wantAbort: true,
		},
		{
			name: "usage with zero completion tokens",
			req: Request{
				Endpoint: "embeddings", Model: "bge", Backend: "tei", Status: 200,
				Duration: 20 * time.Millisecond, PromptTokens: 7, HasUsage: true,
			},
			reqLabels: labels{"endpoint": "embeddings", "model": "bge", "backend": "tei", "status": "200"},
			wantToks:  true,
		},
		{
			name: "tokens without HasUsage are ignored",
			req: Request{
				Endpoint: "embeddings", Model: "bge", Backend: "tei", Status: 200,
				Duration: 20 * time.Millisecond, PromptTokens: 7,
			},
			reqLabels: labels{"endpoint": "embeddings", "model": "bge", "backend": "tei", "status": "200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, Options{})
			const calls = 3
			for range calls {
				m.ObserveRequest(tt.req)
			}
			r := tt.req

			if got := value(t, reg, "continuum_requests_total", tt.reqLabels); got != calls {
				t.Errorf("got continuum_requests_total %v, want %d", got, calls)
			}
			durLabels := labels{"endpoint": tt.reqLabels["endpoint"], "model": tt.reqLabels["model"], "backend": tt.reqLabels["backend"]}
			count, sum := histogram(t, reg, "continuum_request_duration_seconds", durLabels)
			if count != calls || !near(sum, calls*r.Duration.Seconds()) {
				t.Errorf("got duration count %d sum %v, want %d and %v", count, sum, calls, calls*r.Duration.Seconds())
			}

			pair := labels{"model": tt.reqLabels["model"], "backend": tt.reqLabels["backend"]}
			if !tt.wantTTFT {
				if n := seriesCount(t, reg, "continuum_time_to_first_token_seconds"); n != 0 {
					t.Errorf("got %d TTFT series, want none", n)
				}
			} else if count, sum := histogram(t, reg, "continuum_time_to_first_token_seconds", pair); count != calls || !near(sum, calls*r.TTFT.Seconds()) {
				t.Errorf("got TTFT count %d sum %v, want %d and %v", count, sum, calls, calls*r.TTFT.Seconds())
			}

			if count, sum := histogram(t, reg, "continuum_overhead_seconds", labels{}); !tt.wantOver && count != 0 {
				t.Errorf("got overhead count %d, want 0", count)
			} else if tt.wantOver && (count != calls || !near(sum, calls*r.Overhead.Seconds())) {
				t.Errorf("got overhead count %d sum %v, want %d and %v", count, sum, calls, calls*r.Overhead.Seconds())
			}

			if !tt.wantToks {
				if n := seriesCount(t, reg, "continuum_tokens_total"); n != 0 {
					t.Errorf("got %d token series, want none", n)
				}
			} else {
				for typ, n := range map[string]int{"prompt": r.PromptTokens, "completion": r.CompletionTokens} {
					l := labels{"model": pair["model"], "backend": pair["backend"], "type": typ}
					if got, want := value(t, reg, "continuum_tokens_total", l), float64(calls*n); got != want {
						t.Errorf("got continuum_tokens_total{type=%q} %v, want %v", typ, got, want)
					}
				}
			}

			if !tt.wantAbort {
				if n := seriesCount(t, reg, "continuum_stream_aborts_total"); n != 0 {
					t.Errorf("got %d stream abort series, want none", n)
				}
			} else if got := value(t, reg, "continuum_stream_aborts_total", labels{"backend": pair["backend"]}); got != calls {
				t.Errorf("got continuum_stream_aborts_total %v, want %d", got, calls)
			}
			lintClean(t, reg)
		})
	}
}

func TestObserveRequestSharesSeriesAcrossLabelTuples(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	base := Request{Endpoint: "chat_completions", Model: "llama", Backend: "a", Duration: time.Second, TTFT: time.Millisecond}
	for _, status := range []int{200, 500, 502} {
		r := base
		r.Status = status
		m.ObserveRequest(r)
	}
	if got := seriesCount(t, reg, "continuum_requests_total"); got != 3 {
		t.Errorf("got %d requests_total series, want 3 (one per status)", got)
	}
	if count, _ := histogram(t, reg, "continuum_request_duration_seconds", labels{"endpoint": "chat_completions", "model": "llama", "backend": "a"}); count != 3 {
		t.Errorf("got duration count %d, want 3 in the one series without status", count)
	}
	if count, _ := histogram(t, reg, "continuum_time_to_first_token_seconds", labels{"model": "llama", "backend": "a"}); count != 3 {
		t.Errorf("got TTFT count %d, want 3", count)
	}
}

func TestObserveRequestModelCap(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		cap  int
	}{
		{"default cap", Options{}, DefaultMaxLabelValues},
		{"configured cap", Options{MaxLabelValues: 5}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, tt.opts)
			const extra = 7
			for i := range tt.cap + extra {
				m.ObserveRequest(Request{Endpoint: "chat_completions", Model: "model-" + strconv.Itoa(i), Backend: "a", Status: 200})
			}
			// Every model admitted before the cap keeps its own series.
			for _, i := range []int{0, tt.cap - 1} {
				l := labels{"endpoint": "chat_completions", "model": "model-" + strconv.Itoa(i), "backend": "a", "status": "200"}
				if got := value(t, reg, "continuum_requests_total", l); got != 1 {
					t.Errorf("got %v for model-%d, want 1", got, i)
				}
			}
			other := labels{"endpoint": "chat_completions", "model": "other", "backend": "a", "status": "200"}
			if got := value(t, reg, "continuum_requests_total", other); got != extra {
				t.Errorf(`got %v for model="other", want %d`, got, extra)
			}
			if got, want := seriesCount(t, reg, "continuum_requests_total"), tt.cap+1; got != want {
				t.Errorf("got %d requests_total series, want %d", got, want)
			}
			// The cache is bounded too: models beyond the cap share one entry.
			m.mu.RLock()
			entries := len(m.requests)
			m.mu.RUnlock()
			if want := tt.cap + 1; entries != want {
				t.Errorf("got %d cached request entries, want %d", entries, want)
			}
			// A model first seen after the cap stays "other" later too.
			m.ObserveRequest(Request{Endpoint: "chat_completions", Model: "model-" + strconv.Itoa(tt.cap), Backend: "a", Status: 200})
			if got := value(t, reg, "continuum_requests_total", other); got != extra+1 {
				t.Errorf(`got %v for model="other" after a repeat, want %d`, got, extra+1)
			}
		})
	}
}

func TestObserveRequestFixedCap(t *testing.T) {
	m, reg := newTestMetrics(t, Options{MaxFixedLabelValues: 2})
	for _, e := range []string{"chat_completions", "embeddings", "completions", "models"} {
		m.ObserveRequest(Request{Endpoint: e, Model: "m", Backend: "b", Status: 200})
	}
	l := labels{"endpoint": "other", "model": "m", "backend": "b", "status": "200"}
	if got := value(t, reg, "continuum_requests_total", l); got != 2 {
		t.Errorf(`got %v for endpoint="other", want 2`, got)
	}
}

func TestObserveRequestInvalidUTF8(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	m.ObserveRequest(Request{Endpoint: "chat_completions", Model: "bad\xff", Backend: "a", Status: 404})
	l := labels{"endpoint": "chat_completions", "model": "other", "backend": "a", "status": "404"}
	if got := value(t, reg, "continuum_requests_total", l); got != 1 {
		t.Errorf(`got %v for model="other", want 1`, got)
	}
}

// near reports whether two float sums agree up to rounding.
func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

func TestObserveRequestPerKey(t *testing.T) {
	m, reg := newTestMetrics(t, Options{MaxLabelValues: 2})
	for _, r := range []Request{
		{Endpoint: "chat_completions", Status: 200, KeyID: "team-a", HasUsage: true, PromptTokens: 10, CompletionTokens: 5},
		{Endpoint: "chat_completions", Status: 200, KeyID: "team-a", HasUsage: true, PromptTokens: 1, CompletionTokens: 2},
		{Endpoint: "chat_completions", Status: 429, KeyID: "team-a"},
		{Endpoint: "chat_completions", Status: 200},                  // no key
		{Endpoint: "chat_completions", Status: 502, KeyID: "team-b"}, // past the cap of 2 (none took no slot)
		{Endpoint: "chat_completions", Status: 200, KeyID: "team-c", HasUsage: true, CompletionTokens: 7},
	} {
		m.ObserveRequest(r)
	}
	for _, c := range []struct {
		metric string
		labels labels
		want   float64
	}{
		{"continuum_api_key_requests_total", labels{"key_id": "team-a", "status_class": "2xx"}, 2},
		{"continuum_api_key_requests_total", labels{"key_id": "team-a", "status_class": "4xx"}, 1},
		{"continuum_api_key_requests_total", labels{"key_id": "none", "status_class": "2xx"}, 1},
		{"continuum_api_key_requests_total", labels{"key_id": "team-b", "status_class": "5xx"}, 1},
		{"continuum_api_key_requests_total", labels{"key_id": "other", "status_class": "2xx"}, 1},
		{"continuum_api_key_tokens_total", labels{"key_id": "team-a", "type": "prompt"}, 11},
		{"continuum_api_key_tokens_total", labels{"key_id": "team-a", "type": "completion"}, 7},
		{"continuum_api_key_tokens_total", labels{"key_id": "other", "type": "completion"}, 7},
	} {
		if got := value(t, reg, c.metric, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
}
