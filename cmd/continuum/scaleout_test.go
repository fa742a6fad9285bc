package main

// Scale-out with the real binary (issue 10): three `continuum serve`
// processes share one Redis and one mock backend; a load generator floods
// them, rotating over their ports. Each phase uses its own API key, whose
// limit is the one measured:
//
//   - requests: admitted 200s against B + R·T (±1 %);
//   - tokens: a TPM limit over streams, tokens used against B + R·T (±2 %);
//   - outage: Redis SIGKILLed, restarted, then SIGSTOPped: no failed
//     request, and the admitted rate while Redis is away within ±5 % of the
//     local policy's B + R·Δ (each replica limits at R/3 and B/3);
//   - reload: SIGHUP on one replica, visible on the two others' /ready
//     within 1 s.
//
// Real time, about 20 s in all. Skipped without redis-server unless
// CONTINUUM_REQUIRE_REDIS=1.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/mock"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/redistest"
)

// The limits of the phases, per API key (a key's own rate_limit).
const (
	reqRate, reqBurst = 200.0, 100   // requests phase: R per second, B
	tokRate, tokBurst = 10000, 10000 // tokens phase: R tokens per second, B
	outRate, outBurst = 300.0, 30    // outage phase
	streamTokens      = 200          // tokens per streamed completion
)

func scaleoutConfig(redisURL, backendURL string, extra string) string {
	return fmt.Sprintf(`server:
  shutdown_timeout: 1s
logging: {level: warn}
health_checks: {enabled: false}
backends:
  - {name: mock, url: %q, models: [m]}
api_keys:
  mode: blocking
  api_keys:
    - {key: sk-requests, id: requests, rate_limit: {requests_per_second: %g, burst_capacity: %d}}
    - {key: sk-tokens, id: tokens, rate_limit: {tokens_per_minute: %d, token_burst: %d}}
    - {key: sk-outage, id: outage, rate_limit: {requests_per_second: %g, burst_capacity: %d}}
rate_limiting:
  storage: redis
  redis: {url: %q, timeout: 50ms, heartbeat_ttl: 600ms}
  failure_policy: local
%s`, backendURL, reqRate, reqBurst, tokRate*60, tokBurst, outRate, outBurst, redisURL, extra)
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// readyInfo reads a replica's /ready.
func readyInfo(addr string) (version string, replicas int, err error) {
	resp, err := http.Get("http://" + addr + "/ready")
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var r struct {
		ConfigVersion string `json:"config_version"`
		Replicas      int    `json:"replicas"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", 0, err
	}
	return r.ConfigVersion, r.Replicas, nil
}

// outcome is one response the load generator got.
type outcome struct {
	at     time.Time // when the answer was read
	status int       // 0: transport error
	tokens int       // usage reported in a stream
}

// flood sends requests with key over the replicas' addresses, rotating, from
// workers goroutines, until stop is closed. It returns every outcome and
// when the first request was sent.
func flood(t *testing.T, addrs []string, key, body string, workers int, stop <-chan struct{}) ([]outcome, time.Time) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	began := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []outcome
			for i := w; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					out = append(out, local...)
					mu.Unlock()
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addrs[i%len(addrs)]+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					local = append(local, outcome{at: time.Now()})
					continue
				}
				o := outcome{status: resp.StatusCode}
				if resp.StatusCode == 200 && strings.Contains(body, `"stream":true`) {
					o.tokens = streamUsage(resp.Body)
				} else {
					io.Copy(io.Discard, resp.Body)
				}
				resp.Body.Close()
				o.at = time.Now()
				local = append(local, o)
			}
		}()
	}
	wg.Wait()
	return out, began
}

// streamUsage reads a stream to its end and returns the total tokens of
// its usage chunk (-1 without one, or when the stream did not end with
// [DONE]).
func streamUsage(r io.Reader) int {
	total, done := -1, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimPrefix(sc.Bytes(), []byte("data: "))
		if bytes.Equal(line, []byte("[DONE]")) {
			done = true
		}
		if u, ok := openai.ParseUsage(line); ok && openai.UsageOnlyChunk(line) {
			total = u.TotalTokens
		}
	}
	if !done {
		return -1
	}
	return total
}

// count tallies outcomes within [from, to): admitted, refused, failed, and
// the tokens of admitted streams.
func count(out []outcome, from, to time.Time) (ok, refused, failed, tokens int) {
	for _, o := range out {
		if o.at.Before(from) || !o.at.Before(to) {
			continue
		}
		switch o.status {
		case 200:
			ok++
			tokens += o.tokens
		case 429:
			refused++
		default:
			failed++
		}
	}
	return
}

func within(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*want
}

func TestScaleOut(t *testing.T) {
	srv := redistest.Start(t)
	backend := mockServer(t, mock.Options{Models: []string{"m"}, Tokens: streamTokens})
	dir := t.TempDir()
	addrs := freePorts(t, 3)
	paths := make([]string, 3)
	procs := make([]*proc, 3)
	for i := range procs {
		paths[i] = filepath.Join(dir, fmt.Sprintf("replica%d.yaml", i))
		writeConfig(t, paths[i], scaleoutConfig(srv.URL(), backend.URL, ""))
		procs[i] = run(t, "serve", "-c", paths[i], "--listen", addrs[i], "--no-watch")
	}
	// Every replica up and counting three replicas (the N of the local
	// policy), so that an outage divides each limit by 3.
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			if _, n, err := readyInfo(addr); err == nil && n == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s did not come up counting 3 replicas", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("requests", func(t *testing.T) {
		const T = 4 * time.Second
		stop := make(chan struct{})
		time.AfterFunc(T, func() { close(stop) })
		out, began := flood(t, addrs, "sk-requests", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 16, stop)
		elapsed := time.Since(began)
		ok, refused, failed, _ := count(out, began, time.Now().Add(time.Hour))
		want := reqBurst + reqRate*elapsed.Seconds()
		t.Logf("3 replicas, %d requests in %v (%.0f/s): admitted %d against B + R·T = %.1f (%+.2f %%), refused %d, failed %d",
			len(out), elapsed.Round(time.Millisecond), float64(len(out))/elapsed.Seconds(), ok, want, 100*(float64(ok)-want)/want, refused, failed)
		if failed > 0 {
			t.Errorf("%d requests failed", failed)
		}
		if !within(float64(ok), want, 0.01) {
			t.Errorf("admitted %d, want %.1f ± 1 %%", ok, want)
		}
		if refused < ok {
			t.Errorf("only %d refused: the load did not exceed the limit", refused)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		const T = 4 * time.Second
		stop := make(chan struct{})
		time.AfterFunc(T, func() { close(stop) })
		body := fmt.Sprintf(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":%d,"messages":[{"role":"user","content":"hi"}]}`, streamTokens)
		out, began := flood(t, addrs, "sk-tokens", body, 12, stop)
		elapsed := time.Since(began)
		ok, refused, failed, tokens := count(out, began, time.Now().Add(time.Hour))
		want := tokBurst + tokRate*elapsed.Seconds()
		t.Logf("3 replicas, TPM %d over streams: %d streams admitted using %d tokens against B + R·T = %.0f (%+.2f %%); refused %d, failed %d",
			tokRate*60, ok, tokens, want, 100*(float64(tokens)-want)/want, refused, failed)
		if failed > 0 {
			t.Errorf("%d requests failed", failed)
		}
		for _, o := range out {
			if o.status == 200 && o.tokens < 0 {
				t.Fatal("an admitted stream ended without its usage chunk or [DONE]")
			}
		}
		if !within(float64(tokens), want, 0.02) {
			t.Errorf("tokens used %d, want %.0f ± 2 %%", tokens, want)
		}
	})

	t.Run("outage", func(t *testing.T) {
		stop := make(chan struct{})
		var out []outcome
		done := make(chan struct{})
		go func() {
			defer close(done)
			out, _ = flood(t, addrs, "sk-outage", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 16, stop)
		}()
		time.Sleep(time.Second)
		// The windows open as the signal is sent: under this load the local
		// buckets' burst is gone within milliseconds.
		killed := time.Now()
		srv.Kill()
		time.Sleep(2 * time.Second)
		restarted := time.Now()
		srv.Restart()
		// Wait until the replicas count each other again (their heartbeats
		// after the restart), then hang Redis.
		for _, addr := range addrs {
			for {
				if _, n, err := readyInfo(addr); err == nil && n == 3 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		time.Sleep(time.Second)
		paused := time.Now()
		srv.Pause()
		time.Sleep(2 * time.Second)
		resumed := time.Now()
		srv.Resume()
		time.Sleep(500 * time.Millisecond)
		close(stop)
		<-done

		_, _, failed, _ := count(out, time.Time{}, time.Now().Add(time.Hour))
		if failed > 0 {
			t.Errorf("%d of %d requests failed across the outages, want 0", failed, len(out))
		}
		for _, w := range []struct {
			name     string
			from, to time.Time
		}{{"killed", killed, restarted}, {"hung (SIGSTOP)", paused, resumed}} {
			ok, refused, _, _ := count(out, w.from, w.to)
			d := w.to.Sub(w.from).Seconds()
			want := outBurst + outRate*d
			t.Logf("redis %s for %.2fs: admitted %d (%.0f/s) against B + R·Δ = %.1f (%+.2f %%), refused %d",
				w.name, d, ok, float64(ok)/d, want, 100*(float64(ok)-want)/want, refused)
			if !within(float64(ok), want, 0.05) {
				t.Errorf("redis %s: admitted %d, want %.1f ± 5 %%", w.name, ok, want)
			}
		}
	})

	t.Run("reload", func(t *testing.T) {
		before, _, err := readyInfo(addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		writeConfig(t, paths[0], scaleoutConfig(srv.URL(), backend.URL, "model_aliases: {gpt-4o-mini: m}\n"))
		if err := procs[0].cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		var after string
		for after == "" || after == before {
			if after, _, err = readyInfo(addrs[0]); err != nil {
				t.Fatal(err)
			}
			if time.Since(sent) > 10*time.Second {
				t.Fatal("replica 1 did not reload")
			}
			time.Sleep(2 * time.Millisecond)
		}
		reloaded := time.Now()
		for i, addr := range addrs[1:] {
			for {
				v, _, err := readyInfo(addr)
				if err != nil {
					t.Fatal(err)
				}
				if v == after {
					break
				}
				if time.Since(reloaded) > time.Second {
					t.Fatalf("replica %d still runs version %.12s 1s after replica 1 applied %.12s", i+2, v, after)
				}
				time.Sleep(2 * time.Millisecond)
			}
			t.Logf("replica %d applied version %.12s %v after replica 1 did", i+2, after, time.Since(reloaded).Round(100*time.Microsecond))
		}
		// The other replicas serve the new alias.
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addrs[2]+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer sk-requests")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 404 {
			t.Error("replica 3 does not know the alias the reload added")
		}
		if data, _ := os.ReadFile(paths[2]); strings.Contains(string(data), "gpt-4o-mini") {
			t.Error("replica 3 wrote its configuration file")
		}
	})
}
