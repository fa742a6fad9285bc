package app_test

// Hardening (operations): log settings on the command line and in the
// environment are checked like those of the configuration file.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/app"
)

// ohMain runs app.Main with the given environment variables (and nothing
// else) and returns its exit code and output. A ctx already cancelled makes
// serve stop as soon as it has started.
func ohMain(t *testing.T, ctx context.Context, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	getenv := func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
	code = app.Main(ctx, args, app.Env{Stdout: &out, Stderr: &errOut, Getenv: getenv})
	return code, out.String(), errOut.String()
}

// ohServeConfig is a valid configuration that listens on a free port.
const ohServeConfig = `server:
  bind_address: "127.0.0.1:0"
health_checks: { enabled: false }
backends:
  - { name: a, url: "http://127.0.0.1:9", models: [m] }
`

func TestOpsHardeningLogSettings(t *testing.T) {
	t.Parallel()
	path := rtWriteFile(t, "config.yaml", ohServeConfig)
	stopped, cancel := context.WithCancel(context.Background())
	cancel()

	invalid := []struct {
		name       string
		vars       map[string]string
		args       []string
		wantSource string
		wantValues string
	}{
		{"flag --log-level", nil, []string{"--log-level", "loud"}, `--log-level "loud"`, "debug, info, warn or error"},
		{"flag --log-format", nil, []string{"--log-format", "xml"}, `--log-format "xml"`, "text or json"},
		{"env CONTINUUM_LOG_FORMAT", map[string]string{"CONTINUUM_LOG_FORMAT": "yaml"}, nil, `CONTINUUM_LOG_FORMAT "yaml"`, "text or json"},
		{"env CONTINUUM_LOG_LEVEL", map[string]string{"CONTINUUM_LOG_LEVEL": "verbose"}, nil, `CONTINUUM_LOG_LEVEL "verbose"`, "debug, info, warn or error"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "-c", path}, tt.args...)
			code, _, stderr := ohMain(t, stopped, tt.vars, args...)
			if code != app.ExitUsage {
				t.Fatalf("got exit code %d, want %d (usage error); stderr:\n%s", code, app.ExitUsage, stderr)
			}
			for _, want := range []string{tt.wantSource, tt.wantValues} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not mention %q", stderr, want)
				}
			}
		})
	}

	// The spellings the configuration file accepts are accepted here too,
	// and take effect; the flag wins over the variable.
	valid := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantLine *regexp.Regexp
	}{
		{"synonyms by flag", nil, []string{"--log-level", "WARNING", "--log-format", "pretty"}, nil},
		{"synonyms by env", map[string]string{"CONTINUUM_LOG_LEVEL": "trace", "CONTINUUM_LOG_FORMAT": "JSON"}, nil, regexp.MustCompile(`(?m)^\{"time":"[^"]+","level":"INFO","msg":"listening"`)},
		{"flag over env", map[string]string{"CONTINUUM_LOG_LEVEL": "loud", "CONTINUUM_LOG_FORMAT": "xml"}, []string{"--log-level", "debug", "--log-format", "json"}, regexp.MustCompile(`(?m)^\{"time":"[^"]+","level":"INFO","msg":"listening"`)},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "-c", path}, tt.args...)
			code, _, stderr := ohMain(t, stopped, tt.vars, args...)
			if code != app.ExitOK {
				t.Fatalf("got exit code %d, want 0; stderr:\n%s", code, stderr)
			}
			if tt.wantLine == nil {
				// warn, text: a clean start and stop writes no line at all.
				if stderr != "" {
					t.Errorf("--log-level WARNING: got lines below warn:\n%s", stderr)
				}
				return
			}
			if !tt.wantLine.MatchString(stderr) {
				t.Errorf("stderr does not match %s:\n%s", tt.wantLine, stderr)
			}
		})
	}

	t.Run("configuration file", func(t *testing.T) {
		t.Parallel()
		for _, key := range []string{"level: loud", "format: xml"} {
			file := rtWriteFile(t, "config.yaml", ohServeConfig+"logging:\n  "+key+"\n")
			code, _, stderr := ohMain(t, stopped, nil, "check", "-c", file)
			want := fmt.Sprintf("%s:7:%d: logging.", file, strings.Index(key, " ")+4)
			if code != app.ExitFailure || !strings.Contains(stderr, want) {
				t.Errorf("check with logging.%s: got exit code %d and %q, want 1 and %q", key, code, stderr, want)
			}
		}
	})
}
