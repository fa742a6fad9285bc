package proxy

import (
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/prompts"
)

// promptedBody is a request body with a system prompt merged in.
type promptedBody struct {
	model  string
	prompt *prompts.Prompt
	body   []byte
}

// prompt returns the system prompt of an attempt on t for model, nil when
// none applies (always nil without configured prompts).
func (f *forwarding) prompt(t *Target, model string) *prompts.Prompt {
	if f.snap.opts.Prompts == nil {
		return nil
	}
	return f.snap.opts.Prompts.Resolve(model, f.req.Fields.Model, t.Backend.Name)
}

// withPrompt returns the request body for model (see body) with the system
// prompt of an attempt on t merged in: into an Anthropic Messages body when
// anthropic, else into an OpenAI chat body. Bodies are kept per model and
// prompt for the request's later attempts.
func (f *forwarding) withPrompt(t *Target, model string, anthropic bool) []byte {
	base := f.body(model)
	p := f.prompt(t, model)
	if p == nil {
		return base
	}
	for _, b := range f.prompted {
		if b.model == model && b.prompt == p {
			return b.body
		}
	}
	var body []byte
	if anthropic {
		body = p.Anthropic(base)
	} else {
		body = p.Chat(base)
	}
	f.prompted = append(f.prompted, promptedBody{model: model, prompt: p, body: body})
	return body
}

// pivotWithPrompt returns the pivot to encode for the backend: pivot with
// the attempt's system prompt merged in (a copy), or pivot itself when no
// prompt applies. The client side of the translation keeps pivot, so that
// nothing of the prompt is echoed to the client (a Responses answer
// repeats its request's instructions).
func (f *forwarding) pivotWithPrompt(t *Target, model string, pivot *openai.ChatRequest) *openai.ChatRequest {
	if p := f.prompt(t, model); p != nil {
		return p.Pivot(pivot)
	}
	return pivot
}
