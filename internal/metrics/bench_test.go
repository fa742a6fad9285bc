package metrics

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func benchMetrics(b *testing.B) *Metrics {
	b.Helper()
	m, err := New(prometheus.NewRegistry(), "bench")
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	return m
}

// benchRequests are a few label tuples, as a router serving a handful of
// models from a handful of backends sees them.
func benchRequests() []Request {
	var reqs []Request
	for i := range 8 {
		reqs = append(reqs, Request{
			Endpoint: "chat_completions",
			Model:    "model-" + strconv.Itoa(i%4),
			Backend:  "backend-" + strconv.Itoa(i%3),
			Status:   200,
			Stream:   true,
			Duration: 1500 * time.Millisecond,
			TTFT:     120 * time.Millisecond,
			Overhead: 35 * time.Microsecond,
			HasUsage: true, PromptTokens: 100, CompletionTokens: 250,
		})
	}
	return reqs
}

func BenchmarkObserveRequest(b *testing.B) {
	m := benchMetrics(b)
	reqs := benchRequests()
	for _, r := range reqs {
		m.ObserveRequest(r) // warm the caches: measure the steady state
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.ObserveRequest(reqs[i%len(reqs)])
		i++
	}
}

func BenchmarkObserveRequestParallel(b *testing.B) {
	m := benchMetrics(b)
	reqs := benchRequests()
	for _, r := range reqs {
		m.ObserveRequest(r)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			m.ObserveRequest(reqs[i%len(reqs)])
			i++
		}
	})
}

func BenchmarkObserveAttempt(b *testing.B) {
	m := benchMetrics(b)
	m.ObserveAttempt("backend-0", "failure", "connect")
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveAttempt("backend-0", "failure", "connect")
	}
}

func BenchmarkScrapeBackends(b *testing.B) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, "bench")
	if err != nil {
		b.Fatalf("New: %v", err)
	}
	stats := make([]BackendStat, 20)
	for i := range stats {
		stats[i] = BackendStat{Name: "backend-" + strconv.Itoa(i), Up: true, Health: "ready", Breaker: "closed"}
	}
	m.SetBackendSource(func() []BackendStat { return stats })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
