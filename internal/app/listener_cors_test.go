package app_test

// CORS with the default allowed headers, end to end: a preflight for the
// headers the official OpenAI JS SDK sends, and a page in headless Chromium
// on another origin calling the router with the SDK itself.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// sdkPreflightHeaders is what Chromium asked for in the preflight of the
// official OpenAI JS SDK's chat.completions.create (openai 7.59.0, with
// organization and project set), plus the SDK's optional headers and the
// router's own.
var sdkPreflightHeaders = []string{
	"authorization", "content-type", "openai-organization", "openai-project",
	"x-stainless-arch", "x-stainless-lang", "x-stainless-os", "x-stainless-package-version",
	"x-stainless-retry-count", "x-stainless-runtime", "x-stainless-runtime-version",
	"x-stainless-timeout", "x-stainless-helper-method", "x-stainless-poll-helper",
	"openai-beta", "x-request-id", "x-session-id", "x-api-key", "api-key",
}

func withCORS(headers ...string) setupOption {
	return withConfig(func(c *config.Config) {
		c.Server.CORS.Enabled = true
		if len(headers) > 0 {
			c.Server.CORS.AllowedHeaders = headers
		}
	})
}

func TestListenerCORSPreflightSDKHeaders(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}), withCORS())
	requested := strings.Join(sdkPreflightHeaders, ",")
	resp, body := send(t, http.MethodOptions, e.URL+"/v1/chat/completions", "",
		"Origin", "http://app.example:3000", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", requested)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight: got %d %s, want 204", resp.StatusCode, body)
	}
	allowed := map[string]bool{}
	for _, h := range strings.Split(resp.Header.Get("Access-Control-Allow-Headers"), ",") {
		allowed[strings.ToLower(strings.TrimSpace(h))] = true
	}
	for _, h := range sdkPreflightHeaders {
		if !allowed[h] {
			t.Errorf("preflight does not allow %q (Access-Control-Allow-Headers: %q)", h, resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("got Access-Control-Allow-Origin %q, want *", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("got Access-Control-Allow-Methods %q, want POST in it", got)
	}

	resp, body = e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false), "Origin", "http://app.example:3000")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("cross-origin POST: got %d, Allow-Origin %q, Expose-Headers %q: %s", resp.StatusCode,
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers"), body)
	}
}

// corsPage is the page the browser test loads from its own origin. With the
// SDK it calls the router through openai's ESM build; without, it sends
// the SDK's request with fetch. It writes "OK …" or "ERR …" into #result.
const corsPage = `<!doctype html>
<html><body><pre id="result">pending</pre>
<script type="module">
const out = document.getElementById('result');
const base = %q, useSDK = %t;
try {
  if (useSDK) {
    const { default: OpenAI } = await import('/openai/index.mjs');
    const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'sk-browser-test', dangerouslyAllowBrowser: true,
      maxRetries: 0, timeout: 30000, organization: 'org-test', project: 'proj-test' });
    const r = await client.chat.completions.create({ model: %q, messages: [{ role: 'user', content: 'hi' }] });
    const s = client.chat.completions.stream({ model: %q, messages: [{ role: 'user', content: 'hi' }] });
    const f = await s.finalChatCompletion();
    out.textContent = 'OK sdk ' + r.choices[0].message.content.length + ' ' + f.choices[0].message.content.length;
  } else {
    const resp = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: {
      'Authorization': 'Bearer sk-browser-test', 'Content-Type': 'application/json', 'Accept': 'application/json',
      'OpenAI-Organization': 'org-test', 'OpenAI-Project': 'proj-test',
      'X-Stainless-Lang': 'js', 'X-Stainless-Package-Version': '7.59.0', 'X-Stainless-OS': 'Unknown',
      'X-Stainless-Arch': 'unknown', 'X-Stainless-Runtime': 'browser:chrome', 'X-Stainless-Runtime-Version': '1.0.0',
      'X-Stainless-Retry-Count': '0', 'X-Stainless-Timeout': '30', 'X-Stainless-Helper-Method': 'stream',
    }, body: JSON.stringify({ model: %q, messages: [{ role: 'user', content: 'hi' }] }) });
    const j = await resp.json();
    out.textContent = 'OK fetch ' + resp.status + ' ' + j.choices[0].message.content.length + ' ' + resp.headers.get('x-request-id').length;
  }
} catch (e) { out.textContent = 'ERR ' + e; }
</script></body></html>`

// TestListenerCORSBrowser loads a page from one origin in headless Chromium
// that calls the router, on another origin, as the official OpenAI JS SDK
// does from a browser. With CONTINUUM_OPENAI_JS naming an unpacked `openai`
// npm package (.ci/run fetches one) the page uses the SDK itself; without,
// it sends the SDK's headers with fetch. Skipped without Chromium.
func TestListenerCORSBrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium); the browser test is skipped")
	}
	sdk := os.Getenv("CONTINUUM_OPENAI_JS")
	if sdk != "" {
		if _, err := os.Stat(filepath.Join(sdk, "index.mjs")); err != nil {
			t.Fatalf("CONTINUUM_OPENAI_JS=%s is not an unpacked openai package: %v", sdk, err)
		}
		t.Logf("calling the router with the OpenAI JS SDK from %s", sdk)
	} else {
		t.Log("CONTINUUM_OPENAI_JS is not set: the page sends the SDK's headers with fetch")
	}
	tests := []struct {
		name    string
		headers []string // allowed headers; nil for the default
		wantOK  bool
	}{
		{"default allowed headers", nil, true},
		// The former default: the test sees a browser refuse the request.
		{"former default refuses the SDK", []string{"Authorization", "Content-Type", "X-Request-Id", "X-Session-Id", "X-Api-Key"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, withBackend("a", mock.Options{}), withCORS(tt.headers...))
			page := httptest.NewServer(corsPageHandler(e.URL, sdk))
			t.Cleanup(page.Close)
			result, dom := runChromium(t, chromium, page.URL+"/")
			t.Logf("page result: %s", result)
			if ok := strings.HasPrefix(result, "OK "); ok != tt.wantOK {
				t.Fatalf("page result %q, want OK: %v\n%s", result, tt.wantOK, dom)
			}
			served := inference(e.Backends["a"])
			switch {
			case tt.wantOK && sdk != "" && served != 2:
				t.Errorf("the backend served %d requests, want 2 (create and stream)", served)
			case tt.wantOK && sdk == "" && served != 1:
				t.Errorf("the backend served %d requests, want 1", served)
			case !tt.wantOK && served != 0:
				t.Errorf("the backend served %d requests, want none (the preflight fails)", served)
			}
		})
	}
}

// corsPageHandler serves the test page and, when sdk is set, the openai
// package's files under /openai/.
func corsPageHandler(routerURL, sdk string) http.Handler {
	mux := http.NewServeMux()
	if sdk != "" {
		files := http.StripPrefix("/openai/", http.FileServer(http.Dir(sdk)))
		mux.Handle("/openai/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".mjs") || strings.HasSuffix(r.URL.Path, ".js") {
				w.Header().Set("Content-Type", "text/javascript")
			}
			files.ServeHTTP(w, r)
		}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, corsPage, routerURL, sdk != "", mock.DefaultModel, mock.DefaultModel, mock.DefaultModel)
	})
	return mux
}

var resultRE = regexp.MustCompile(`<pre id="result">([^<]*)</pre>`)

// runChromium loads url in headless Chromium until the page is done (the
// virtual time budget lets its fetches finish first) and returns the text
// of #result and the whole DOM.
func runChromium(t *testing.T, chromium, url string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=30000", "--dump-dom", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := resultRE.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no #result in the page:\n%s\nchromium:\n%s", out, stderr.String())
	}
	return html.UnescapeString(m[1]), string(out)
}
