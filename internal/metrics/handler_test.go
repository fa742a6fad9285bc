package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesEveryMetric(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	exerciseAll(m)
	srv := httptest.NewServer(m.Handler(reg))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want 200; body:\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("got Content-Type %q, want the text format", ct)
	}
	text := string(body)
	for _, name := range allNames {
		if !strings.Contains(text, "# TYPE "+name+" ") {
			t.Errorf("got no %s in the response, want it", name)
		}
	}
	for _, want := range []string{
		`continuum_requests_total{backend="vllm-a",endpoint="chat_completions",model="llama",status="200"} 1`,
		`continuum_backend_health{backend="vllm-a",state="ready"} 1`,
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("got no line %q in the response, want it", want)
		}
	}
}

func TestHandlerServesWhatItCanAndLogs(t *testing.T) {
	var logs bytes.Buffer
	m, reg := newTestMetrics(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	m.ObserveLoadShed()
	m.SetBackendSource(func() []BackendStat { return []BackendStat{{Name: "bad\xff"}} })

	rec := httptest.NewRecorder()
	m.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("got status %d, want 200 despite one failing collector", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "continuum_load_shed_total 1") {
		t.Errorf("got body without continuum_load_shed_total 1, want the metrics that could be gathered")
	}
	if !strings.Contains(logs.String(), "metrics scrape error") {
		t.Errorf("got log %q, want a scrape error line", logs.String())
	}
}
