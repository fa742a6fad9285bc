package tokens

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/continuumhq/continuum/internal/openai"
)

// Overheads of the chat format, as OpenAI's cookbook counts them
// ("How to count tokens with tiktoken"): every message costs its fields'
// tokens plus perMessage, plus perName when it has a name, and every reply
// is primed with replyPriming tokens.
const (
	perMessage   = 3
	perName      = 1
	replyPriming = 3
	// imageTokens is charged per image part: a 1024×1024 image at high
	// detail (170 per 512-pixel tile, 4 tiles, plus 85). Larger images cost
	// more; reconciliation corrects the difference.
	imageTokens = 765
)

// message is the part of a chat message that carries tokens.
type message struct {
	Role       string          `json:"role"`
	Name       string          `json:"name"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

// part is one element of an array content.
type part struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// EstimateChat estimates the prompt tokens of an OpenAI chat completions
// request body for model, and reads the output cap it sets: the largest of
// max_tokens, max_completion_tokens and max_output_tokens (0 when none is
// set). The prompt counts every message's role, name and content (strings,
// and the text of content parts; image parts as 765 tokens each), tool
// calls and tool_call_id, the per-message overheads OpenAI documents, and
// the tools (or functions) definitions as their JSON text. ok is false when
// body is not a JSON object with a messages array; prompt and maxOutput are
// then 0.
func (c *Counter) EstimateChat(model string, body []byte) (prompt, maxOutput int, ok bool) {
	enc := c.encodingFor(model)
	var messages, tools []byte
	err := openai.Members(body, func(m openai.Member) bool {
		v := body[m.Start:m.End]
		switch {
		case m.KeyIs("messages"):
			messages = v
		case m.KeyIs("tools"), m.KeyIs("functions"):
			if !bytes.Equal(v, []byte("null")) {
				tools = v
			}
		case m.KeyIs("max_tokens"), m.KeyIs("max_completion_tokens"), m.KeyIs("max_output_tokens"):
			if n, err := strconv.Atoi(string(v)); err == nil {
				maxOutput = max(maxOutput, n)
			}
		}
		return true
	})
	if err != nil || messages == nil {
		return 0, 0, false
	}
	var msgs []message
	if err := json.Unmarshal(messages, &msgs); err != nil {
		return 0, 0, false
	}
	prompt = replyPriming
	for i := range msgs {
		m := &msgs[i]
		prompt += perMessage + c.count(enc, m.Role) + c.count(enc, m.ToolCallID)
		if m.Name != "" {
			prompt += perName + c.count(enc, m.Name)
		}
		prompt += c.content(enc, m.Content)
		if len(m.ToolCalls) > 0 && !bytes.Equal(m.ToolCalls, []byte("null")) {
			prompt += c.count(enc, string(m.ToolCalls))
		}
	}
	if len(tools) > 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, tools) == nil {
			prompt += c.count(enc, compact.String())
		}
	}
	return prompt, maxOutput, true
}

// content counts a message's content: a string or an array of parts.
func (c *Counter) content(enc encoding, raw json.RawMessage) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		return c.count(enc, s)
	case '[':
		var parts []part
		if json.Unmarshal(raw, &parts) != nil {
			return 0
		}
		n := 0
		for _, p := range parts {
			switch p.Type {
			case "image_url", "input_image", "image":
				n += imageTokens
			default:
				n += c.count(enc, p.Text)
			}
		}
		return n
	}
	return 0
}
