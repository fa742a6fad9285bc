package app_test

// Integration tests of the command line: app.Main is called directly with
// its own output buffers and an empty environment.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/config"
)

// rtNoEnv is an empty process environment, so that a developer's
// CONTINUUM_* variables cannot change what the tests see.
func rtNoEnv(string) (string, bool) { return "", false }

// rtMain runs app.Main to completion and returns its exit code, stdout and stderr.
func rtMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = app.Main(context.Background(), args, app.Env{Stdout: &out, Stderr: &errOut, Getenv: rtNoEnv})
	return code, out.String(), errOut.String()
}

// rtMainAsync runs app.Main in a goroutine until the returned stop function
// is called; stop cancels its context and returns the exit code.
func rtMainAsync(t *testing.T, args ...string) (stdout, stderr *syncBuffer, stop func() int) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- app.Main(ctx, args, app.Env{Stdout: stdout, Stderr: stderr, Getenv: rtNoEnv})
	}()
	stopped := false
	code := 0
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			code = <-exit
		}
		return code
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("stderr of %v:\n%s", args, stderr.String())
		}
	})
	return stdout, stderr, stop
}

// rtWriteFile writes content to name in a fresh temporary directory and returns its path.
func rtWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLICheck(t *testing.T) {
	t.Parallel()
	const valid = `server:
  bind_address: "127.0.0.1:0"
backends:
  - name: local
    url: http://127.0.0.1:9
    models: [m]
selection_strategy: round_robin
`
	const typo = `server:
  bind_address: "127.0.0.1:0"
backends:
  - name: local
    url: http://127.0.0.1:9
    models: [m]
selction_strategy: round_robin
`
	const routerOnly = `server:
  bind_address: "127.0.0.1:0"
request:
  retry_delay: 1s
backends:
  - name: local
    url: http://127.0.0.1:9
    models: [m]
`
	tests := []struct {
		name       string
		content    string
		wantCode   int
		wantStderr string // a regexp; FILE stands for the quoted file path
	}{
		{name: "valid", content: valid, wantCode: 0},
		{name: "unknown key", content: typo, wantCode: 1,
			wantStderr: `(?m)^FILE:7:1: .*"selction_strategy".*did you mean "selection_strategy"`},
		{name: "continuum-router-only key", content: routerOnly, wantCode: 0,
			wantStderr: `(?m)^warning: FILE:4:3: .*request\.retry_delay`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := rtWriteFile(t, "config.yaml", tt.content)
			code, stdout, stderr := rtMain(t, "check", "-c", path)
			if code != tt.wantCode {
				t.Fatalf("got exit code %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, stdout, stderr)
			}
			if tt.wantStderr != "" {
				re := regexp.MustCompile(strings.ReplaceAll(tt.wantStderr, "FILE", regexp.QuoteMeta(path)))
				if !re.MatchString(stderr) {
					t.Errorf("got stderr %q, want a line matching %s", stderr, re)
				}
			}
			if tt.wantCode == 0 && !strings.Contains(stdout, "valid") {
				t.Errorf("got stdout %q, want it to say the configuration is valid", stdout)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := rtMain(t, "check", "-c", filepath.Join(t.TempDir(), "absent.yaml"))
		if code != 1 || stderr == "" {
			t.Errorf("got exit code %d and stderr %q, want 1 and a message", code, stderr)
		}
	})
}

func TestCLIConfigExample(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := rtMain(t, "config", "example")
	if code != 0 {
		t.Fatalf("got exit code %d (stderr %q), want 0", code, stderr)
	}
	cfg, warns, err := config.Parse([]byte(stdout), "example.yaml", rtNoEnv)
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	if cfg == nil {
		t.Fatalf("got a nil configuration from the example, want one")
	}
	for _, w := range warns {
		t.Logf("example warning: %s", w)
	}
}

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	code, stdout, _ := rtMain(t, "version")
	if code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	if !strings.Contains(stdout, runtime.Version()) {
		t.Errorf("got %q, want it to mention %s", stdout, runtime.Version())
	}
}

func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
	}{
		{name: "no command", args: nil, wantCode: 2},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2},
		{name: "serve with an unknown flag", args: []string{"serve", "--bogus"}, wantCode: 2},
		{name: "serve with a stray argument", args: []string{"serve", "extra"}, wantCode: 2},
		{name: "serve --help", args: []string{"serve", "--help"}, wantCode: 0},
		{name: "demo --help", args: []string{"demo", "--help"}, wantCode: 0},
		{name: "mock --help", args: []string{"mock", "--help"}, wantCode: 0},
		{name: "check --help", args: []string{"check", "--help"}, wantCode: 0},
		{name: "config --help", args: []string{"config", "--help"}, wantCode: 0},
		{name: "config without a subcommand", args: []string{"config"}, wantCode: 2},
		{name: "help", args: []string{"help"}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := rtMain(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("got exit code %d, want %d (stdout %q, stderr %q)", code, tt.wantCode, stdout, stderr)
			}
			if stdout+stderr == "" {
				t.Errorf("got no output, want usage or an error message")
			}
		})
	}
}

// rtCurl is the request printed on a curl line.
var rtCurl = regexp.MustCompile(`curl (http://\S+) -H '([^']*)' -d '([^']*)'`)

func TestCLIDemo(t *testing.T) {
	t.Parallel()
	stdout, _, stop := rtMainAsync(t, "demo", "--listen", "127.0.0.1:0")

	line := stdout.WaitFor(t, "curl http", " -d '")
	m := rtCurl.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("got curl line %q, want curl URL -H '...' -d '...'", line)
	}
	url, header, body := m[1], m[2], m[3]
	name, value, _ := strings.Cut(header, ": ")

	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(name, value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("send the printed request: %v", err)
	}
	var got struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("got status %d (decode error %v), want 200 with a completion", resp.StatusCode, err)
	}
	if len(got.Choices) == 0 || got.Choices[0].Message.Content == "" {
		t.Errorf("got choices %+v, want content", got.Choices)
	}
	if code := stop(); code != 0 {
		t.Errorf("got exit code %d after cancel, want 0", code)
	}
}

func TestCLIMock(t *testing.T) {
	t.Parallel()
	stdout, _, stop := rtMainAsync(t, "mock", "--listen", "127.0.0.1:0", "--models", "x")

	line := stdout.WaitFor(t, "listening on http://")
	url := regexp.MustCompile(`http://\S+`).FindString(line)
	resp, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatalf("GET /v1/models: %v", err)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("got status %d (decode error %v), want 200 with a model list", resp.StatusCode, err)
	}
	if len(list.Data) != 1 || list.Data[0].ID != "x" {
		t.Errorf("got models %+v, want exactly x", list.Data)
	}
	if code := stop(); code != 0 {
		t.Errorf("got exit code %d after cancel, want 0", code)
	}
}

// TestCLIHelpAndUsageErrors: every command prints its own usage on stdout
// and exits 0 for -h and --help; a bad flag, flag value or argument is a
// usage error: a message on stderr, exit 2.
func TestCLIHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	commands := []struct {
		args  []string // the command
		usage string   // what its usage starts with
		bad   [][]string
	}{
		{[]string{"serve"}, "Usage: continuum serve", [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}, {"--bogus"}, {"-c"}, {"extra"}}},
		{[]string{"check"}, "Usage: continuum check", [][]string{{"-c"}, {"--bogus"}, {"extra"}}},
		{[]string{"config", "example"}, "Usage: continuum config example", [][]string{{"--bogus"}, {"extra"}}},
		{[]string{"config"}, "Usage: continuum config example", [][]string{{"frobnicate"}, {}}},
		{[]string{"mock"}, "Usage: continuum mock", [][]string{{"--error-status", "200"}, {"--api", "foo"}, {"--tokens", "abc"},
			{"--error-rate", "2"}, {"--ttft", "-1s"}, {"--bogus"}, {"extra"}}},
		{[]string{"demo"}, "Usage: continuum demo", [][]string{{"--listen"}, {"--bogus"}, {"extra"}}},
		{[]string{"bench"}, "Usage: continuum bench", [][]string{{"--concurrency", "abc"}, {"--model", "m", "--endpoint", "foo"},
			{"--model", "m", "--concurrency", "-1"}, {}, {"--bogus"}}},
		{[]string{"version"}, "Usage: continuum version", [][]string{{"--bogus"}, {"extra"}}},
	}
	for _, c := range commands {
		name := strings.Join(c.args, " ")
		for _, help := range []string{"--help", "-h"} {
			t.Run(name+" "+help, func(t *testing.T) {
				t.Parallel()
				code, stdout, stderr := rtMain(t, append(append([]string(nil), c.args...), help)...)
				if code != 0 {
					t.Errorf("got exit code %d, want 0 (stderr %q)", code, stderr)
				}
				if !strings.HasPrefix(stdout, c.usage) {
					t.Errorf("got stdout %q, want the usage %q…", stdout, c.usage)
				}
				if stderr != "" {
					t.Errorf("got stderr %q, want nothing", stderr)
				}
			})
		}
		for _, bad := range c.bad {
			args := append(append([]string(nil), c.args...), bad...)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				code, stdout, stderr := rtMain(t, args...)
				if code != 2 {
					t.Errorf("got exit code %d, want 2 (stdout %q, stderr %q)", code, stdout, stderr)
				}
				if stderr == "" {
					t.Error("got nothing on stderr, want the error")
				}
				if stdout != "" {
					t.Errorf("got stdout %q, want nothing", stdout)
				}
			})
		}
	}
	for _, help := range []string{"help", "--help", "-h"} {
		t.Run(help, func(t *testing.T) {
			code, stdout, _ := rtMain(t, help)
			if code != 0 || !strings.HasPrefix(stdout, "Continuum routes") {
				t.Errorf("got exit code %d, stdout %q; want 0 and the usage", code, stdout)
			}
		})
	}
}
