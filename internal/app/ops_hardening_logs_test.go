package app_test

// Hardening (operations): what the logs say, in JSON and in text, and how
// often.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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

// ohReloadYAML is a configuration with one backend; broken adds two
// problems to it.
func ohReloadYAML(url string, broken bool) string {
	y := `health_checks: { enabled: false }
admin:
  auth: { method: bearer_token, token: reload-admin-token }
backends:
  - name: a
    url: ` + url + `
    models: [m]
`
	if broken {
		y += "    weight: 0\n    modles: [n]\n"
	}
	return y
}

// ohCheckReloadLogs checks that the logs hold exactly one error line, for
// the failed reload by trigger, and that each of the broken file's problems
// is written once.
func ohCheckReloadLogs(t *testing.T, logs, path, trigger string) {
	t.Helper()
	var errLines []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "level=ERROR") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "trigger="+trigger) {
		t.Errorf("got %d error lines, want 1 with trigger=%s:\n%s", len(errLines), trigger, strings.Join(errLines, "\n"))
	}
	broken := ohReloadYAML("x", true)
	for _, word := range []string{"weight: 0", "modles"} {
		line, col := opsLineCol(t, broken, word)
		if word == "weight: 0" {
			col += len("weight: ")
		}
		at := fmt.Sprintf("%s:%d:%d", path, line, col)
		if n := strings.Count(logs, at); n != 1 {
			t.Errorf("the problem at %s is written %d times, want once:\n%s", at, n, logs)
		}
	}
}

// TestOpsHardeningFailedReloadLoggedOnce: a failed reload is one error line
// with each problem once, whichever way it was asked for.
func TestOpsHardeningFailedReloadLoggedOnce(t *testing.T) {
	t.Parallel()
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})

	t.Run("admin", func(t *testing.T) {
		t.Parallel()
		e, path := opsStartFile(t, ohReloadYAML(a.URL, false), opsFileSetup{})
		opsWriteConfig(t, path, ohReloadYAML(a.URL, true))
		if resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth); resp.StatusCode != 422 {
			t.Fatalf("reload: got %d %s, want 422", resp.StatusCode, body)
		}
		ohCheckReloadLogs(t, e.Logs.String(), path, "admin")
	})

	t.Run("file", func(t *testing.T) {
		t.Parallel()
		clk := clock.NewFake(time.Time{})
		e, path := opsStartFile(t, ohReloadYAML(a.URL, false), opsFileSetup{Clock: clk, Watch: true})
		pending := clk.Pending()
		opsWriteConfig(t, path, ohReloadYAML(a.URL, true))
		opsAwaitWatch(t, clk, pending)
		e.Logs.WaitFor(t, "configuration reload failed")
		// A good edit afterwards: once it is logged, everything the failed
		// one logs has been written.
		pending = clk.Pending()
		opsWriteConfig(t, path, ohReloadYAML(a.URL, false)+"selection_strategy: random\n")
		opsAwaitWatch(t, clk, pending)
		e.Logs.WaitFor(t, "configuration reloaded", "trigger=file")
		ohCheckReloadLogs(t, e.Logs.String(), path, "file")
	})

	t.Run("signal", func(t *testing.T) {
		t.Parallel()
		path := rtWriteFile(t, "config.yaml", "server: { bind_address: \"127.0.0.1:0\" }\n"+ohReloadYAML(a.URL, false))
		hup := make(chan os.Signal)
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		exit := make(chan int, 1)
		go func() {
			exit <- app.Main(ctx, []string{"serve", "-c", path, "--no-watch"}, app.Env{Stdout: &stdout, Stderr: &stderr, Getenv: rtNoEnv, Reload: hup})
		}()
		defer func() {
			cancel()
			if code := <-exit; code != 0 {
				t.Errorf("serve: exit code %d, want 0", code)
			}
		}()
		stderr.WaitFor(t, "msg=listening")
		opsWriteConfig(t, path, "server: { bind_address: \"127.0.0.1:0\" }\n"+ohReloadYAML(a.URL, true))
		hup <- syscall.SIGHUP
		stderr.WaitFor(t, "configuration reload failed")
		// A good reload afterwards: the signal loop handles it once the
		// first one, and whatever it logs, is done.
		opsWriteConfig(t, path, "server: { bind_address: \"127.0.0.1:0\" }\n"+ohReloadYAML(a.URL, false))
		hup <- syscall.SIGHUP
		stderr.WaitFor(t, "configuration reloaded", "trigger=signal")
		// The file has one line more at the top than ohReloadYAML's.
		logs := strings.ReplaceAll(stderr.String(), path+":", "FILE:")
		shifted := regexp.MustCompile(`FILE:(\d+):`).ReplaceAllStringFunc(logs, func(s string) string {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, "FILE:"), ":"))
			return fmt.Sprintf("%s:%d:", path, n-1)
		})
		ohCheckReloadLogs(t, shifted, path, "signal")
	})
}
