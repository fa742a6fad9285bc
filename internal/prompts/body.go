package prompts

import (
	"slices"

	"github.com/continuumhq/continuum/internal/openai"
)

// The keys the splicing functions look for. They are matched the way Go's
// encoding/json matches struct fields (exactly or with case folding), and a
// body that holds one of them more than once gets the prompt in each: a
// backend that keeps the last duplicate, or folds case, must not receive a
// request without the operator's prompt.
var (
	messagesKey = []string{"messages"}
	messageKeys = []string{"role", "content"}
	systemKey   = []string{"system"}
)

// Chat returns an OpenAI chat completions body with the prompt merged into
// its system prompt. The first message is the client's system prompt when
// its role is system or developer: its content gets the prompt (see
// Strategy; array content gets a text part, null content becomes the
// prompt). Otherwise a system message holding the prompt is put first.
// Later system messages are left as they are.
//
// Only the bytes that change are touched: the rest of the body is copied as
// received, never decoded and encoded again. body must be a JSON object (as
// the listener checked); when its messages are not a list it is returned
// unchanged, and the backend answers it.
func (p *Prompt) Chat(body []byte) []byte {
	var edits []edit
	_ = openai.Members(body, func(m openai.Member) bool {
		if i, _ := m.MatchKey(messagesKey); i == 0 {
			edits = p.chatMessages(edits, body, m.Start, m.End)
		}
		return true
	})
	return apply(body, edits)
}

// chatMessages adds the edits of the messages list at body[start:end].
func (p *Prompt) chatMessages(edits []edit, body []byte, start, end int) []edit {
	list := body[start:end]
	if len(list) == 0 || list[0] != '[' {
		return edits
	}
	first, firstEnd := -1, -1
	_ = openai.Elements(list, func(s, e int) bool {
		first, firstEnd = s, e
		return false
	})
	insertFirst := edit{start: start + 1, end: start + 1, parts: [3][]byte{p.systemMsg, comma}}
	if first < 0 { // no message at all
		insertFirst.parts[1] = nil
		return append(edits, insertFirst)
	}
	msg := list[first:firstEnd]
	at := start + first
	if msg[0] != '{' {
		return append(edits, insertFirst)
	}
	roles, system := 0, false
	var contents [][2]int
	_ = openai.Members(msg, func(m openai.Member) bool {
		switch i, _ := m.MatchKey(messageKeys); i {
		case 0:
			roles++
			role, err := openai.Unquote(msg[m.Start:m.End])
			system = err == nil && isSystemRole(role)
		case 1:
			contents = append(contents, [2]int{m.Start, m.End})
		}
		return true
	})
	if roles != 1 || !system {
		// Not a system message, or its role is ambiguous (given twice).
		return append(edits, insertFirst)
	}
	if len(contents) == 0 {
		return append(edits, edit{start: at + 1, end: at + 1, parts: [3][]byte{contentKey, p.quoted, comma}})
	}
	for _, c := range contents {
		edits = p.content(edits, body, at+c[0], at+c[1])
	}
	return edits
}

// Anthropic returns an Anthropic Messages (or count_tokens) body with the
// prompt merged into its top-level system field: a string is merged as
// text, a list of blocks gets a text block before (Prepend) or after
// (Append) the client's, and Replace or a missing or null system makes the
// prompt the whole system. The rest of the body is copied as received.
func (p *Prompt) Anthropic(body []byte) []byte {
	var edits []edit
	found := false
	_ = openai.Members(body, func(m openai.Member) bool {
		if i, _ := m.MatchKey(systemKey); i == 0 {
			found = true
			edits = p.content(edits, body, m.Start, m.End)
		}
		return true
	})
	if !found {
		open := skipSpace(body, 0)
		if open >= len(body) || body[open] != '{' {
			return body
		}
		e := edit{start: open + 1, end: open + 1, parts: [3][]byte{systemField, p.quoted, comma}}
		if next := skipSpace(body, open+1); next < len(body) && body[next] == '}' {
			e.parts[2] = nil
		}
		edits = append(edits, e)
	}
	return apply(body, edits)
}

// content adds the edit that merges the prompt into the content value at
// body[start:end]: a string, a list of text parts (or blocks), or null.
// Values of any other type are left to the backend to refuse.
func (p *Prompt) content(edits []edit, body []byte, start, end int) []edit {
	v := body[start:end]
	replace := edit{start: start, end: end, parts: [3][]byte{p.quoted}}
	switch {
	case len(v) == 0:
		return edits
	case v[0] == '"':
		switch p.strategy {
		case Append:
			return append(edits, edit{start: end - 1, end: end - 1, parts: [3][]byte{p.appendInner}})
		case Replace:
			return append(edits, replace)
		}
		return append(edits, edit{start: start + 1, end: start + 1, parts: [3][]byte{p.prependInner}})
	case v[0] == '[':
		if p.strategy == Replace || body[skipSpace(body, start+1)] == ']' {
			return append(edits, replace)
		}
		if p.strategy == Append {
			return append(edits, edit{start: end - 1, end: end - 1, parts: [3][]byte{comma, p.appendPart}})
		}
		return append(edits, edit{start: start + 1, end: start + 1, parts: [3][]byte{p.prependPart, comma}})
	case string(v) == "null":
		return append(edits, replace)
	}
	return edits
}

var (
	comma       = []byte(",")
	contentKey  = []byte(`"content":`)
	systemField = []byte(`"system":`)
)

// edit replaces body[start:end] with its parts, concatenated.
type edit struct {
	start, end int
	parts      [3][]byte
}

// apply returns body with edits applied, in one allocation; body itself
// when there are none. Edits never overlap.
func apply(body []byte, edits []edit) []byte {
	if len(edits) == 0 {
		return body
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	n := len(body)
	for _, e := range edits {
		n -= e.end - e.start
		for _, p := range e.parts {
			n += len(p)
		}
	}
	out := make([]byte, 0, n)
	at := 0
	for _, e := range edits {
		out = append(out, body[at:e.start]...)
		for _, p := range e.parts {
			out = append(out, p...)
		}
		at = e.end
	}
	return append(out, body[at:]...)
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
