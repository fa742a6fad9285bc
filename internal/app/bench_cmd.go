package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/continuumhq/continuum/internal/bench"
)

const benchSynopsis = `bench --model NAME [--url URL] [--concurrency N | --rate R [--poisson]] [--duration D | --requests N] [flags]

Sends OpenAI-compatible requests to URL and reports throughput, errors by kind
and latency percentiles (for --stream also time to first token, inter-token
latency and output tokens per second). A closed loop (--concurrency) keeps N
requests running; an open loop (--rate) starts requests at a fixed rate,
whatever the server does, and measures latency from when each was due.

Exit status: 0 when at least one request succeeded, 1 when none did or the
run failed, 2 for a usage error.`

func benchCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlags("bench", benchSynopsis, env)
	cfg := bench.Config{URL: "http://127.0.0.1:8080", Endpoint: bench.DefaultEndpoint, Timeout: bench.DefaultTimeout, MaxInFlight: bench.DefaultMaxInFlight}
	var promptsFile, jsonFile, htmlFile string
	var quiet bool
	fs.StringVar(&cfg.URL, "url", cfg.URL, "base `URL` of the server (…/v1 and the endpoint's full URL are accepted too)")
	fs.StringVar(&cfg.Model, "model", "", "`model` to request (required; prompts that name a model keep theirs)")
	fs.StringVar(&cfg.APIKey, "api-key", "", "send \"Authorization: Bearer `KEY`\"")
	fs.StringVar(&cfg.Endpoint, "endpoint", cfg.Endpoint, "endpoint: chat, completions or embeddings")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "closed loop: `N` requests in flight at all times (default 1 without --rate)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: start `R` requests per second, whatever the responses do")
	fs.BoolVar(&cfg.Poisson, "poisson", false, "open loop: Poisson arrivals (exponential gaps) instead of evenly spaced ones")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the Poisson arrivals and the generated prompts")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to start requests, after the warm-up (default 10s unless --requests is set)")
	fs.IntVar(&cfg.Requests, "requests", 0, "stop after exactly `N` measured requests")
	fs.BoolVar(&cfg.Stream, "stream", false, "stream responses and measure time to first token and inter-token latency")
	fs.IntVar(&cfg.MaxTokens, "max-tokens", 0, "send max_tokens `N` (0: as the prompt has it)")
	fs.IntVar(&cfg.PromptTokens, "prompt-tokens", 0, fmt.Sprintf("length of generated prompts in `tokens` (default %d)", bench.DefaultPromptTokens))
	fs.StringVar(&promptsFile, "prompts", "", "JSONL `file` of prompts: full request bodies, {\"prompt\": …} or {\"messages\": […]}")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request timeout")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "leave the requests of this first period out of the report")
	fs.IntVar(&cfg.MaxInFlight, "max-inflight", cfg.MaxInFlight, "open loop: most requests in flight; arrivals beyond are dropped and reported")
	fs.StringVar(&jsonFile, "json", "", "write the full result as JSON to `file`")
	fs.StringVar(&htmlFile, "html", "", "write a self-contained HTML report with charts to `file`")
	fs.BoolVar(&quiet, "quiet", false, "no progress line on stderr")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	if cfg.Model == "" {
		fmt.Fprintln(env.Stderr, "continuum bench: --model is required")
		return ExitUsage
	}
	if promptsFile != "" && cfg.PromptTokens != 0 {
		fmt.Fprintln(env.Stderr, "continuum bench: --prompts and --prompt-tokens exclude each other")
		return ExitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(env.Stderr, "continuum bench: %v\n", err)
		return ExitUsage
	}
	if promptsFile != "" {
		prompts, err := readPromptsFile(promptsFile)
		if err != nil {
			fmt.Fprintf(env.Stderr, "continuum bench: %v\n", err)
			return ExitFailure
		}
		cfg.Prompts = prompts
	}
	if !quiet {
		cfg.Progress = env.Stderr
		cfg.ProgressTTY = isTerminal(env.Stderr)
	}

	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum bench: %v\n", err)
		return ExitFailure
	}
	if err := res.WriteText(env.Stdout); err != nil {
		fmt.Fprintf(env.Stderr, "continuum bench: %v\n", err)
		return ExitFailure
	}
	code := ExitOK
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{jsonFile, res.WriteJSON}, {htmlFile, res.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			fmt.Fprintf(env.Stderr, "continuum bench: %v\n", err)
			code = ExitFailure
		}
	}
	if res.Totals.Succeeded == 0 {
		fmt.Fprintln(env.Stderr, "continuum bench: no request succeeded")
		code = ExitFailure
	}
	return code
}

func readPromptsFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open prompts: %w", err)
	}
	defer f.Close()
	prompts, err := bench.ReadPrompts(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return prompts, nil
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create report: %w", err)
	}
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close report: %w", err)
	}
	return nil
}

// isTerminal reports whether w is a terminal, so that the progress line can
// be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
