package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/continuumhq/continuum/internal/gemini"
	"github.com/continuumhq/continuum/internal/openai"
)

// NewGeminiBackend returns the native Gemini backend: an OpenAI chat request
// sent to generateContent or streamGenerateContent (spec §6).
func NewGeminiBackend() Backend { return geminiBackend{} }

type geminiBackend struct{}

var _ Backend = geminiBackend{}

// skipSignature is Google's documented placeholder thought signature for
// function calls that did not come from Gemini.
const skipSignature = "skip_thought_signature_validator"

// Path returns the model's generateContent path, or streamGenerateContent
// with alt=sse for a streamed request.
func (geminiBackend) Path(req *openai.ChatRequest) string {
	model := strings.TrimPrefix(req.Model, "models/")
	p := "/v1beta/models/" + url.PathEscape(model)
	if req.Stream {
		return p + ":streamGenerateContent?alt=sse"
	}
	return p + ":generateContent"
}

// EncodeRequest builds a generateContent request (spec §6).
func (geminiBackend) EncodeRequest(req *openai.ChatRequest, opts BackendOptions) ([]byte, error) {
	gr, err := encodeGeminiRequest(req, &opts)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(gr)
	if err != nil {
		return nil, fmt.Errorf("encode gemini request: %w", err)
	}
	return b, nil
}

func encodeGeminiRequest(req *openai.ChatRequest, opts *BackendOptions) (*gemini.Request, error) {
	if err := checkOneChoiceNoLogprobs(req); err != nil {
		return nil, err
	}
	gr := &gemini.Request{Contents: []gemini.Content{}}
	names := map[string]string{} // tool call id → function name
	var system []gemini.Part
	add := func(role string, parts ...gemini.Part) {
		if len(parts) == 0 {
			return
		}
		if n := len(gr.Contents); n > 0 && gr.Contents[n-1].Role == role {
			gr.Contents[n-1].Parts = append(gr.Contents[n-1].Parts, parts...)
			return
		}
		gr.Contents = append(gr.Contents, gemini.Content{Role: role, Parts: parts})
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if s := m.Content.String(); s != "" {
				system = append(system, gemini.Part{Text: s})
			}
		case openai.RoleUser:
			parts, err := geminiParts(m.Content, i)
			if err != nil {
				return nil, err
			}
			add(gemini.RoleUser, parts...)
		case openai.RoleAssistant:
			var parts []gemini.Part
			if m.ReasoningContent != "" && opts.Reasoning {
				parts = append(parts, gemini.Part{Text: m.ReasoningContent, Thought: true})
			}
			text := m.Content.String()
			if text == "" && m.Refusal != nil {
				text = *m.Refusal
			}
			if text != "" {
				parts = append(parts, gemini.Part{Text: text})
			}
			signed := false
			for _, tc := range m.ToolCalls {
				signed = signed || thoughtSignature(tc) != ""
			}
			for j, tc := range m.ToolCalls {
				args := strings.TrimSpace(tc.Function.Arguments)
				if args == "" {
					args = "{}"
				}
				if !isJSONObject([]byte(args)) {
					return nil, badRequest(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j), CodeInvalidValue, "tool call arguments must be a JSON object")
				}
				names[tc.ID] = tc.Function.Name
				p := gemini.Part{FunctionCall: &gemini.FunctionCall{Name: tc.Function.Name, Args: json.RawMessage(compactJSON([]byte(args)))}, ThoughtSignature: thoughtSignature(tc)}
				if !signed && j == 0 {
					p.ThoughtSignature = skipSignature
				}
				parts = append(parts, p)
			}
			add(gemini.RoleModel, parts...)
		case openai.RoleTool:
			name := names[m.ToolCallID]
			if name == "" {
				return nil, badRequest(fmt.Sprintf("messages[%d].tool_call_id", i), CodeInvalidValue, "tool message %q answers no earlier tool call", m.ToolCallID)
			}
			out := m.Content.String()
			var resp json.RawMessage
			if isJSONObject([]byte(out)) {
				resp = json.RawMessage(compactJSON([]byte(out)))
			} else {
				resp, _ = json.Marshal(map[string]string{"output": out})
			}
			add(gemini.RoleUser, gemini.Part{FunctionResponse: &gemini.FunctionResponse{Name: name, Response: resp}})
		default:
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), CodeInvalidValue, "unknown message role %q", m.Role)
		}
	}
	if len(system) > 0 {
		gr.SystemInstruction = &gemini.Content{Parts: system}
	}

	var decls []gemini.FunctionDeclaration
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			return nil, badRequest(fmt.Sprintf("tools[%d].type", i), CodeUnsupported, "tool type %q is not supported by this model's backend; only function tools are", t.Type)
		}
		decls = append(decls, gemini.FunctionDeclaration{Name: t.Function.Name, Description: t.Function.Description, Parameters: gemini.Schema(t.Function.Parameters)})
	}
	if len(decls) > 0 {
		gr.Tools = []gemini.Tool{{FunctionDeclarations: decls}}
		if c := req.ToolChoice; c != nil {
			fc := &gemini.FunctionCallingConfig{}
			switch {
			case c.Function != "":
				fc.Mode, fc.AllowedFunctionNames = gemini.ModeAny, []string{c.Function}
			case c.Mode == "required":
				fc.Mode = gemini.ModeAny
			case c.Mode == "none":
				fc.Mode = gemini.ModeNone
			default:
				fc.Mode = gemini.ModeAuto
			}
			gr.ToolConfig = &gemini.ToolConfig{FunctionCallingConfig: fc}
		}
	}

	gc := &gemini.GenerationConfig{Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK, Seed: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty, StopSequences: req.Stop}
	if n, ok := req.MaxOutputTokens(); ok {
		gc.MaxOutputTokens = &n
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			if rf.JSONSchema != nil {
				gc.ResponseSchema = gemini.Schema(rf.JSONSchema.Schema)
			}
		}
	}
	switch e := req.ReasoningEffort; e {
	case "":
	case "none":
		gc.ThinkingConfig = &gemini.ThinkingConfig{ThinkingBudget: openai.Ptr(0)}
	default:
		gc.ThinkingConfig = &gemini.ThinkingConfig{ThinkingBudget: openai.Ptr(effortBudget(e)), IncludeThoughts: opts.Reasoning}
	}
	if b, _ := json.Marshal(gc); string(b) != "{}" {
		gr.GenerationConfig = gc
	}
	if len(opts.GeminiSafetySettings) > 0 {
		gr.SafetySettings = opts.GeminiSafetySettings
	}
	if req.LogitBias != nil {
		opts.dropped("logit_bias")
	}
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		opts.dropped(k)
	}
	return gr, nil
}

// thoughtSignature returns a tool call's extra_content.google.thought_signature.
func thoughtSignature(tc openai.ToolCall) string {
	raw, ok := tc.Extra["extra_content"]
	if !ok {
		return ""
	}
	var ec struct {
		Google struct {
			ThoughtSignature string `json:"thought_signature"`
		} `json:"google"`
	}
	if json.Unmarshal(raw, &ec) != nil {
		return ""
	}
	return ec.Google.ThoughtSignature
}

// signatureExtra returns the extra_content member that carries a thought signature.
func signatureExtra(sig string) map[string]json.RawMessage {
	b, _ := json.Marshal(map[string]any{"google": map[string]string{"thought_signature": sig}})
	return map[string]json.RawMessage{"extra_content": b}
}

// geminiParts maps user content to parts.
func geminiParts(c openai.Content, i int) ([]gemini.Part, error) {
	if c.Parts == nil {
		if c.Text == nil {
			return nil, nil
		}
		return []gemini.Part{{Text: *c.Text}}, nil
	}
	var parts []gemini.Part
	for j, p := range c.Parts {
		param := fmt.Sprintf("messages[%d].content[%d]", i, j)
		switch p.Type {
		case openai.PartText:
			parts = append(parts, gemini.Part{Text: p.Text})
		case openai.PartRefusal:
			parts = append(parts, gemini.Part{Text: p.Refusal})
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, badRequest(param+".image_url", CodeMissing, "image_url part without an image_url")
			}
			if d, ok := parseDataURL(p.ImageURL.URL); ok {
				parts = append(parts, gemini.Part{InlineData: &gemini.Blob{MimeType: d.MediaType, Data: d.Data}})
			} else if isHTTPURL(p.ImageURL.URL) {
				parts = append(parts, gemini.Part{FileData: &gemini.FileData{FileURI: p.ImageURL.URL}})
			} else {
				return nil, badRequest(param+".image_url.url", CodeInvalidValue, "image URL must be an http(s) URL or a base64 data URL")
			}
		case openai.PartInputAudio:
			if p.InputAudio == nil {
				return nil, badRequest(param+".input_audio", CodeMissing, "input_audio part without audio")
			}
			parts = append(parts, gemini.Part{InlineData: &gemini.Blob{MimeType: "audio/" + p.InputAudio.Format, Data: p.InputAudio.Data}})
		case openai.PartFile:
			if p.File == nil {
				return nil, badRequest(param+".file", CodeMissing, "file part without a file")
			}
			d, ok := parseDataURL(p.File.FileData)
			if !ok {
				return nil, badRequest(param+".file", CodeUnsupported, "only inline files (data URLs) are supported by this model's backend")
			}
			parts = append(parts, gemini.Part{InlineData: &gemini.Blob{MimeType: d.MediaType, Data: d.Data}})
		default:
			return nil, badRequest(param+".type", CodeUnsupported, "content part type %q is not supported by this model's backend", p.Type)
		}
	}
	return parts, nil
}

// geminiFinish maps a finish reason (spec §6).
func geminiFinish(reason string, toolCalls bool) string {
	switch reason {
	case gemini.FinishMaxTokens:
		return openai.FinishLength
	case gemini.FinishSafety, gemini.FinishRecitation, gemini.FinishBlocklist, gemini.FinishProhibitedContent, gemini.FinishSPII:
		return openai.FinishContentFilter
	}
	if toolCalls {
		return openai.FinishToolCalls
	}
	return openai.FinishStop
}

// geminiUsage maps usageMetadata: completion tokens include thoughts.
func geminiUsage(u *gemini.UsageMetadata) *openai.ChatUsage {
	if u == nil {
		return nil
	}
	out := &openai.ChatUsage{
		PromptTokens:            u.PromptTokenCount,
		CompletionTokens:        u.CandidatesTokenCount + u.ThoughtsTokenCount,
		PromptTokensDetails:     &openai.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount},
		CompletionTokensDetails: &openai.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount},
	}
	out.TotalTokens = u.TotalTokenCount
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}

// DecodeResponse maps a generateContent answer to a chat completion.
func (geminiBackend) DecodeResponse(body []byte, req *openai.ChatRequest) (*openai.ChatCompletion, error) {
	var r gemini.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode gemini response: %w", err)
	}
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	finish := openai.FinishStop
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			finish = openai.FinishContentFilter
		}
		msg.Content = openai.TextContent("")
	} else {
		cand := r.Candidates[0]
		var text, reasoning strings.Builder
		n := 0
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					msg.ToolCalls = append(msg.ToolCalls, geminiToolCall(p, n))
					n++
				case p.Thought:
					reasoning.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() > 0 || len(msg.ToolCalls) == 0 {
			msg.Content = openai.TextContent(text.String())
		}
		msg.ReasoningContent = reasoning.String()
		finish = geminiFinish(cand.FinishReason, len(msg.ToolCalls) > 0)
	}
	id := "chatcmpl-" + r.ResponseID
	if r.ResponseID == "" {
		id = randomID("chatcmpl-")
	}
	model := r.ModelVersion
	if model == "" {
		model = req.Model
	}
	return &openai.ChatCompletion{
		ID: id, Object: "chat.completion", Created: nowUnix(), Model: model,
		Choices: []openai.ChatChoice{{Message: msg, FinishReason: finish}},
		Usage:   geminiUsage(r.UsageMetadata),
	}, nil
}

// geminiToolCall maps a functionCall part to a tool call with id call_<n>
// (or the call's own id) and its thought signature in extra_content.
func geminiToolCall(p gemini.Part, n int) openai.ToolCall {
	id := p.FunctionCall.ID
	if id == "" {
		id = "call_" + strconv.Itoa(n)
	}
	args := p.FunctionCall.Args
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	tc := openai.ToolCall{ID: id, Type: "function", Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: compactJSON(args)}}
	if p.ThoughtSignature != "" {
		tc.Extra = signatureExtra(p.ThoughtSignature)
	}
	return tc
}

// DecodeError maps a Gemini error answer, in the object or the array form.
func (geminiBackend) DecodeError(status int, body []byte) *UpstreamError {
	return geminiError(status, body)
}

func geminiError(status int, body []byte) *UpstreamError {
	d, ok := gemini.ParseError(body)
	if !ok {
		msg := strings.TrimSpace(string(body))
		if msg == "" || len(msg) > 1024 {
			msg = http.StatusText(status)
		}
		return upstreamError(status, msg)
	}
	if s := gemini.HTTPStatus(d.Status); s != 0 && (status == 0 || status == http.StatusOK || status >= 500 && s < 500) {
		status = s
	} else if status == 0 || status == http.StatusOK {
		status = d.Code
	}
	e := upstreamError(status, d.Message)
	e.UpstreamType = d.Status
	if e.Message == "" {
		e.Message = d.Status
	}
	return e
}

// NewStreamDecoder returns a decoder of a streamGenerateContent (alt=sse) stream.
func (geminiBackend) NewStreamDecoder(req *openai.ChatRequest, opts BackendOptions) StreamDecoder {
	return &geminiDecoder{opts: opts, model: req.Model, created: opts.now().Unix(), includeUsage: req.IncludeUsage()}
}

type geminiDecoder struct {
	opts         BackendOptions
	id, model    string
	created      int64
	includeUsage bool
	started      bool
	tools        int
	finish       string
	blocked      bool
	usage        *openai.ChatUsage
	done         bool
}

// Decode consumes one stream event: a whole GenerateContentResponse.
func (d *geminiDecoder) Decode(ev openai.Event, out []*openai.ChatChunk) ([]*openai.ChatChunk, Info) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return out, Info{Ping: ev.Data == nil}
	}
	if bytes.Contains(data, []byte(`"error"`)) {
		if _, ok := gemini.ParseError(data); ok {
			return out, Info{Err: geminiError(0, data)}
		}
	}
	var r gemini.Response
	if err := json.Unmarshal(data, &r); err != nil {
		return out, Info{Err: &UpstreamError{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Code: openai.TypeUpstream, Message: "malformed stream event from the backend: " + err.Error()}}
	}
	if d.id == "" {
		d.id = "chatcmpl-" + r.ResponseID
		if r.ResponseID == "" {
			d.id = d.opts.newID("chatcmpl-")
		}
	}
	if r.ModelVersion != "" {
		d.model = r.ModelVersion
	}
	info := Info{}
	if r.UsageMetadata != nil {
		d.usage = geminiUsage(r.UsageMetadata)
		u := d.usage.Basic()
		info.Usage = &u
	}
	if len(r.Candidates) == 0 {
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			d.blocked = true
			d.finish = gemini.FinishSafety
			info.Content = true
		}
		return out, info
	}
	cand := r.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				tc := geminiToolCall(p, d.tools)
				tc.Index = openai.Ptr(d.tools)
				d.tools++
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{tc}}))
				info.Content = true
			case p.Thought:
				if d.opts.Reasoning && p.Text != "" {
					s := p.Text
					out = d.role(out)
					out = append(out, d.chunk(openai.ChatDelta{ReasoningContent: &s}))
					info.Content = true
				}
			case p.Text != "":
				s := p.Text
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{Content: &s}))
				info.Content = true
			}
		}
	}
	if cand.FinishReason != "" {
		d.finish = cand.FinishReason
		info.Content = true
	}
	return out, info
}

// Finish appends the finish chunk and, when asked for, the usage chunk. The
// answer is complete when a finish reason (or a prompt block) was seen.
func (d *geminiDecoder) Finish(out []*openai.ChatChunk) ([]*openai.ChatChunk, bool) {
	if d.finish == "" {
		return out, false
	}
	if d.done {
		return out, true
	}
	d.done = true
	out = d.role(out)
	reason := geminiFinish(d.finish, d.tools > 0)
	c := d.chunk(openai.ChatDelta{})
	c.Choices[0].FinishReason = &reason
	out = append(out, c)
	if d.includeUsage && d.usage != nil {
		out = append(out, &openai.ChatChunk{ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model, Choices: []openai.ChatChunkChoice{}, Usage: d.usage})
	}
	return out, true
}

func (d *geminiDecoder) role(out []*openai.ChatChunk) []*openai.ChatChunk {
	if d.started {
		return out
	}
	d.started = true
	return append(out, d.chunk(openai.ChatDelta{Role: openai.RoleAssistant, Content: ptrStr("")}))
}

func (d *geminiDecoder) chunk(delta openai.ChatDelta) *openai.ChatChunk {
	return &openai.ChatChunk{
		ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model,
		Choices: []openai.ChatChunkChoice{{Delta: delta}},
	}
}
