package app_test

// Hardening (operations): what the logs say, in JSON and in text, and how
// often.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// ohJSONLines decodes every line of a JSON log.
func ohJSONLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestOpsHardeningJSONLogDurations: in JSON, durations are seconds as a
// float under a key ending in "_s", on every line: the access line, the
// breaker's and the shutdown's.
func TestOpsHardeningJSONLogDurations(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Time{})
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}, Clock: clk})
	cfg := config.Default()
	cfg.HealthChecks.Enabled = false
	cfg.Request.MaxRetries = 0
	cfg.CircuitBreaker.FailureThreshold = 1
	ba := cfg.NewBackend("a", a.URL)
	ba.Models = []string{"m"}
	bd := cfg.NewBackend("dead", deadURL(t))
	bd.Models = []string{"d"}
	cfg.Backends = []config.Backend{ba, bd}
	e := &env{t: t, Backends: map[string]*testBackend{"a": a}, Logs: &syncBuffer{}, Config: cfg, Clock: clk}
	e.launch(app.Options{Config: cfg, Clock: clk, NoWatch: true, LogFormat: "json"})

	if resp, body := e.Post("/v1/chat/completions", chatBody("m", true)); resp.StatusCode != 200 {
		t.Fatalf("stream: got %d %s, want 200", resp.StatusCode, body)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("d", false)); resp.StatusCode < 500 {
		t.Fatalf("dead backend: got %d, want a 5xx", resp.StatusCode)
	}
	e.Logs.WaitFor(t, `"msg":"circuit breaker opened"`)

	want := map[string][]string{
		"request":                {"ttft_s", "duration_s", "overhead_s"},
		"circuit breaker opened": {"open_for_s"},
	}
	seen := map[string]bool{}
	for _, line := range ohJSONLines(t, e.Logs.String()) {
		msg, _ := line["msg"].(string)
		for key, v := range line {
			base := strings.TrimSuffix(key, "_s")
			if base == "ttft" || base == "duration" || base == "overhead" || base == "open_for" || base == "grace" {
				if key == base {
					t.Errorf("%q line: duration key %q without the _s suffix: %v", msg, key, v)
				}
				if _, ok := v.(float64); !ok {
					t.Errorf("%q line: %s is %T %v, want a number of seconds", msg, key, v, v)
				}
			}
		}
		for _, key := range want[msg] {
			v, ok := line[key].(float64)
			if !ok {
				t.Errorf("%q line: no number %s in %v", msg, key, line)
				continue
			}
			// Seconds, not nanoseconds: every duration here is under a minute.
			if v < 0 || v > 60 {
				t.Errorf("%q line: %s = %v, want seconds", msg, key, v)
			}
			seen[msg] = true
		}
	}
	for msg := range want {
		if !seen[msg] {
			t.Errorf("no %q line in the logs:\n%s", msg, e.Logs.String())
		}
	}
	// The breaker opened for circuit_breaker.timeout (30s) exactly.
	if line := e.Logs.WaitFor(t, `"msg":"circuit breaker opened"`); !strings.Contains(line, `"open_for_s":30`) {
		t.Errorf("breaker line %s: want open_for_s 30", line)
	}
}
