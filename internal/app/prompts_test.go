package app_test

// Global prompts (issue 11, part 2) over real HTTP with the official SDKs:
// merge strategies, precedence, prompt files and prompts_dir, reloads,
// translated and passed-through Anthropic calls, the Responses API, and
// requests without a prompt forwarded byte for byte.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// sentMessage is one message of a chat request a backend received.
type sentMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// lastMessages returns the messages of the last chat request backend got.
func (e *env) lastMessages(backend string) []sentMessage {
	e.t.Helper()
	_, _, body := e.Backends[backend].Mock.LastRequest()
	var req struct {
		Messages []sentMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		e.t.Fatalf("backend %s got a body that is not a chat request: %v\n%s", backend, err, body)
	}
	return req.Messages
}

// text returns a message's content as a string (the JSON string itself).
func (m sentMessage) text(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m.Content, &s); err != nil {
		t.Fatalf("content %s is not a string: %v", m.Content, err)
	}
	return s
}

// chat sends a chat request with the official SDK: a system message when
// system is not "", then a user message.
func chat(t *testing.T, client openai.Client, model, system string, opts ...option.RequestOption) {
	t.Helper()
	var msgs []openai.ChatCompletionMessageParamUnion
	if system != "" {
		msgs = append(msgs, openai.SystemMessage(system))
	}
	msgs = append(msgs, openai.UserMessage("hello"))
	if _, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: msgs}, opts...); err != nil {
		t.Fatalf("chat with %s: %v", model, err)
	}
}

func withPrompts(g config.GlobalPromptsConfig) setupOption {
	return withConfig(func(c *config.Config) { c.GlobalPrompts = g })
}

func TestGlobalPromptsMergeStrategies(t *testing.T) {
	const global = "Follow the policy."
	tests := []struct {
		strategy, separator string
		client              string // the client's system prompt; "" for none
		wantFirst           string // the system message the backend gets
		wantMessages        int
	}{
		{config.MergePrepend, "", "Be brief.", "Follow the policy.\n\nBe brief.", 2},
		{config.MergePrepend, " | ", "Be brief.", "Follow the policy. | Be brief.", 2},
		{config.MergeAppend, "\n---\n", "Be brief.", "Be brief.\n---\nFollow the policy.", 2},
		{config.MergeReplace, "", "Be brief.", "Follow the policy.", 2},
		{config.MergePrepend, "", "", "Follow the policy.", 2},
		{config.MergeAppend, "", "", "Follow the policy.", 2},
		{config.MergeReplace, "", "", "Follow the policy.", 2},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/separator %q/client system %q", tt.strategy, tt.separator, tt.client)
		t.Run(name, func(t *testing.T) {
			e := start(t, withBackend("a", mock.Options{}), withPrompts(config.GlobalPromptsConfig{
				Default: global, MergeStrategy: tt.strategy, Separator: tt.separator,
			}))
			chat(t, e.SDK(), mock.DefaultModel, tt.client)
			msgs := e.lastMessages("a")
			if len(msgs) != tt.wantMessages || msgs[0].Role != "system" || msgs[0].text(t) != tt.wantFirst {
				t.Fatalf("the backend got %+v, want %d messages starting with system %q", msgs, tt.wantMessages, tt.wantFirst)
			}
			if last := msgs[len(msgs)-1]; last.Role != "user" || last.text(t) != "hello" {
				t.Errorf("the user message: got %+v, want it unchanged", last)
			}
		})
	}

	t.Run("streamed requests too", func(t *testing.T) {
		e := start(t, withBackend("a", mock.Options{}), withPrompts(config.GlobalPromptsConfig{Default: global}))
		client := e.SDK()
		stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: mock.DefaultModel, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		})
		for stream.Next() {
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if msgs := e.lastMessages("a"); msgs[0].Role != "system" || msgs[0].text(t) != global {
			t.Errorf("the backend got %+v, want the prompt first", msgs)
		}
	})
}

// A model's prompt wins over its backend's, which wins over the default;
// the backend's prompt follows the backend each attempt goes to.
func TestGlobalPromptsPrecedence(t *testing.T) {
	e := start(t,
		withBackend("a", mock.Options{Models: []string{"special", "plain-a"}}),
		withBackend("b", mock.Options{Models: []string{"plain-b"}}),
		withConfig(func(c *config.Config) { c.ModelAliases = map[string]string{"nickname": "plain-b"} }),
		withPrompts(config.GlobalPromptsConfig{
			Default:  "Default prompt.",
			Backends: map[string]config.PromptConfig{"a": {Prompt: "Prompt of backend a."}},
			Models: map[string]config.PromptConfig{
				"special":  {Prompt: "Prompt of model special."},
				"nickname": {Prompt: "Prompt of the alias."},
			},
			MergeStrategy: config.MergeReplace,
		}),
	)
	client := e.SDK()
	tests := []struct{ model, backend, want string }{
		{"special", "a", "Prompt of model special."},
		{"plain-a", "a", "Prompt of backend a."},
		{"plain-b", "b", "Default prompt."},
		{"nickname", "b", "Prompt of the alias."},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			chat(t, client, tt.model, "client prompt")
			if msgs := e.lastMessages(tt.backend); msgs[0].text(t) != tt.want {
				t.Errorf("backend %s got system %q, want %q", tt.backend, msgs[0].text(t), tt.want)
			}
		})
	}
}

// A failover to another backend gets that backend's prompt.
func TestGlobalPromptsPerAttempt(t *testing.T) {
	e := start(t,
		withBackend("a", mock.Options{ErrorStatus: 500}),
		withBackend("b", mock.Options{}),
		withConfig(func(c *config.Config) { c.Retry.BaseDelay, c.Retry.MaxDelay = 0, 0 }),
		withPrompts(config.GlobalPromptsConfig{
			Backends: map[string]config.PromptConfig{"a": {Prompt: "A"}, "b": {Prompt: "B"}},
		}),
	)
	for range 2 { // round robin: one of them starts on a
		chat(t, e.SDK(), mock.DefaultModel, "")
	}
	if got := e.lastMessages("a")[0].text(t); got != "A" {
		t.Errorf("backend a got %q, want A", got)
	}
	if got := e.lastMessages("b")[0].text(t); got != "B" {
		t.Errorf("backend b got %q, want B", got)
	}
}

// Without a prompt for the request, the body reaches the backend byte for
// byte; completions and embeddings never get one.
func TestGlobalPromptsNoneForwardsTheBody(t *testing.T) {
	body := `{ "model" :"mock-model",  "messages":[{"role":"system","content":"as sent"},{"role":"user","content":"hi"}], "x_vendor": {"keep": [1, 2.50]} }`
	t.Run("none configured", func(t *testing.T) {
		e := start(t, withBackend("a", mock.Options{}))
		if resp, b := e.Post("/v1/chat/completions", body); resp.StatusCode != 200 {
			t.Fatalf("got %d %s", resp.StatusCode, b)
		}
		if _, _, got := e.Backends["a"].Mock.LastRequest(); string(got) != body {
			t.Errorf("the backend got\n%s\nwant\n%s", got, body)
		}
	})
	t.Run("none for this model and backend", func(t *testing.T) {
		e := start(t, withBackend("a", mock.Options{}), withPrompts(config.GlobalPromptsConfig{
			Backends: map[string]config.PromptConfig{"other": {Prompt: "x"}},
			Models:   map[string]config.PromptConfig{"other-model": {Prompt: "y"}},
		}))
		e.Post("/v1/chat/completions", body)
		if _, _, got := e.Backends["a"].Mock.LastRequest(); string(got) != body {
			t.Errorf("the backend got\n%s\nwant\n%s", got, body)
		}
	})
	t.Run("completions and embeddings", func(t *testing.T) {
		e := start(t, withBackend("a", mock.Options{}), withPrompts(config.GlobalPromptsConfig{Default: "G"}))
		for path, b := range map[string]string{
			"/v1/completions": `{"model":"mock-model", "prompt":"hi"}`,
			"/v1/embeddings":  `{"model":"mock-model", "input":"hi"}`,
		} {
			if resp, out := e.Post(path, b); resp.StatusCode != 200 {
				t.Fatalf("%s: got %d %s", path, resp.StatusCode, out)
			}
			if _, _, got := e.Backends["a"].Mock.LastRequest(); string(got) != b {
				t.Errorf("%s: the backend got %s, want %s", path, got, b)
			}
		}
	})
}

// Anthropic clients get the prompt whether their call is passed through to
// an Anthropic backend (in its system field) or translated; Responses
// clients through the translation, without the prompt echoed back.
func TestGlobalPromptsTranslatedAPIs(t *testing.T) {
	e := start(t,
		withBackend("oai", mock.Options{Models: []string{"llama"}, Tokens: 3}),
		withBackend("claude", mock.Options{API: mock.APIAnthropic, Models: []string{"claude-x"}, Tokens: 3}, anthropicBackend),
		withPrompts(config.GlobalPromptsConfig{
			Default:       "Follow the policy.",
			Backends:      map[string]config.PromptConfig{"claude": {Prompt: "Claude policy."}},
			MergeStrategy: config.MergeAppend,
		}),
	)
	client := e.anthropicSDK("k")
	for _, model := range []string{"llama", "claude-x"} {
		if _, err := client.Messages.New(context.Background(), anthropicsdk.MessageNewParams{
			Model: anthropicsdk.Model(model), MaxTokens: 50,
			System:   []anthropicsdk.TextBlockParam{{Text: "Be brief."}},
			Messages: userMessage("hello"),
		}); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
	}
	t.Run("anthropic client, translated", func(t *testing.T) {
		msgs := e.lastMessages("oai")
		if msgs[0].Role != "system" || msgs[0].text(t) != "Be brief.\n\nFollow the policy." {
			t.Errorf("the OpenAI backend got %+v, want the client's system prompt then the policy", msgs)
		}
	})
	t.Run("anthropic client, passed through", func(t *testing.T) {
		_, _, body := e.Backends["claude"].Mock.LastRequest()
		var req struct {
			System []struct{ Type, Text string } `json:"system"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if len(req.System) != 2 || req.System[0].Text != "Be brief." || req.System[1].Text != "\n\nClaude policy." {
			t.Errorf("the Anthropic backend got system %+v, want the client's block then the backend's prompt", req.System)
		}
	})
	t.Run("responses client", func(t *testing.T) {
		oc := e.SDK()
		r, err := oc.Responses.New(context.Background(), responses.ResponseNewParams{
			Model: "llama", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
			Instructions: openai.String("Be brief."),
		})
		if err != nil {
			t.Fatal(err)
		}
		if msgs := e.lastMessages("oai"); msgs[0].text(t) != "Be brief.\n\nFollow the policy." {
			t.Errorf("the backend got %+v, want the instructions then the policy", msgs)
		}
		if r.Instructions.OfString != "Be brief." {
			t.Errorf("the answer's instructions: got %q, want the client's own (the policy is not echoed)", r.Instructions.OfString)
		}
	})
	t.Run("openai client to an anthropic backend", func(t *testing.T) {
		chat(t, e.SDK(), "claude-x", "")
		_, _, body := e.Backends["claude"].Mock.LastRequest()
		var req struct {
			System json.RawMessage `json:"system"`
		}
		if err := json.Unmarshal(body, &req); err != nil || !strings.Contains(string(req.System), "Claude policy.") {
			t.Errorf("the Anthropic backend got system %s (%v), want the backend's prompt", req.System, err)
		}
	})
}

// Prompts in files: prompts_dir relative to the configuration file, and a
// changed file picked up by a reload; a missing file fails the reload at
// its line and keeps the running prompts.
func TestGlobalPromptsFilesAndReload(t *testing.T) {
	a := opsMock(t, "a", mock.Options{Models: []string{"m", "n"}})
	dir := t.TempDir()
	promptDir := filepath.Join(dir, "prompts")
	if err := os.MkdirAll(promptDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		opsWriteConfig(t, filepath.Join(promptDir, name), text)
	}
	write("system.md", "Policy v1.")
	write("model-n.md", "Model n policy.")
	yaml := func(defaultFile string) string {
		return strings.Replace(opsReloadYAML(a.URL, ""), "models: [m]", "models: [m, n]", 1) + `global_prompts:
  prompts_dir: prompts
  default_file: ` + defaultFile + `
  models:
    n: { prompt: inline loses to the file, prompt_file: model-n.md }
`
	}
	path := filepath.Join(dir, "config.yaml")
	opsWriteConfig(t, path, yaml("system.md"))
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, Backends: map[string]*testBackend{"a": a}, Logs: &syncBuffer{}, Config: cfg}
	e.launch(app.Options{Config: cfg, ConfigPath: path, NoWatch: true})

	client := e.SDK()
	expect := func(model, want string) {
		t.Helper()
		chat(t, client, model, "")
		if got := e.lastMessages("a")[0].text(t); got != want {
			t.Errorf("model %s: the backend got system %q, want %q", model, got, want)
		}
	}
	expect("m", "Policy v1.")
	expect("n", "Model n policy.")

	write("system.md", "Policy v2.")
	if resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth); resp.StatusCode != 200 {
		t.Fatalf("reload: got %d %s", resp.StatusCode, body)
	}
	expect("m", "Policy v2.")

	broken := yaml("gone.md")
	opsWriteConfig(t, path, broken)
	resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth)
	line, col := opsLineCol(t, broken, "gone.md")
	if want := fmt.Sprintf("%s:%d:%d: global_prompts.default_file", path, line, col); resp.StatusCode != 422 || !strings.Contains(body, want) {
		t.Fatalf("reload with a missing prompt file: got %d %s, want 422 naming %s", resp.StatusCode, body, want)
	}
	expect("m", "Policy v2.")
}

// A changed prompt file is picked up by the file watcher, like a changed
// configuration file, wherever prompts_dir is.
func TestGlobalPromptsFileWatch(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	dir := t.TempDir()
	prompt := filepath.Join(dir, "system.md")
	opsWriteConfig(t, prompt, "Policy v1.")
	yaml := opsReloadYAML(a.URL, "") + "global_prompts:\n  prompts_dir: " + dir + "\n  default_file: system.md\n"
	e, _ := opsStartFile(t, yaml, opsFileSetup{Clock: clk, Watch: true, Backends: []*testBackend{a}})
	client := e.SDK()
	chat(t, client, "m", "")
	if got := e.lastMessages("a")[0].text(t); got != "Policy v1." {
		t.Fatalf("before the edit: the backend got %q, want Policy v1.", got)
	}

	pending := clk.Pending()
	opsWriteConfig(t, prompt, "Policy v2.")
	opsAwaitWatch(t, clk, pending)
	e.Logs.WaitFor(t, "configuration reloaded", "trigger=file")
	chat(t, client, "m", "")
	if got := e.lastMessages("a")[0].text(t); got != "Policy v2." {
		t.Errorf("after the edit: the backend got %q, want Policy v2.", got)
	}
}
