package mock

import (
	"errors"
	"flag"
	"strings"
)

// RegisterFlags defines the mock's command-line flags on fs, writing into o.
// A flag's default is the current value of its field, or the field's default
// when that is zero, so the help text shows the effective values. The
// caller handles --listen.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	if len(o.Models) == 0 {
		o.Models = []string{DefaultModel}
	}
	if o.Tokens == 0 {
		o.Tokens = DefaultTokens
	}
	if o.EmbeddingDim == 0 {
		o.EmbeddingDim = DefaultEmbeddingDim
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.API == "" {
		o.API = APIOpenAI
	}
	fs.StringVar(&o.API, "api", o.API, "`API` to simulate: openai, anthropic (/v1/messages) or gemini (/v1beta/models/{m}:generateContent)")
	fs.Var(modelsFlag{&o.Models}, "models", "comma-separated `list` of model IDs to serve")
	fs.DurationVar(&o.TTFT, "ttft", o.TTFT, "time to first token")
	fs.DurationVar(&o.TokenDelay, "token-delay", o.TokenDelay, "delay between two tokens")
	fs.IntVar(&o.Tokens, "tokens", o.Tokens, "tokens per completion, capped by the request's max_tokens")
	fs.IntVar(&o.EmbeddingDim, "embedding-dim", o.EmbeddingDim, "length of every embedding vector")
	fs.IntVar(&o.ErrorStatus, "error-status", o.ErrorStatus, "answer inference requests with this HTTP `status`, 400-599 (0: off)")
	fs.Float64Var(&o.ErrorRate, "error-rate", o.ErrorRate, "fraction 0..1 of inference requests that get --error-status (0: all)")
	fs.StringVar(&o.RetryAfter, "retry-after", o.RetryAfter, "Retry-After header value sent on injected errors")
	fs.BoolVar(&o.Hang, "hang", o.Hang, "accept inference requests and never answer")
	fs.BoolVar(&o.HangAfterHeaders, "hang-after-headers", o.HangAfterHeaders, "send 200 and the headers of inference answers, then nothing")
	fs.IntVar(&o.CutAfter, "cut-after", o.CutAfter, "abort streams after `N` content chunks (0: off)")
	fs.IntVar(&o.StallAfter, "stall-after", o.StallAfter, "stop streams after `N` content chunks, keeping the connection open (0: off)")
	fs.BoolVar(&o.FirstEventError, "first-event-error", o.FirstEventError, "make the first stream event an error event and end the stream")
	fs.BoolVar(&o.EmptyStream, "empty-stream", o.EmptyStream, "answer streams with [DONE] and no content")
	fs.IntVar(&o.HealthStatus, "health-status", o.HealthStatus, "HTTP `status` of /health, /v1/models and /api/tags (0: 200)")
	fs.DurationVar(&o.WarmupFor, "warmup", o.WarmupFor, "answer 503 \"loading model\" for this long after start")
	fs.StringVar(&o.RequireAPIKey, "api-key", o.RequireAPIKey, "require \"Authorization: Bearer `KEY`\" on every endpoint but /health")
	fs.BoolVar(&o.AcceptAnyModel, "any-model", o.AcceptAnyModel, "serve any requested model")
	fs.StringVar(&o.Name, "name", o.Name, "backend `name`, sent as the X-Mock-Backend header and system_fingerprint")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the random source behind --error-rate")
}

// modelsFlag is a comma-separated list of model IDs.
type modelsFlag struct{ models *[]string }

func (f modelsFlag) String() string {
	if f.models == nil {
		return ""
	}
	return strings.Join(*f.models, ",")
}

func (f modelsFlag) Set(s string) error {
	var models []string
	for m := range strings.SplitSeq(s, ",") {
		if m = strings.TrimSpace(m); m != "" {
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return errors.New("no model ID given")
	}
	*f.models = models
	return nil
}
