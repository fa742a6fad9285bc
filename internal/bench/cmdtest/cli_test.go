// Package cmdtest tests `continuum bench` through app.Main. It lives apart
// from package bench so that the bench tests do not depend on the whole
// application building.
package cmdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/bench"
	"github.com/continuumhq/continuum/internal/mock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// benchMain runs `continuum bench args…` and returns its exit code, stdout
// and stderr.
func benchMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	noEnv := func(string) (string, bool) { return "", false }
	code = app.Main(ctx, append([]string{"bench"}, args...), app.Env{Stdout: &out, Stderr: &errOut, Getenv: noEnv})
	return code, out.String(), errOut.String()
}

func startMock(t *testing.T, opts mock.Options) (*mock.Server, string) {
	t.Helper()
	m := mock.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// --help prints the usage on stdout and exits 0, like every command's.
func TestBenchHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		code, stdout, stderr := benchMain(t, flag)
		if code != app.ExitOK || !strings.Contains(stdout, "Usage: continuum bench") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and the usage on stdout", flag, code, stdout, stderr)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"--model", "m", "--bogus"}, app.ExitUsage, "flag provided but not defined: -bogus"},
		{"missing model", []string{"--url", "http://127.0.0.1:1"}, app.ExitUsage, "--model is required"},
		{"both loops", []string{"--model", "m", "--rate", "5", "--concurrency", "2"}, app.ExitUsage, "not both"},
		{"unknown endpoint", []string{"--model", "m", "--endpoint", "images"}, app.ExitUsage, `endpoint "images"`},
		{"poisson without rate", []string{"--model", "m", "--poisson"}, app.ExitUsage, "poisson arrivals need a rate"},
		{"bad url", []string{"--model", "m", "--url", "localhost:8080"}, app.ExitUsage, "url"},
		{"prompts and prompt tokens", []string{"--model", "m", "--prompts", "x.jsonl", "--prompt-tokens", "5"}, app.ExitUsage, "exclude each other"},
		{"stray argument", []string{"--model", "m", "extra"}, app.ExitUsage, `unexpected argument "extra"`},
		{"missing prompts file", []string{"--model", "m", "--prompts", "/nonexistent/prompts.jsonl"}, app.ExitFailure, "open prompts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := benchMain(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestBenchBadPromptsFile(t *testing.T) {
	path := writeTemp(t, "prompts.jsonl", "{\"prompt\":\"a\"}\nnot json\n")
	code, _, stderr := benchMain(t, "--model", "m", "--prompts", path)
	if code != app.ExitFailure || !strings.Contains(stderr, "line 2") {
		t.Errorf("got exit %d and stderr %q, want %d and an error naming line 2", code, stderr, app.ExitFailure)
	}
}

func TestBenchRunWritesReports(t *testing.T) {
	_, url := startMock(t, mock.Options{})
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	code, stdout, stderr := benchMain(t, "--url", url+"/v1", "--model", mock.DefaultModel, "--requests", "20", "--concurrency", "2",
		"--stream", "--max-tokens", "4", "--json", jsonPath, "--html", htmlPath)
	if code != app.ExitOK {
		t.Fatalf("exit code: got %d, want 0 (stderr %q)", code, stderr)
	}
	for _, re := range []string{`(?m)^succeeded +20$`, `(?m)^output_tokens +80$`, `(?m)^ttft +20 `} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("stdout lacks a line matching %s:\n%s", re, stdout)
		}
	}
	if !strings.Contains(stderr, "done") {
		t.Errorf("stderr: got %q, want the final progress line", stderr)
	}

	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("read json report: %v", err)
	}
	var res bench.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("decode json report: %v", err)
	}
	if res.Totals.Succeeded != 20 || res.Config.Model != mock.DefaultModel || res.TTFT == nil {
		t.Errorf("json report: got %d successes, model %q, ttft %v; want 20, %q, a distribution",
			res.Totals.Succeeded, res.Config.Model, res.TTFT, mock.DefaultModel)
	}

	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatalf("read html report: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(page))
	svgs := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("html report is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "svg" {
			svgs++
		}
	}
	if svgs == 0 {
		t.Error("html report has no <svg>")
	}
}

func TestBenchPromptsFile(t *testing.T) {
	m, url := startMock(t, mock.Options{Models: []string{mock.DefaultModel, "other"}})
	path := writeTemp(t, "prompts.jsonl", strings.Join([]string{
		`{"prompt": "hello"}`,
		``,
		`{"messages": [{"role": "user", "content": "hi"}]}`,
		`{"model": "other", "messages": [{"role": "user", "content": "full body"}], "temperature": 0}`,
	}, "\n"))
	code, stdout, stderr := benchMain(t, "--url", url, "--model", mock.DefaultModel, "--prompts", path, "--requests", "3", "--quiet")
	if code != app.ExitOK {
		t.Fatalf("exit code: got %d, want 0 (stderr %q)", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^succeeded +3$`).MatchString(stdout) {
		t.Errorf("stdout: want 3 successes:\n%s", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr with --quiet: got %q, want nothing", stderr)
	}
	if got := m.Stats().ByPath[mock.RouteChat]; got != 3 {
		t.Errorf("mock saw %d chat requests, want 3", got)
	}
}

func TestBenchFailsWhenNothingSucceeds(t *testing.T) {
	_, url := startMock(t, mock.Options{ErrorStatus: 500})
	code, stdout, stderr := benchMain(t, "--url", url, "--model", mock.DefaultModel, "--requests", "5", "--quiet")
	if code != app.ExitFailure {
		t.Errorf("exit code: got %d, want %d", code, app.ExitFailure)
	}
	if !strings.Contains(stderr, "no request succeeded") {
		t.Errorf("stderr: got %q, want it to say no request succeeded", stderr)
	}
	if !regexp.MustCompile(`(?m)^error +http_500 +5$`).MatchString(stdout) {
		t.Errorf("stdout: want the 5 errors reported:\n%s", stdout)
	}
}
