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

// The limits of the phases, per API key (a key's own rate_limit). The load
// generator offers four times each limit, paced: enough to keep every
// bucket empty, little enough that the machine (2 cores shared with the
// routers, Redis and other test binaries) does not starve a replica. The
// outage's burst is a second's worth, so a replica descheduled for less
// than a second loses no capacity.
const (
	reqRate, reqBurst = 200.0, 100 // requests phase: R per second, B
	tokRate, tokBurst = 5000, 5000 // tokens phase: R tokens per second, B
	outRate, outBurst = 300.0, 300 // outage phase
	streamTokens      = 100        // tokens per streamed completion
	overload          = 4          // offered load, in multiples of the limit
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

// outcome is one request of the load generator. The router admitted or
// refused it between sent and answered (its response header).
type outcome struct {
	sent, answered time.Time
	status         int // 0: transport error
	tokens         int // usage reported in a stream
}

// flood sends requests with key over the replicas' addresses, rotating, from
// workers goroutines, at most rate per second, until stop is closed. It
// returns every outcome and when the first request was sent.
func flood(t *testing.T, addrs []string, key, body string, workers int, rate float64, stop <-chan struct{}) ([]outcome, time.Time) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	pace := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer pace.Stop()
	began := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []outcome
			defer func() {
				mu.Lock()
				out = append(out, local...)
				mu.Unlock()
			}()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addrs[i%len(addrs)]+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				o := outcome{sent: time.Now()}
				resp, err := client.Do(req)
				o.answered = time.Now()
				if err != nil {
					local = append(local, o)
					continue
				}
				o.status = resp.StatusCode
				if resp.StatusCode == 200 && strings.Contains(body, `"stream":true`) {
					o.tokens = streamUsage(resp.Body)
				} else {
					io.Copy(io.Discard, resp.Body)
				}
				resp.Body.Close()
				local = append(local, o)
			}
		}()
	}
	wg.Wait()
	return out, began
}

// floodFor floods for d and returns the outcomes.
func floodFor(t *testing.T, addrs []string, key, body string, workers int, rate float64, d time.Duration) []outcome {
	t.Helper()
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	out, _ := flood(t, addrs, key, body, workers, rate, stop)
	return out
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

// tally counts outcomes: admitted, refused, failed, and the tokens of
// admitted streams.
type tally struct{ ok, refused, failed, tokens int }

func (c *tally) add(o outcome) {
	switch o.status {
	case 200:
		c.ok++
		c.tokens += o.tokens
	case 429:
		c.refused++
	default:
		c.failed++
	}
}

// span returns the bounds of how long a flood's admissions lasted, as the
// client can know it: each admission happened between its request's sending
// and its answer, so the admissions spanned at least lo (the last admitted
// request's sending after the first one's answer) and at most hi (the last
// answer after the first sending). With answers in a millisecond the two
// agree; when the machine is loaded they bracket the span.
func span(out []outcome) (lo, hi time.Duration) {
	var firstSent, firstAnswer, lastSent, lastAnswer time.Time
	for _, o := range out {
		if o.status != 200 {
			continue
		}
		if firstSent.IsZero() || o.sent.Before(firstSent) {
			firstSent = o.sent
		}
		if firstAnswer.IsZero() || o.answered.Before(firstAnswer) {
			firstAnswer = o.answered
		}
		if o.sent.After(lastSent) {
			lastSent = o.sent
		}
		if o.answered.After(lastAnswer) {
			lastAnswer = o.answered
		}
	}
	return max(0, lastSent.Sub(firstAnswer)), lastAnswer.Sub(firstSent)
}

// window counts the outcomes decided within [from, to): surely (sent and
// answered inside) and possibly (answered after from and sent before to).
func window(out []outcome, from, to time.Time) (surely, possibly tally) {
	for _, o := range out {
		if !o.sent.Before(from) && o.answered.Before(to) {
			surely.add(o)
		}
		if !o.answered.Before(from) && o.sent.Before(to) {
			possibly.add(o)
		}
	}
	return surely, possibly
}

// checkRate checks admitted units (requests or tokens) against B + R·T for
// the bounds of T, with a relative tolerance: some T between lo and hi must
// fit.
func checkRate(t *testing.T, what string, got int, burst, rate float64, lo, hi time.Duration, tolerance float64) {
	t.Helper()
	wantLo, wantHi := burst+rate*lo.Seconds(), burst+rate*hi.Seconds()
	mid := (wantLo + wantHi) / 2
	t.Logf("%s: %d against B + R·T = %.1f (%+.2f %%; T between %v and %v, B + R·T between %.1f and %.1f)",
		what, got, mid, 100*(float64(got)-mid)/mid, lo.Round(time.Millisecond), hi.Round(time.Millisecond), wantLo, wantHi)
	if float64(got) < wantLo*(1-tolerance) || float64(got) > wantHi*(1+tolerance) {
		t.Errorf("%s: %d, want B + R·T ± %.0f %%: between %.1f and %.1f", what, got, 100*tolerance, wantLo*(1-tolerance), wantHi*(1+tolerance))
	}
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
		out := floodFor(t, addrs, "sk-requests", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 32, overload*reqRate, 4*time.Second)
		var c tally
		for _, o := range out {
			c.add(o)
		}
		lo, hi := span(out)
		t.Logf("3 replicas, one limit of R = %g/s, B = %d: %d requests, %d admitted, %d refused, %d failed", reqRate, reqBurst, len(out), c.ok, c.refused, c.failed)
		if c.failed > 0 {
			t.Errorf("%d requests failed", c.failed)
		}
		if c.refused < c.ok {
			t.Fatalf("only %d refused: the load did not exceed the limit", c.refused)
		}
		checkRate(t, "admitted requests", c.ok, reqBurst, reqRate, lo, hi, 0.01)
	})

	t.Run("tokens", func(t *testing.T) {
		body := fmt.Sprintf(`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":%d,"messages":[{"role":"user","content":"hi"}]}`, streamTokens)
		out := floodFor(t, addrs, "sk-tokens", body, 32, overload*tokRate/streamTokens, 4*time.Second)
		var c tally
		for _, o := range out {
			c.add(o)
			if o.status == 200 && o.tokens < 0 {
				t.Fatal("an admitted stream ended without its usage chunk or [DONE]")
			}
		}
		lo, hi := span(out)
		t.Logf("3 replicas, TPM %d over streams of %d tokens: %d streams admitted, %d refused, %d failed", tokRate*60, streamTokens, c.ok, c.refused, c.failed)
		if c.failed > 0 {
			t.Errorf("%d requests failed", c.failed)
		}
		if c.refused == 0 {
			t.Fatal("no stream refused: the load did not exceed the limit")
		}
		checkRate(t, "tokens used", c.tokens, tokBurst, tokRate, lo, hi, 0.02)
	})

	t.Run("outage", func(t *testing.T) {
		stop := make(chan struct{})
		var out []outcome
		done := make(chan struct{})
		go func() {
			defer close(done)
			out, _ = flood(t, addrs, "sk-outage", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 32, overload*outRate, stop)
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
		// The local buckets were in use until the breakers' probes found
		// Redis back (up to 500 ms after the restart): let them fill again
		// (a second at 100/s per replica) before the next outage.
		time.Sleep(2 * time.Second)
		paused := time.Now()
		srv.Pause()
		time.Sleep(2 * time.Second)
		resumed := time.Now()
		srv.Resume()
		time.Sleep(500 * time.Millisecond)
		close(stop)
		<-done

		var all tally
		for _, o := range out {
			all.add(o)
		}
		t.Logf("%d requests across the outages: %d admitted, %d refused, %d failed", len(out), all.ok, all.refused, all.failed)
		if all.failed > 0 {
			t.Errorf("%d of %d requests failed across the outages, want 0", all.failed, len(out))
		}
		for _, w := range []struct {
			name     string
			from, to time.Time
		}{{"killed", killed, restarted}, {"hung (SIGSTOP)", paused, resumed}} {
			surely, possibly := window(out, w.from, w.to)
			d := w.to.Sub(w.from).Seconds()
			want := outBurst + outRate*d
			t.Logf("redis %s for %.2fs: admitted %d to %d (%.0f/s) against B + R·Δ = %.1f (%+.2f %%), refused %d",
				w.name, d, surely.ok, possibly.ok, float64(surely.ok)/d, want, 100*(float64(surely.ok)-want)/want, surely.refused)
			if surely.refused == 0 {
				t.Errorf("redis %s: nothing refused, the load did not exceed the local limits", w.name)
				continue
			}
			if float64(possibly.ok) < want*0.95 || float64(surely.ok) > want*1.05 {
				t.Errorf("redis %s: admitted %d to %d, want %.1f ± 5 %%", w.name, surely.ok, possibly.ok, want)
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
