package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

func TestSplitLimits(t *testing.T) {
	for _, tt := range []struct {
		in   config.RateSpec
		n    int
		want config.RateSpec
	}{
		{config.RateSpec{RequestsPerSecond: 10, BurstCapacity: 20}, 1, config.RateSpec{RequestsPerSecond: 10, BurstCapacity: 20}},
		{config.RateSpec{RequestsPerSecond: 10, BurstCapacity: 20}, 2, config.RateSpec{RequestsPerSecond: 5, BurstCapacity: 10}},
		{config.RateSpec{RequestsPerSecond: 10, BurstCapacity: 7}, 2, config.RateSpec{RequestsPerSecond: 5, BurstCapacity: 4}},    // burst rounded up
		{config.RateSpec{RequestsPerSecond: 10}, 4, config.RateSpec{RequestsPerSecond: 2.5, BurstCapacity: 3}},                    // default burst ceil(10), split
		{config.RateSpec{RequestsPerSecond: 1, BurstCapacity: 1}, 8, config.RateSpec{RequestsPerSecond: 0.125, BurstCapacity: 1}}, // at least 1
		{config.RateSpec{}, 4, config.RateSpec{}}, // unlimited stays unlimited
		{config.RateSpec{TokensPerMinute: 600, TokenBurst: 1000}, 2, config.RateSpec{TokensPerMinute: 300, TokenBurst: 500}},
	} {
		if got := splitRate(tt.in, tt.n); got != tt.want && tt.n > 1 || tt.n == 1 && got != tt.in {
			t.Errorf("splitRate(%+v, %d): got %+v, want %+v", tt.in, tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct{ v, n, want int }{{0, 4, 0}, {10, 1, 10}, {10, 2, 5}, {10, 3, 4}, {1, 4, 1}} {
		if got := splitCount(tt.v, tt.n); got != tt.want {
			t.Errorf("splitCount(%d, %d): got %d, want %d", tt.v, tt.n, got, tt.want)
		}
	}
}

// TestWorkerLimitsSplit: a worker of two enforces half of every in-memory
// limit; the single-process router the whole.
func TestWorkerLimitsSplit(t *testing.T) {
	src := `
server:
  max_concurrent_requests: 5
rate_limiting:
  enabled: true
  limits:
    global: {requests_per_second: 10, burst_capacity: 7}
api_keys:
  mode: permissive
  api_keys:
    - {key: sk-own, id: own, rate_limit: {requests_per_second: 1, burst_capacity: 6}}
backends:
  - {name: a, url: "http://127.0.0.1:9", models: [m]}
`
	cfg, _, err := config.Parse([]byte(src), "split.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		worker                 Worker
		global, own, inFlights int
	}{
		{Worker{}, 7, 6, 5},
		{Worker{Index: 1, Count: 2, Dir: t.TempDir()}, 4, 3, 3},
	} {
		z := newZeroRouterWith(t, cfg, tt.worker)
		if got := allowedInARow(t, z, "", 50); got != tt.global {
			t.Errorf("workers %d: global burst admits %d in a row, want %d", tt.worker.Count, got, tt.global)
		}
		if got := allowedInARow(t, newZeroRouterWith(t, cfg, tt.worker), "sk-own", 50); got != tt.own {
			t.Errorf("workers %d: the key's own burst admits %d in a row, want %d", tt.worker.Count, got, tt.own)
		}
		if got := z.a.guard.gate.Max(); got != tt.inFlights {
			t.Errorf("workers %d: concurrency gate %d, want %d", tt.worker.Count, got, tt.inFlights)
		}
	}
}

func newZeroRouterWith(t *testing.T, cfg *config.Config, w Worker) zeroRouter {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	a, err := New(Options{Config: cfg, Clock: clk, LogOutput: io.Discard, Worker: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.cancel()
		for _, m := range a.rt.Load().members {
			m.client.Close()
		}
	})
	return zeroRouter{a: a, clk: clk, m: a.rt.Load().members[0]}
}

// TestWorkersInProcess runs two workers in this process (no master): each
// stamps its answers, and /metrics on either counts both workers' requests
// until one stops.
func TestWorkersInProcess(t *testing.T) {
	backend := httptest.NewServer(mock.New(mock.Options{Models: []string{"m"}}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.HealthChecks.Enabled = false
	b := cfg.NewBackend("a", backend.URL)
	b.Models = []string{"m"}
	b.HealthChecks.Enabled = false
	cfg.Backends = append(cfg.Backends, b)

	apps := make([]*App, 2)
	urls := make([]string, 2)
	for i := range apps {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(Options{Config: cfg, Listeners: []net.Listener{ln}, LogOutput: io.Discard, NoWatch: true,
			Worker: Worker{Index: i, Count: 2, Dir: dir}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		apps[i], urls[i] = a, "http://"+ln.Addr().String()
	}
	stop := func(i int) {
		if apps[i] == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := apps[i].Shutdown(ctx); err != nil {
			t.Errorf("shutdown worker %d: %v", i, err)
		}
		apps[i] = nil
	}
	t.Cleanup(func() { stop(0); stop(1) })

	send := func(i, n int) {
		for range n {
			resp, err := http.Post(urls[i]+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Worker") != string(rune('0'+i)) {
				t.Fatalf("worker %d: status %d, X-Continuum-Worker %q", i, resp.StatusCode, resp.Header.Get("X-Continuum-Worker"))
			}
		}
	}
	send(0, 3)
	send(1, 5)
	scrape := func(i int) string {
		resp, err := http.Get(urls[i] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	requests := regexp.MustCompile(`(?m)^continuum_requests_total\{backend="a",endpoint="chat_completions",model="m",status="200"\} (\d+)$`)
	for i := range 2 {
		body := scrape(i)
		if m := requests.FindStringSubmatch(body); m == nil || m[1] != "8" {
			t.Errorf("scrape of worker %d: requests %v, want 8", i, m)
		}
		if !strings.Contains(body, "\ncontinuum_workers_up 2\n") {
			t.Errorf("scrape of worker %d: continuum_workers_up is not 2", i)
		}
	}
	stop(1)
	body := scrape(0)
	if m := requests.FindStringSubmatch(body); m == nil || m[1] != "3" {
		t.Errorf("with worker 1 gone: requests %v, want worker 0's 3", m)
	}
	if !strings.Contains(body, "\ncontinuum_workers_up 1\n") {
		t.Errorf("with worker 1 gone: continuum_workers_up is not 1")
	}
}
