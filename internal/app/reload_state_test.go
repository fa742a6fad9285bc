package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/mock"
)

// A reload keeps the live state (breaker, counters, health) of every backend
// whose type, name and URL are unchanged; a backend whose URL changed starts
// afresh.
func TestReloadKeepsStateOfUnchangedBackends(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}, ErrorStatus: 500, Clock: clk})
	b := opsMock(t, "b", mock.Options{Models: []string{"n"}, ErrorStatus: 500, Clock: clk})
	b2 := opsMock(t, "b2", mock.Options{Models: []string{"n"}, Clock: clk})
	yaml := func(bURL string, weight int) string {
		return fmt.Sprintf(`
health_checks: { enabled: false }
request: { max_retries: 0 }
circuit_breaker: { failure_threshold: 1, failure_rate_threshold: 0, timeout: 60s }
backends:
  - { name: a, url: %q, models: [m], weight: %d }
  - { name: b, url: %q, models: [n] }
`, a.URL, weight, bURL)
	}
	e, path := opsStartFile(t, yaml(b.URL, 1), opsFileSetup{Clock: clk, Backends: []*testBackend{a, b, b2}})
	for _, model := range []string{"m", "n"} {
		if resp, _ := e.Post("/v1/chat/completions", chatBody(model, false)); resp.StatusCode != 500 {
			t.Fatalf("model %s: got %d, want the backend's 500", model, resp.StatusCode)
		}
	}
	if e.Backend("a").Breaker != "open" || e.Backend("b").Breaker != "open" {
		t.Fatal("breakers did not open")
	}

	// a's weight changes (same identity); b moves to a new URL.
	opsWriteConfig(t, path, yaml(b2.URL, 3))
	if err := e.App.Reload("test"); err != nil {
		t.Fatal(err)
	}
	ga, gb := e.Backend("a"), e.Backend("b")
	if ga.Weight != 3 || ga.Breaker != "open" || ga.Failures != 1 || ga.Requests != 1 {
		t.Fatalf("a after reload: weight %d breaker %s failures %d requests %d; want 3, open, 1, 1 (state kept)", ga.Weight, ga.Breaker, ga.Failures, ga.Requests)
	}
	if gb.Breaker != "closed" || gb.Requests != 0 || gb.URL != b2.URL {
		t.Fatalf("b after reload: breaker %s requests %d url %s; want a fresh state at the new URL", gb.Breaker, gb.Requests, gb.URL)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("n", false)); resp.StatusCode != 200 {
		t.Fatalf("model n after reload: got %d, want 200 from the new backend", resp.StatusCode)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 503 {
		t.Fatalf("model m after reload: got %d, want 503 (a's breaker is still open)", resp.StatusCode)
	}
}
