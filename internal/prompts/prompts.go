// Package prompts applies the operator's system prompts (continuum-router's
// global_prompts) to requests: a prompt per model, per backend or by
// default, merged with the client's own system prompt by one of three
// strategies.
//
// A Set is compiled once per configuration (on load and on every reload)
// and never changes; requests resolve the prompt of each attempt from it
// (Resolve) and apply it to the body they send: an OpenAI chat body (Chat)
// or an Anthropic Messages body (Anthropic) by splicing bytes, without
// decoding the rest of the body, or a decoded chat request, the pivot of
// translations (Pivot). It is a leaf package: it knows the wire formats
// through internal/openai only.
package prompts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/continuumhq/continuum/internal/openai"
)

// Strategy is how a prompt is merged with the client's own system prompt.
type Strategy uint8

// The merge strategies. The zero Strategy is Prepend.
const (
	// Prepend puts the prompt before the client's system prompt, with the
	// separator between them.
	Prepend Strategy = iota
	// Append puts the prompt after the client's system prompt, with the
	// separator between them.
	Append
	// Replace drops the client's system prompt and sends the prompt instead.
	Replace
)

// Strategy names, as merge_strategy spells them.
const (
	PrependName = "prepend"
	AppendName  = "append"
	ReplaceName = "replace"
)

// String returns the strategy's name, e.g. "prepend".
func (s Strategy) String() string {
	switch s {
	case Append:
		return AppendName
	case Replace:
		return ReplaceName
	}
	return PrependName
}

// ParseStrategy returns the strategy named s ("prepend", "append",
// "replace"); "" means Prepend.
func ParseStrategy(s string) (Strategy, bool) {
	switch s {
	case "", PrependName:
		return Prepend, true
	case AppendName:
		return Append, true
	case ReplaceName:
		return Replace, true
	}
	return Prepend, false
}

// DefaultSeparator goes between the prompt and the client's system prompt
// when Options.Separator is empty.
const DefaultSeparator = "\n\n"

// Options are a Set's prompts, their text already read from files.
type Options struct {
	// Default applies to every request that no model or backend prompt
	// covers. "" means none.
	Default string
	// Backends maps a backend name to the prompt of requests sent to it;
	// empty texts are ignored.
	Backends map[string]string
	// Models maps a model name to the prompt of requests for it; it wins
	// over Backends and Default. Empty texts are ignored.
	Models map[string]string
	// Strategy merges a prompt with the client's system prompt. The zero
	// value is Prepend.
	Strategy Strategy
	// Separator goes between the two for Prepend and Append. "" means
	// DefaultSeparator.
	Separator string
}

// Set is a compiled, immutable set of prompts. A nil *Set holds none.
type Set struct {
	def      *Prompt
	backends map[string]*Prompt
	models   map[string]*Prompt
	digest   string
}

// New compiles o. It returns nil when o holds no prompt at all, so that
// requests pay nothing for the feature when it is not used.
func New(o Options) *Set {
	if o.Separator == "" {
		o.Separator = DefaultSeparator
	}
	s := &Set{}
	h := sha256.New()
	put := func(parts ...string) {
		for _, p := range parts {
			var n [8]byte
			for i, l := 0, len(p); i < 8; i, l = i+1, l>>8 {
				n[i] = byte(l)
			}
			h.Write(n[:])
			h.Write([]byte(p))
		}
	}
	put(o.Strategy.String(), o.Separator)
	if o.Default != "" {
		s.def = newPrompt(o.Default, o.Strategy, o.Separator)
		put("default", o.Default)
	}
	compile := func(kind string, in map[string]string) map[string]*Prompt {
		var out map[string]*Prompt
		keys := make([]string, 0, len(in))
		for k := range in {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if in[k] == "" {
				continue
			}
			if out == nil {
				out = map[string]*Prompt{}
			}
			out[k] = newPrompt(in[k], o.Strategy, o.Separator)
			put(kind, k, in[k])
		}
		return out
	}
	s.backends = compile("backend", o.Backends)
	s.models = compile("model", o.Models)
	if s.def == nil && s.backends == nil && s.models == nil {
		return nil
	}
	s.digest = hex.EncodeToString(h.Sum(nil)[:16])
	return s
}

// Resolve returns the prompt of a request for model (the model the backend
// is asked for, after aliases and fallbacks) sent to backend; requested is
// the model the client named. A model prompt (for model, else requested)
// wins over a backend prompt, which wins over the default. It returns nil
// when none applies; a nil Set resolves nothing.
func (s *Set) Resolve(model, requested, backend string) *Prompt {
	if s == nil {
		return nil
	}
	if p := s.models[model]; p != nil {
		return p
	}
	if requested != model {
		if p := s.models[requested]; p != nil {
			return p
		}
	}
	if p := s.backends[backend]; p != nil {
		return p
	}
	return s.def
}

// Digest identifies the set's content (texts, strategy, separator): two
// sets with the same prompts have the same digest. "" for a nil Set. Caches
// of answers include it in their keys, so that changed prompts never serve
// answers made with the old ones.
func (s *Set) Digest() string {
	if s == nil {
		return ""
	}
	return s.digest
}

// Prompt is one system prompt with its merge strategy, and the JSON
// fragments that splice it into request bodies, encoded once.
type Prompt struct {
	text     string
	strategy Strategy
	sep      string

	quoted       []byte // "text"
	prependInner []byte // text+sep, escaped, without quotes
	appendInner  []byte // sep+text, escaped, without quotes
	prependPart  []byte // {"type":"text","text":"text+sep"}
	appendPart   []byte // {"type":"text","text":"sep+text"}
	systemMsg    []byte // {"role":"system","content":"text"}
}

func newPrompt(text string, strategy Strategy, sep string) *Prompt {
	p := &Prompt{text: text, strategy: strategy, sep: sep}
	p.quoted = jsonString(text)
	pre, app := jsonString(text+sep), jsonString(sep+text)
	p.prependInner, p.appendInner = pre[1:len(pre)-1], app[1:len(app)-1]
	p.prependPart = append(append([]byte(`{"type":"text","text":`), pre...), '}')
	p.appendPart = append(append([]byte(`{"type":"text","text":`), app...), '}')
	p.systemMsg = append(append([]byte(`{"role":"system","content":`), p.quoted...), '}')
	return p
}

// Text returns the prompt's text.
func (p *Prompt) Text() string { return p.text }

// Strategy returns how the prompt is merged.
func (p *Prompt) Strategy() Strategy { return p.strategy }

// jsonString encodes s as a JSON string, leaving <, > and & as they are.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(b.Bytes(), "\n")
}

// merge returns the client's system text merged with the prompt.
func (p *Prompt) merge(client string) string {
	switch p.strategy {
	case Append:
		return client + p.sep + p.text
	case Replace:
		return p.text
	}
	return p.text + p.sep + client
}

// Pivot returns req with the prompt merged into its system prompt: the
// first message when it is a system (or developer) message, else a new
// system message put first. req is not modified: the result is a shallow
// copy with its own message list, so the client side of a translation keeps
// seeing the client's own request.
func (p *Prompt) Pivot(req *openai.ChatRequest) *openai.ChatRequest {
	out := *req
	msgs := make([]openai.ChatMessage, 0, len(req.Messages)+1)
	if len(req.Messages) > 0 && isSystemRole(req.Messages[0].Role) {
		m := req.Messages[0]
		m.Content = p.mergeContent(m.Content)
		msgs = append(append(msgs, m), req.Messages[1:]...)
	} else {
		msgs = append(msgs, openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(p.text)})
		msgs = append(msgs, req.Messages...)
	}
	out.Messages = msgs
	return &out
}

// mergeContent merges the prompt into a system message's content: a
// string is merged as text; array content gets a text part before
// (Prepend) or after (Append) its parts; Replace, null and empty content
// become the prompt alone.
func (p *Prompt) mergeContent(c openai.Content) openai.Content {
	if p.strategy == Replace || c.IsNull() || (c.Parts != nil && len(c.Parts) == 0) {
		return openai.TextContent(p.text)
	}
	if c.Parts == nil {
		return openai.TextContent(p.merge(*c.Text))
	}
	parts := make([]openai.ContentPart, 0, len(c.Parts)+1)
	if p.strategy == Append {
		parts = append(append(parts, c.Parts...), openai.ContentPart{Type: openai.PartText, Text: p.sep + p.text})
	} else {
		parts = append(append(parts, openai.ContentPart{Type: openai.PartText, Text: p.text + p.sep}), c.Parts...)
	}
	return openai.PartsContent(parts...)
}

func isSystemRole(role string) bool {
	return role == openai.RoleSystem || role == openai.RoleDeveloper
}
