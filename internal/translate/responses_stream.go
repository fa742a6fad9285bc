package translate

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/continuumhq/continuum/internal/openai"
)

// NewStreamEncoder returns an encoder of Responses stream events: every
// event carries its "type" as the SSE event name and a sequence_number
// counting from 0.
func (responsesClient) NewStreamEncoder(req *openai.ChatRequest) StreamEncoder {
	return &respEncoder{req: req, msg: -1, reasoning: -1, tools: map[int]*respCall{}}
}

// respCall is a function call being streamed.
type respCall struct {
	callID, name string
	args         strings.Builder
	pending      strings.Builder // arguments received before the item was added
	item         int             // output index, -1 until added
	id           string
	done         bool
}

type respEncoder struct {
	req       *openai.ChatRequest
	obj       respObject
	started   bool
	ended     bool
	seq       int
	n         int   // next output index
	output    []any // finished items by output index
	msg       int   // output index of the open message item, or -1
	msgID     string
	msgText   strings.Builder
	reasoning int // output index of the open reasoning item, or -1
	rsID      string
	rsText    strings.Builder
	tools     map[int]*respCall
	toolOrder []int
	finish    string
	usage     *openai.ChatUsage
	buf       bytes.Buffer
}

// emit appends one event: "event: <type>" and its data with the sequence
// number set.
func (e *respEncoder) emit(dst []byte, typ string, fields map[string]any) []byte {
	fields["type"] = typ
	fields["sequence_number"] = e.seq
	e.seq++
	e.buf.Reset()
	enc := json.NewEncoder(&e.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return dst
	}
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, bytes.TrimRight(e.buf.Bytes(), "\n")...)
	return append(dst, "\n\n"...)
}

func (e *respEncoder) start(dst []byte, c *openai.ChatChunk) []byte {
	if e.started {
		return dst
	}
	e.started = true
	id, created, model := randomID("resp_"), int64(0), ""
	if c != nil {
		id, created, model = responseID(c.ID), c.Created, c.Model
		if c.ID == "" {
			id = randomID("resp_")
		}
	}
	e.obj = newRespObject(id, created, model, e.req)
	dst = e.emit(dst, "response.created", map[string]any{"response": e.obj})
	return e.emit(dst, "response.in_progress", map[string]any{"response": e.obj})
}

// Chunk appends the events of one pivot chunk.
func (e *respEncoder) Chunk(dst []byte, c *openai.ChatChunk) []byte {
	if e.ended {
		return dst
	}
	dst = e.start(dst, c)
	if c.Usage != nil {
		e.usage = c.Usage
	}
	if len(c.Choices) == 0 {
		return dst
	}
	ch := &c.Choices[0]
	d := &ch.Delta
	if d.ReasoningContent != nil && *d.ReasoningContent != "" {
		dst = e.closeMessage(dst)
		if e.reasoning < 0 {
			e.reasoning, e.rsID = e.n, itemID("rs", e.obj.ID, e.n)
			e.n++
			dst = e.emit(dst, "response.output_item.added", map[string]any{"output_index": e.reasoning,
				"item": respReasoningItem{ID: e.rsID, Type: "reasoning", Summary: []any{}}})
		}
		e.rsText.WriteString(*d.ReasoningContent)
		dst = e.emit(dst, "response.reasoning_text.delta", map[string]any{"item_id": e.rsID, "output_index": e.reasoning, "content_index": 0, "delta": *d.ReasoningContent})
	}
	text := ""
	if d.Content != nil {
		text = *d.Content
	}
	if d.Refusal != nil {
		text += *d.Refusal
	}
	if text != "" {
		dst = e.closeReasoning(dst)
		if e.msg < 0 {
			e.msg, e.msgID = e.n, itemID("msg", e.obj.ID, e.n)
			e.n++
			dst = e.emit(dst, "response.output_item.added", map[string]any{"output_index": e.msg,
				"item": respMessageItem{ID: e.msgID, Type: "message", Status: "in_progress", Role: "assistant", Content: []respOutputText{}}})
			dst = e.emit(dst, "response.content_part.added", map[string]any{"item_id": e.msgID, "output_index": e.msg, "content_index": 0,
				"part": respOutputText{Type: "output_text", Text: "", Annotations: []any{}, Logprobs: []any{}}})
		}
		e.msgText.WriteString(text)
		dst = e.emit(dst, "response.output_text.delta", map[string]any{"item_id": e.msgID, "output_index": e.msg, "content_index": 0, "delta": text, "logprobs": []any{}})
	}
	for _, tc := range d.ToolCalls {
		j := 0
		if tc.Index != nil {
			j = *tc.Index
		}
		t, ok := e.tools[j]
		if !ok {
			dst = e.closeReasoning(dst)
			dst = e.closeMessage(dst)
			t = &respCall{item: -1}
			e.tools[j] = t
			e.toolOrder = append(e.toolOrder, j)
		}
		if tc.ID != "" {
			t.callID = tc.ID
		}
		if tc.Function.Name != "" {
			t.name = tc.Function.Name
		}
		if t.item < 0 {
			t.pending.WriteString(tc.Function.Arguments)
			if t.callID != "" && t.name != "" {
				dst = e.addTool(dst, t)
			}
			continue
		}
		if a := tc.Function.Arguments; a != "" {
			t.args.WriteString(a)
			dst = e.emit(dst, "response.function_call_arguments.delta", map[string]any{"item_id": t.id, "output_index": t.item, "delta": a})
		}
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		e.finish = *ch.FinishReason
	}
	return dst
}

// addTool adds the output item of a buffered function call.
func (e *respEncoder) addTool(dst []byte, t *respCall) []byte {
	if t.callID == "" {
		t.callID = randomID("call_")
	}
	t.item, t.id = e.n, itemID("fc", e.obj.ID, e.n)
	e.n++
	dst = e.emit(dst, "response.output_item.added", map[string]any{"output_index": t.item,
		"item": respFunctionCallItem{ID: t.id, Type: "function_call", Status: "in_progress", CallID: t.callID, Name: t.name, Arguments: ""}})
	if t.pending.Len() > 0 {
		a := t.pending.String()
		t.pending.Reset()
		t.args.WriteString(a)
		dst = e.emit(dst, "response.function_call_arguments.delta", map[string]any{"item_id": t.id, "output_index": t.item, "delta": a})
	}
	return dst
}

func (e *respEncoder) setOutput(i int, item any) {
	for len(e.output) <= i {
		e.output = append(e.output, nil)
	}
	e.output[i] = item
}

func (e *respEncoder) closeMessage(dst []byte) []byte {
	if e.msg < 0 {
		return dst
	}
	text := e.msgText.String()
	part := respOutputText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
	dst = e.emit(dst, "response.output_text.done", map[string]any{"item_id": e.msgID, "output_index": e.msg, "content_index": 0, "text": text, "logprobs": []any{}})
	dst = e.emit(dst, "response.content_part.done", map[string]any{"item_id": e.msgID, "output_index": e.msg, "content_index": 0, "part": part})
	status, _ := respStatus(e.finish) // incomplete when cut short (length, content filter)
	item := respMessageItem{ID: e.msgID, Type: "message", Status: status, Role: "assistant", Content: []respOutputText{part}}
	dst = e.emit(dst, "response.output_item.done", map[string]any{"output_index": e.msg, "item": item})
	e.setOutput(e.msg, item)
	e.msg = -1
	e.msgText.Reset()
	return dst
}

func (e *respEncoder) closeReasoning(dst []byte) []byte {
	if e.reasoning < 0 {
		return dst
	}
	text := e.rsText.String()
	dst = e.emit(dst, "response.reasoning_text.done", map[string]any{"item_id": e.rsID, "output_index": e.reasoning, "content_index": 0, "text": text})
	item := respReasoningItem{ID: e.rsID, Type: "reasoning", Summary: []any{}, Content: []respReasoningText{{Type: "reasoning_text", Text: text}}}
	dst = e.emit(dst, "response.output_item.done", map[string]any{"output_index": e.reasoning, "item": item})
	e.setOutput(e.reasoning, item)
	e.reasoning = -1
	e.rsText.Reset()
	return dst
}

func (e *respEncoder) closeTool(dst []byte, t *respCall) []byte {
	if t.done {
		return dst
	}
	if t.item < 0 {
		dst = e.addTool(dst, t)
	}
	t.done = true
	args := t.args.String()
	dst = e.emit(dst, "response.function_call_arguments.done", map[string]any{"item_id": t.id, "output_index": t.item, "name": t.name, "arguments": args})
	item := respFunctionCallItem{ID: t.id, Type: "function_call", Status: "completed", CallID: t.callID, Name: t.name, Arguments: args}
	dst = e.emit(dst, "response.output_item.done", map[string]any{"output_index": t.item, "item": item})
	e.setOutput(t.item, item)
	return dst
}

// Ping appends nothing: Responses clients get no keep-alive events.
func (e *respEncoder) Ping(dst []byte) []byte { return dst }

// End closes the open items in output order and sends response.completed
// (or response.incomplete for a length or content-filter finish).
func (e *respEncoder) End(dst []byte) []byte {
	if e.ended {
		return dst
	}
	dst = e.start(dst, nil)
	type closer struct {
		index int
		close func([]byte) []byte
	}
	var cs []closer
	if e.reasoning >= 0 {
		cs = append(cs, closer{e.reasoning, e.closeReasoning})
	}
	if e.msg >= 0 {
		cs = append(cs, closer{e.msg, e.closeMessage})
	}
	for _, j := range e.toolOrder {
		t := e.tools[j]
		idx := t.item
		if idx < 0 {
			idx = 1 << 30 // added at the end, in order
		}
		cs = append(cs, closer{idx, func(b []byte) []byte { return e.closeTool(b, t) }})
	}
	slices.SortStableFunc(cs, func(a, b closer) int { return a.index - b.index })
	for _, c := range cs {
		dst = c.close(dst)
	}
	e.ended = true
	o := e.obj
	o.Output = make([]any, 0, len(e.output))
	for _, it := range e.output {
		if it != nil {
			o.Output = append(o.Output, it)
		}
	}
	o.Status, o.IncompleteDetails = respStatus(e.finish)
	o.Usage = respUsageFrom(e.usage)
	typ := "response.completed"
	if o.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return e.emit(dst, typ, map[string]any{"response": o})
}

// Fail appends an error event and response.failed; no response.completed.
func (e *respEncoder) Fail(dst []byte, err *UpstreamError) []byte {
	if e.ended {
		return dst
	}
	dst = e.start(dst, nil)
	e.ended = true
	code := err.Code
	if code == "" {
		code = err.Type
	}
	dst = e.emit(dst, "error", map[string]any{"code": code, "message": err.Message, "param": nil})
	o := e.obj
	o.Status = "failed"
	o.Error = &respError{Code: code, Message: err.Message}
	o.Output = []any{}
	return e.emit(dst, "response.failed", map[string]any{"response": o})
}
