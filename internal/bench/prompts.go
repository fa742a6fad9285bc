package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
)

// maxPromptLine bounds one line of a prompts file.
const maxPromptLine = 64 << 20

// generatedPrompts is how many distinct prompts are generated when
// Config.Prompts is empty, so that a server's prefix cache does not turn the
// benchmark into a cache benchmark.
const generatedPrompts = 64

// ReadPrompts reads a prompts file: JSON Lines, one JSON object per line,
// each either a full request body, {"prompt": "..."} or {"messages": [...]}.
// Blank lines are skipped. The result is meant for Config.Prompts; an error
// names the offending line.
func ReadPrompts(r io.Reader) ([][]byte, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxPromptLine)
	var out [][]byte
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("read prompts: line %d: not a JSON object: %w", line, err)
		}
		if obj == nil {
			return nil, fmt.Errorf("read prompts: line %d: not a JSON object", line)
		}
		out = append(out, bytes.Clone(b))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read prompts: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read prompts: no prompt found")
	}
	return out, nil
}

// targetURL returns the URL requests are sent to: base (a server root, a
// /v1 root or the endpoint itself) joined with /v1 and the endpoint's path.
func targetURL(base, endpoint string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse url: %w", err)
	}
	path := endpointPath(endpoint)
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/v1"+path):
	case strings.HasSuffix(p, "/v1"):
		p += path
	default:
		p += "/v1" + path
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

// endpointPath returns the path of a Config.Endpoint below /v1.
func endpointPath(endpoint string) string {
	switch endpoint {
	case EndpointCompletions:
		return "/completions"
	case EndpointEmbeddings:
		return "/embeddings"
	}
	return "/chat/completions"
}

// buildBodies turns cfg's prompts, or generated ones, into the request
// bodies sent in turn.
func buildBodies(cfg *Config) ([][]byte, error) {
	if len(cfg.Prompts) == 0 {
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x70726f6d707473)) // "prompts"
		bodies := make([][]byte, generatedPrompts)
		for i := range bodies {
			text, err := json.Marshal(generatePrompt(rng, cfg.PromptTokens))
			if err != nil {
				return nil, fmt.Errorf("encode prompt: %w", err)
			}
			b, err := buildBody(cfg, map[string]json.RawMessage{"prompt": text})
			if err != nil {
				return nil, err
			}
			bodies[i] = b
		}
		return bodies, nil
	}
	bodies := make([][]byte, len(cfg.Prompts))
	for i, p := range cfg.Prompts {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(p, &obj); err != nil {
			return nil, fmt.Errorf("prompt %d: not a JSON object: %w", i+1, err)
		}
		if obj == nil {
			return nil, fmt.Errorf("prompt %d: not a JSON object", i+1)
		}
		b, err := buildBody(cfg, obj)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i+1, err)
		}
		bodies[i] = b
	}
	return bodies, nil
}

// buildBody completes one request object for cfg's endpoint: a bare prompt
// becomes the endpoint's input field, the model is filled in when missing,
// and Stream and MaxTokens are applied.
func buildBody(cfg *Config, obj map[string]json.RawMessage) ([]byte, error) {
	prompt, hasPrompt := obj["prompt"]
	switch cfg.Endpoint {
	case EndpointChat:
		if _, ok := obj["messages"]; !ok {
			if !hasPrompt {
				return nil, fmt.Errorf(`chat request has neither "messages" nor "prompt"`)
			}
			msgs, err := json.Marshal([]struct {
				Role    string          `json:"role"`
				Content json.RawMessage `json:"content"`
			}{{Role: "user", Content: prompt}})
			if err != nil {
				return nil, fmt.Errorf("encode messages: %w", err)
			}
			obj["messages"] = msgs
			delete(obj, "prompt")
		}
	case EndpointCompletions:
		if !hasPrompt {
			return nil, fmt.Errorf(`completions request has no "prompt"`)
		}
	case EndpointEmbeddings:
		if _, ok := obj["input"]; !ok {
			if !hasPrompt {
				return nil, fmt.Errorf(`embeddings request has neither "input" nor "prompt"`)
			}
			obj["input"] = prompt
			delete(obj, "prompt")
		}
	}
	if m, ok := obj["model"]; !ok || string(m) == "null" {
		model, err := json.Marshal(cfg.Model)
		if err != nil {
			return nil, fmt.Errorf("encode model: %w", err)
		}
		obj["model"] = model
	}
	if cfg.Endpoint != EndpointEmbeddings {
		if cfg.Stream {
			obj["stream"] = json.RawMessage("true")
			obj["stream_options"] = json.RawMessage(`{"include_usage":true}`)
		} else {
			obj["stream"] = json.RawMessage("false")
			delete(obj, "stream_options")
		}
		if cfg.MaxTokens > 0 {
			obj["max_tokens"] = json.RawMessage(fmt.Sprint(cfg.MaxTokens))
		}
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}

// words are common English words that BPE tokenizers (GPT, Llama) encode as
// one token each when preceded by a space.
const words = "the of and to in is you that it he was for on are as with his they at be this have from or one " +
	"had by word but not what all were we when your can said there use an each which she do how their if will up " +
	"other about out many then them these so some her would make like him into time has look two more write go " +
	"see number no way could people my than first water been call who its now find long down day did get come made may part"

// generatePrompt returns n words drawn from rng, about n tokens.
func generatePrompt(rng *rand.Rand, n int) string {
	vocab := strings.Fields(words)
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[rng.IntN(len(vocab))])
	}
	return b.String()
}
