package bench

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
)

// WriteText writes r as a text report: one "key value" line per total, a
// table of latency percentiles in milliseconds (one row per metric, its
// name first), then one "error KIND COUNT" line per error kind and one
// "status CODE COUNT" line per HTTP status, sorted. The layout is stable, so
// that scripts can grep it.
func (r *Result) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	t := &r.Totals
	kv := func(key, format string, args ...any) {
		fmt.Fprintf(b, "%-14s "+format+"\n", append([]any{key}, args...)...)
	}
	kv("target", "%s", r.Target)
	kv("model", "%s", r.Config.Model)
	kv("mode", "%s", r.describeMode())
	kv("stream", "%t", r.Config.Stream)
	kv("elapsed", "%.3f s", r.Elapsed.Seconds())
	if r.Interrupted {
		kv("interrupted", "true")
	}
	kv("requests", "%d", t.Requests)
	kv("sent", "%d", t.Sent)
	kv("succeeded", "%d", t.Succeeded)
	kv("failed", "%d", t.Failed)
	kv("dropped", "%d", t.Dropped)
	kv("cancelled", "%d", t.Cancelled)
	kv("warmup", "%d", t.Warmup)
	kv("success_rate", "%.2f %%", 100*t.SuccessRate)
	kv("throughput", "%.2f req/s", t.Throughput)
	kv("send_rate", "%.2f req/s", t.SendRate)
	kv("output_tokens", "%d", t.OutputTokens)
	kv("tokens_per_s", "%.2f tok/s", t.OutputTokensPerSecond)

	fmt.Fprintf(b, "\n%-14s %10s %10s %10s %10s %10s %10s %10s %10s\n",
		"metric_ms", "count", "mean", "p50", "p90", "p99", "p99.9", "min", "max")
	row := func(name string, d *Distribution) {
		fmt.Fprintf(b, "%-14s %10d %10s %10s %10s %10s %10s %10s %10s\n", name, d.Count,
			ms(d.Mean), ms(d.Quantile(0.5)), ms(d.Quantile(0.9)), ms(d.Quantile(0.99)), ms(d.Quantile(0.999)), ms(d.Min), ms(d.Max))
	}
	row("latency", &r.Latency)
	row("service_time", &r.ServiceTime)
	if r.TTFT != nil {
		row("ttft", r.TTFT)
	}
	if r.ITL != nil {
		row("itl", r.ITL)
	}

	if len(r.Errors) > 0 {
		b.WriteByte('\n')
		for _, kind := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(b, "error  %-14s %d\n", kind, r.Errors[kind])
		}
	}
	if len(r.Statuses) > 0 {
		b.WriteByte('\n')
		for _, status := range slices.Sorted(maps.Keys(r.Statuses)) {
			fmt.Fprintf(b, "status %-14d %d\n", status, r.Statuses[status])
		}
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("write text result: %w", err)
	}
	return nil
}

// describeMode returns the load shape in words, e.g. "closed loop,
// concurrency 4, duration 10s".
func (r *Result) describeMode() string {
	c := &r.Config
	s := "closed loop, concurrency " + strconv.Itoa(c.Concurrency)
	if r.Mode == ModeOpen {
		s = "open loop, rate " + strconv.FormatFloat(c.Rate, 'f', -1, 64) + " req/s"
		if c.Poisson {
			s += " (poisson)"
		}
		s += ", max in-flight " + strconv.Itoa(c.MaxInFlight)
	}
	if c.Duration > 0 {
		s += ", duration " + c.Duration.String()
	}
	if c.Requests > 0 {
		s += ", requests " + strconv.Itoa(c.Requests)
	}
	if c.Warmup > 0 {
		s += ", warm-up " + c.Warmup.String()
	}
	return s
}

// ms formats d in milliseconds with three decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
}
