package main

// End-to-end tests of the real binary: signals reach the process exactly as
// an operator sends them (kill -TERM, kill -HUP).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/mock"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "continuum-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "continuum")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running continuum process whose JSON log lines are collected.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	more  chan struct{}
	done  chan error
}

func run(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "CONTINUUM_LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, more: make(chan struct{}, 1), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			_ = json.Unmarshal(sc.Bytes(), &m)
			p.mu.Lock()
			p.lines = append(p.lines, m)
			p.raw = append(p.raw, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("process log:\n%s", strings.Join(p.raw, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// waitLog waits for a log line whose msg is msg and whose fields match.
func (p *proc) waitLog(t *testing.T, msg string, fields map[string]string) map[string]any {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			l := p.lines[seen]
			if l["msg"] != msg {
				continue
			}
			ok := true
			for k, v := range fields {
				if fmt.Sprint(l[k]) != v {
					ok = false
				}
			}
			if ok {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline.C:
			t.Fatalf("no log line %q %v within 15s", msg, fields)
		}
	}
}

func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("process did not exit")
		return -1
	}
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func backendYAML(name, url, model string) string {
	return fmt.Sprintf("  - name: %s\n    url: %s\n    models: [%s]\n", name, url, model)
}

func mockServer(t *testing.T, opts mock.Options) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(mock.New(opts))
	t.Cleanup(srv.Close)
	return srv
}

func TestSIGTERMLetsStreamsFinish(t *testing.T) {
	backend := mockServer(t, mock.Options{Models: []string{"m"}, TokenDelay: 50 * time.Millisecond, Tokens: 20})
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, cfg, "server:\n  bind_address: 127.0.0.1:0\n  shutdown_timeout: 30s\nhealth_checks:\n  enabled: false\nbackends:\n"+backendYAML("a", backend.URL, "m"))
	p := run(t, "serve", "-c", cfg)
	addr := p.waitLog(t, "listening", nil)["address"].(string)

	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // the first event has arrived
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down", nil)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream broken by shutdown: %v", err)
	}
	if !strings.Contains(string(rest), "tok19") || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("stream did not finish: %q", rest)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
}

func TestSIGHUPReloads(t *testing.T) {
	a := mockServer(t, mock.Options{Models: []string{"m1"}})
	b := mockServer(t, mock.Options{Models: []string{"m2"}})
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	base := "server:\n  bind_address: 127.0.0.1:0\nhealth_checks:\n  enabled: false\nbackends:\n"
	writeConfig(t, cfg, base+backendYAML("a", a.URL, "m1"))
	p := run(t, "serve", "-c", cfg, "--no-watch")
	addr := p.waitLog(t, "listening", nil)["address"].(string)
	models := func() string {
		resp, err := http.Get("http://" + addr + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if m := models(); strings.Contains(m, `"m2"`) {
		t.Fatalf("m2 listed before the reload: %s", m)
	}

	// A broken file is refused with file:line:col and the old config keeps serving.
	writeConfig(t, cfg, base+backendYAML("a", a.URL, "m1")+"  - name: b\n    url: "+b.URL+"\n    modles: [m2]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	l := p.waitLog(t, "invalid configuration", nil)
	if d := fmt.Sprint(l["detail"]); !strings.Contains(d, cfg+":") || !strings.Contains(d, "did you mean") {
		t.Fatalf("reload error lacks file:line or a suggestion: %s", d)
	}
	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m1","messages":[]}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("old config not serving after a failed reload: %v %v", resp, err)
	}
	resp.Body.Close()

	writeConfig(t, cfg, base+backendYAML("a", a.URL, "m1")+backendYAML("b", b.URL, "m2"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "configuration reloaded", map[string]string{"trigger": "signal"})
	if m := models(); !strings.Contains(m, `"m2"`) || !strings.Contains(m, `"m1"`) {
		t.Fatalf("models after reload: %s", m)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
}

func TestCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeConfig(t, good, "backends:\n  - name: a\n    url: http://127.0.0.1:9\n")
	writeConfig(t, bad, "backends:\n  - name: a\n    url: http://127.0.0.1:9\n    wieght: 2\n")
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check", "-c", good}, 0, "configuration is valid"},
		{[]string{"check", "-c", bad}, 1, bad + ":4:5:"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"version"}, 0, "continuum"},
	} {
		out, err := exec.CommandContext(context.Background(), binary, tt.args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("%v: exit %d output %q; want exit %d containing %q", tt.args, code, out, tt.code, tt.out)
		}
	}
}
