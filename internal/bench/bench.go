// Package bench is the load generator behind `continuum bench`. It sends
// OpenAI-compatible requests to one endpoint, in a closed loop (a fixed
// number of workers, each sending its next request when the previous one
// ends) or an open loop (requests started at a target rate, fixed or Poisson,
// whatever the responses do), and reports throughput, errors by kind and
// latency percentiles; for streams also time to first token, inter-token
// latency and output tokens per second.
//
// Latency is measured on a monotonic clock from the moment a request was due
// to be sent, so that a generator that falls behind in an open loop shows up
// in the numbers instead of hiding them (coordinated omission); the time from
// the actual send is reported next to it as the service time. Results go into
// fixed-size log-linear histograms (see Histogram), so recording does not
// allocate.
//
// Run drives a benchmark; the Result it returns writes itself as a text
// report, as JSON (the exported types are the schema) and as a
// self-contained HTML page.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Defaults used when the corresponding Config field is zero.
const (
	DefaultDuration     = 10 * time.Second // when neither Duration nor Requests is set
	DefaultPromptTokens = 32               // length of generated prompts
	DefaultTimeout      = 60 * time.Second // per request
	DefaultMaxInFlight  = 10000            // open-loop bound on concurrent requests
	DefaultEndpoint     = "chat"           // EndpointChat
)

// Endpoints accepted in Config.Endpoint.
const (
	EndpointChat        = "chat"        // POST /v1/chat/completions
	EndpointCompletions = "completions" // POST /v1/completions
	EndpointEmbeddings  = "embeddings"  // POST /v1/embeddings
)

// Modes reported in Result.Mode.
const (
	ModeClosed = "closed" // Config.Concurrency workers
	ModeOpen   = "open"   // requests started at Config.Rate
)

// Config describes one benchmark. Only URL and Model are required; every
// other zero field has a default. The JSON form is the "config" member of a
// Result; the API key, the prompts and the run-time hooks are left out.
type Config struct {
	// URL is the base URL of the server under test: "http://host:port",
	// "http://host:port/v1" or the endpoint's full URL. Requests go to
	// <base>/v1/chat/completions (or the Endpoint's path). Required.
	URL string `json:"url"`
	// Model is the "model" of every request whose prompt does not name one.
	// Required.
	Model string `json:"model"`
	// APIKey, when not empty, is sent as "Authorization: Bearer <APIKey>".
	// Default "": no Authorization header. It is never written to a Result.
	APIKey string `json:"-"`
	// Endpoint is "chat", "completions" or "embeddings". Default "": "chat".
	Endpoint string `json:"endpoint"`

	// Concurrency is the number of closed-loop workers, each sending its next
	// request as soon as the previous one ends. It must be 0 when Rate is set.
	// Default 0: 1 worker (when Rate is 0).
	Concurrency int `json:"concurrency,omitempty"`
	// Rate, when above 0, selects the open loop: requests are started at this
	// many per second, each in its own goroutine, whether or not earlier ones
	// have finished. Default 0: closed loop.
	Rate float64 `json:"rate,omitempty"`
	// Poisson makes open-loop arrivals a Poisson process (exponential gaps
	// drawn from a source seeded by Seed) instead of evenly spaced. It needs
	// Rate. Default false.
	Poisson bool `json:"poisson,omitempty"`
	// Duration is how long requests are started after the warm-up. Requests
	// still running then are waited for (up to Timeout). Default 0: no time
	// limit when Requests is set, DefaultDuration otherwise.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Requests, when above 0, stops the run after exactly this many measured
	// requests (warm-up requests not included; in an open loop, dropped
	// requests count). Whichever of Duration and Requests ends first ends the
	// run. Default 0: no count limit.
	Requests int `json:"requests,omitempty"`
	// Stream sends "stream": true with stream_options.include_usage and
	// measures time to first token and inter-token latency. Not for
	// embeddings. Default false.
	Stream bool `json:"stream,omitempty"`
	// MaxTokens, when above 0, is sent as "max_tokens" in every chat and
	// completions request. Default 0: the field is left as the prompt has it.
	MaxTokens int `json:"max_tokens,omitempty"`
	// PromptTokens is the length, in words of about one token each, of the
	// generated prompts used when Prompts is empty. Default 0:
	// DefaultPromptTokens.
	PromptTokens int `json:"prompt_tokens,omitempty"`
	// Prompts, when not empty, are the requests to send, used in turn. Each
	// is a JSON object: a full request body, {"prompt": "..."} or
	// {"messages": [...]} (see ReadPrompts). Model, Stream and MaxTokens are
	// applied to each. Default nil: generated prompts of PromptTokens words.
	Prompts [][]byte `json:"-"`
	// Timeout bounds each request, from its send to its last byte; a request
	// that takes longer is an error of kind "timeout". It is measured on the
	// real clock. Default 0: DefaultTimeout.
	Timeout time.Duration `json:"timeout_ns,omitempty"`
	// Warmup is a period at the start whose requests are sent but left out of
	// the Result (only counted in Totals.Warmup). Default 0: none.
	Warmup time.Duration `json:"warmup_ns,omitempty"`
	// MaxInFlight bounds the open loop's concurrent requests; an arrival
	// while that many are running is not sent and counts as dropped.
	// Default 0: DefaultMaxInFlight.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// Seed seeds Poisson arrivals and the generated prompts; runs with the
	// same seed send the same requests at the same offsets. Default 0, a
	// seed like any other.
	Seed uint64 `json:"seed"`

	// Progress, when not nil, receives a live progress line (requests,
	// errors, current rate) every ProgressInterval. Default nil: none.
	Progress io.Writer `json:"-"`
	// ProgressTTY rewrites the progress line in place ("\r" and an erase),
	// for a terminal; otherwise each update is a line of its own.
	// Default false.
	ProgressTTY bool `json:"-"`
	// ProgressInterval is the time between two progress updates. Default 0:
	// 1s with ProgressTTY, 5s without.
	ProgressInterval time.Duration `json:"-"`
	// Client sends the requests. Default nil: a Transport built for load
	// generation (HTTP/1.1, keep-alive pool as large as the concurrency, no
	// compression, no proxy, redirects not followed), closed when Run
	// returns.
	Client *http.Client `json:"-"`
	// Clock tells the time: schedules, deadlines, latencies and progress.
	// Default nil: clock.Real(), which is monotonic. Tests inject a
	// *clock.Fake.
	Clock clock.Clock `json:"-"`
}

// Validate reports every invalid field of c, joined, or nil. Zero fields
// are valid wherever they have a default.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.URL == "" {
		add("url is required")
	} else if u, err := url.Parse(c.URL); err != nil {
		add("url: %w", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url %q: want http://host[:port][/v1] or https://…", c.URL)
	}
	if c.Model == "" {
		add("model is required")
	}
	switch c.Endpoint {
	case "", EndpointChat, EndpointCompletions:
	case EndpointEmbeddings:
		if c.Stream {
			add("the embeddings endpoint does not stream")
		}
	default:
		add("endpoint %q: want chat, completions or embeddings", c.Endpoint)
	}
	if c.Concurrency < 0 {
		add("concurrency %d is negative", c.Concurrency)
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		add("rate %v is not a positive number", c.Rate)
	}
	if c.Rate > 0 && c.Concurrency > 0 {
		add("set either concurrency (closed loop) or rate (open loop), not both")
	}
	if c.Poisson && c.Rate <= 0 {
		add("poisson arrivals need a rate")
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"duration", c.Duration}, {"timeout", c.Timeout}, {"warmup", c.Warmup}, {"progress interval", c.ProgressInterval}} {
		if d.value < 0 {
			add("%s %v is negative", d.name, d.value)
		}
	}
	for _, n := range []struct {
		name  string
		value int
	}{{"requests", c.Requests}, {"max tokens", c.MaxTokens}, {"prompt tokens", c.PromptTokens}, {"max in-flight", c.MaxInFlight}} {
		if n.value < 0 {
			add("%s %d is negative", n.name, n.value)
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with every defaulted zero field set.
func (c Config) withDefaults() Config {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Rate == 0 && c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	if len(c.Prompts) == 0 && c.PromptTokens == 0 {
		c.PromptTokens = DefaultPromptTokens
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 5 * time.Second
		if c.ProgressTTY {
			c.ProgressInterval = time.Second
		}
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	return c
}

// Run sends the benchmark described by cfg and returns its result. It
// returns an error, and no result, when cfg is invalid or its prompts cannot
// be turned into requests. Failed requests are not errors of Run: they are
// counted in the Result. When ctx ends, the requests in flight are cancelled
// (counted in Totals.Cancelled, not as errors) and Run returns what was
// measured so far with Result.Interrupted set.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	cfg = cfg.withDefaults()
	target, err := targetURL(cfg.URL, cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	bodies, err := buildBodies(&cfg)
	if err != nil {
		return nil, fmt.Errorf("bench prompts: %w", err)
	}
	var do func(*http.Request) (*http.Response, error)
	if cfg.Client != nil {
		do = cfg.Client.Do
	} else {
		// The Transport is used directly: a Client's redirect handling,
		// header copies and deadline plumbing cost allocations per request
		// that a load generator does not need.
		tr := newTransport(&cfg)
		defer tr.CloseIdleConnections()
		do = tr.RoundTrip
	}
	r, err := newRunner(&cfg, do, target, bodies)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return r.run(ctx), nil
}
