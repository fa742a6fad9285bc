package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/continuumhq/continuum/internal/bench"
)

// BenchmarkClosedLoop measures the generator's own cost per request against
// a server that answers a fixed small completion.
func BenchmarkClosedLoop(b *testing.B) {
	body := []byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL, Model: "m", Requests: b.N, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	if res.Totals.Succeeded != int64(b.N) {
		b.Fatalf("succeeded %d of %d", res.Totals.Succeeded, b.N)
	}
	b.ReportMetric(res.Totals.Throughput, "req/s")
}
