package app_test

// The dashboard in headless Chromium (Debian's package), driven with
// chromedp: every page loads without console errors, a number on the
// overview changes when traffic flows, drain and undrain change the
// backend's state, and a rollback from the configuration page restores an
// older version in the router and in the file. Screenshots at 1280×800 and
// 390×844 are written to $CONTINUUM_SCREENSHOTS when it is set.
//
// The test is skipped when chromium is not installed
// (apt-get install -y chromium; .ci/run installs it).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const uiConfig = `# Dashboard test router.
health_checks: {enabled: false}
admin:
  auth:
    method: bearer
    token: ui-admin-token
api_keys:
  mode: permissive
  api_keys:
    - {key: sk-team-a-secret-0123456789, id: team-a, name: Team A}
    - {key: sk-team-b-secret-0123456789, id: team-b, name: Team B, models: [llama-8b]}
model_metadata_file: models.yaml
backends:
  - name: vllm-a
    type: vllm
    url: "{{BACKEND}}"
    models: [llama-8b, qwen-7b]
    model_configs:
      - id: llama-8b
        aliases: [llama]
  - name: vllm-b
    type: vllm
    url: "{{BACKEND}}"
    weight: 1
    models: [llama-8b]
`

const uiModels = `
llama-8b: {display_name: Llama 3.1 8B Instruct, context_length: 131072, capabilities: [chat, tools], pricing: {input: 0.03, output: 0.06}}
qwen-7b: {display_name: Qwen 2.5 7B, context_length: 32768, capabilities: [chat]}
`

// browser starts headless Chromium and returns a chromedp context whose
// console errors and exceptions are collected (the second result returns
// them). JavaScript dialogs (hx-confirm) are accepted.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium); the browser test is skipped")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc(); wg.Wait() })
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("chromium does not start: %v", err)
	}
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m.Text))
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// screenshots writes the current page at both widths into
// $CONTINUUM_SCREENSHOTS (nothing when it is unset).
func screenshots(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONTINUUM_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int64{{1280, 800}, {390, 844}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(size[0], size[1]), chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, size[0]))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
}

// text returns the text of the first node matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// clickUntil clicks the element sel until an element done exists, trying
// three times: the overview replaces its content every two seconds, and a
// click that lands while the old nodes go is lost. The click is a real
// mouse click; hx-confirm's question is answered yes by window.confirm,
// replaced for the test (a native dialog that the browser shows while a
// poll swaps the page can stay open and block it).
func clickUntil(ctx context.Context, sel, done string) error {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = () => true; true`)); err != nil {
		return err
	}
	var err error
	for range 3 {
		sub, cancel := context.WithTimeout(ctx, 4*time.Second)
		err = chromedp.Do(sub, chromedp.Click(sel, chromedp.NodeVisible))
		if err != nil {
			err = fmt.Errorf("click %s: %w", sel, err)
		} else if _, err = chromedp.Run(sub, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, done))); err != nil {
			err = fmt.Errorf("wait for %s: %w", done, err)
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// waitTrue polls a JavaScript expression until it is true (10 s at most).
func waitTrue(ctx context.Context, expr string) error {
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second)))
	return err
}

func TestDashboardBrowser(t *testing.T) {
	ctx, consoleErrors := browser(t)
	backend := mockServer(t, "llama-8b", "qwen-7b")
	dir := parityFiles(t, backend, map[string]string{"config.yaml": uiConfig, "models.yaml": uiModels})
	path := filepath.Join(dir, "config.yaml")
	e := startFile(t, path)
	ui := e.URL + "/ui/"

	// Sign in with the admin token.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(ui),
		chromedp.WaitVisible(`input[name="token"]`),
	); err != nil {
		t.Fatalf("login page: %v", err)
	}
	screenshots(t, ctx, "login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`input[name="token"]`, "ui-admin-token"),
		chromedp.Submit(`form.login`),
		chromedp.WaitVisible(`#total-requests`),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if requests := text(t, ctx, `#total-requests`); requests != "0" {
		t.Fatalf("requests before any traffic: got %q, want 0", requests)
	}

	// Traffic: the overview's request count changes at its next poll.
	client := e.SDK(option.WithAPIKey("sk-team-a-secret-0123456789"))
	chat := func(model string) error {
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		})
		return err
	}
	for i := range 12 {
		model := []string{"llama-8b", "qwen-7b", "llama"}[i%3]
		if err := chat(model); err != nil {
			t.Fatalf("chat %s: %v", model, err)
		}
	}
	_ = chat("no-such-model") // a failure for the errors page
	e.Get("/v1/models", "Authorization", "Bearer sk-wrong-key-00000000000000")
	if err := waitTrue(ctx, `document.querySelector('#total-requests').textContent === '14'`); err != nil {
		t.Fatalf("the overview did not show 14 requests (12 chats, a 404, a model list) after traffic (shows %q): %v", text(t, ctx, `#total-requests`), err)
	}
	// A little more traffic across two polls draws the sparklines.
	for i := range 6 {
		chat([]string{"llama-8b", "qwen-7b"}[i%2])
		if i == 2 {
			chromedp.Do(ctx, chromedp.Sleep(2100*time.Millisecond)) // the next poll takes a sample
		}
	}
	if err := waitTrue(ctx, `document.querySelector('#total-requests').textContent === '20'`); err != nil {
		t.Fatalf("the overview did not show 20 requests: %v", err)
	}
	screenshots(t, ctx, "overview")

	// Drain and undrain vllm-b from its card.
	card := `article[data-backend="vllm-b"]`
	if err := clickUntil(ctx, card+` button.drain`, card+` .badge.drained`); err != nil {
		t.Fatalf("drain: %v\nconsole: %q", err, consoleErrors())
	}
	if !e.Backend("vllm-b").Drained {
		t.Errorf("after the drain button: vllm-b is not drained")
	}
	if err := clickUntil(ctx, card+` button.undrain`, card+` button.drain`); err != nil {
		t.Fatalf("undrain: %v", err)
	}
	if e.Backend("vllm-b").Drained {
		t.Errorf("after the undrain button: vllm-b is still drained")
	}

	// The other pages.
	for _, p := range []struct{ path, wait, name string }{
		{"models", `td code`, "models"},
		{"keys", `tr[data-key="team-a"]`, "keys"},
		{"errors", `table tbody tr td`, "errors"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(ui+p.path), chromedp.WaitVisible(p.wait)); err != nil {
			t.Fatalf("page %s: %v", p.path, err)
		}
		screenshots(t, ctx, p.name)
		if p.name == "keys" {
			if n := text(t, ctx, `tr[data-key="team-a"] td.requests`); n != "19" {
				t.Errorf("keys page: team-a requests %q, want 19", n)
			}
		}
	}

	// A change through the admin API, then a rollback from the page.
	if code, text := manageAs(t, e, "ui-admin-token", "PUT", "/admin/backends/vllm-b", `{"weight":4}`); code != 200 {
		t.Fatalf("PUT: got %d %s", code, text)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ui+"config"),
		chromedp.WaitVisible(`tr[data-version="1"] button.rollback`),
		chromedp.Click(`tr[data-version="1"] button.secondary`),
		chromedp.WaitVisible(`#diff pre.diff`),
	); err != nil {
		t.Fatalf("config page diff: %v", err)
	}
	diff := text(t, ctx, `#diff pre.diff`)
	if !strings.Contains(diff, "weight: 4") {
		t.Errorf("diff 1→2: got\n%s\nwant the weight change", diff)
	}
	screenshots(t, ctx, "config")
	if err := clickUntil(ctx, `tr[data-version="1"] button.rollback`, `tr[data-version="3"].current`); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if w := e.Backend("vllm-b").Weight; w != 1 {
		t.Errorf("after the rollback: vllm-b weight %d, want 1", w)
	}
	if _, text := manageAs(t, e, "ui-admin-token", "GET", "/admin/config", ""); !strings.Contains(text, `"weight": 1`) || strings.Contains(text, `"weight": 4`) {
		t.Errorf("GET /admin/config after the rollback: want weight 1 only")
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "weight: 1") || strings.Contains(string(data), "weight: 4") || !strings.Contains(string(data), "sk-team-b-secret-0123456789") {
		t.Errorf("the file after the rollback:\n%s\nwant version 1 with its secrets", data)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// manageAs sends an admin request with a bearer token.
func manageAs(t *testing.T, e *env, token, method, path, body string) (int, string) {
	t.Helper()
	resp, text := send(t, method, e.URL+path, body, "Authorization", "Bearer "+token)
	return resp.StatusCode, text
}
