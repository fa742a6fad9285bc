// Package tokens estimates token counts offline, before a request is sent:
// the estimate that a token-rate limit reserves (limit.Reserve) and later
// reconciles to the usage the provider reports.
//
// OpenAI models are counted with their own BPE encodings, embedded in the
// binary (github.com/tiktoken-go/tokenizer; nothing is downloaded):
// o200k_base for the gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and
// gpt-oss families, cl100k_base for the others. Other models (llama, qwen,
// mistral, …) have tokenizers of their own that are not embedded: they are
// counted with cl100k_base, a close estimate for most, or, with
// Options.CharsFallback, at one token per three bytes, which is cheaper and
// errs on the high side.
package tokens

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Options configures a Counter. The zero value is usable.
type Options struct {
	// CharsFallback counts models that are not OpenAI's at one token per
	// three bytes of text, rounded up (three characters for ASCII; one per
	// character for most CJK text), instead of with cl100k_base. Default
	// false.
	CharsFallback bool
}

// Counter counts tokens. It is safe for concurrent use; the encodings are
// loaded on first use (tens of milliseconds each) and then shared.
type Counter struct {
	opts   Options
	o200k  func() tokenizer.Codec
	cl100k func() tokenizer.Codec
}

// New returns a Counter.
func New(opts Options) *Counter {
	return &Counter{
		opts:   opts,
		o200k:  sync.OnceValue(func() tokenizer.Codec { return mustGet(tokenizer.O200kBase) }),
		cl100k: sync.OnceValue(func() tokenizer.Codec { return mustGet(tokenizer.Cl100kBase) }),
	}
}

func mustGet(e tokenizer.Encoding) tokenizer.Codec {
	c, err := tokenizer.Get(e)
	if err != nil {
		panic("tokens: embedded encoding " + string(e) + ": " + err.Error())
	}
	return c
}

// defaultCounter is the Counter of the package-level functions: built once,
// never changed.
var defaultCounter = sync.OnceValue(func() *Counter { return New(Options{}) })

// Count returns the number of tokens of text for model, with a Counter of
// default Options.
func Count(model, text string) int { return defaultCounter().Count(model, text) }

// EstimateChat is Counter.EstimateChat with a Counter of default Options.
func EstimateChat(model string, body []byte) (prompt, maxOutput int, ok bool) {
	return defaultCounter().EstimateChat(model, body)
}

// encoding is how a model is counted.
type encoding int

const (
	encCl100k encoding = iota
	encO200k
	encChars
)

// o200kFamilies are the model families on o200k_base; a model name matches
// a family when it equals it or continues it with "-" (or "." for gpt-4).
var o200kFamilies = []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "gpt-oss"}

// openAIPrefixes start the names of OpenAI models on cl100k_base (and older
// encodings, which cl100k_base approximates).
var openAIPrefixes = []string{"gpt-", "chatgpt-", "text-embedding-", "text-", "davinci", "babbage", "code-"}

// encodingFor picks model's encoding. A provider prefix ("openai/gpt-4o")
// and a fine-tune prefix ("ft:gpt-4o-mini:org::id") are ignored.
func (c *Counter) encodingFor(model string) encoding {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.ToLower(strings.TrimPrefix(model, "ft:"))
	for _, f := range o200kFamilies {
		if rest, ok := strings.CutPrefix(model, f); ok && (rest == "" || rest[0] == '-' || rest[0] == ':') {
			return encO200k
		}
	}
	for _, p := range openAIPrefixes {
		if strings.HasPrefix(model, p) {
			return encCl100k
		}
	}
	if c.opts.CharsFallback {
		return encChars
	}
	return encCl100k
}

// Count returns the number of tokens of text for model.
func (c *Counter) Count(model, text string) int {
	return c.count(c.encodingFor(model), text)
}

func (c *Counter) count(enc encoding, text string) int {
	if text == "" {
		return 0
	}
	var codec tokenizer.Codec
	switch enc {
	case encO200k:
		codec = c.o200k()
	case encCl100k:
		codec = c.cl100k()
	default:
		return (len(text) + 2) / 3
	}
	n, err := codec.Count(text)
	if err != nil {
		return (len(text) + 2) / 3
	}
	return n
}
