package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Result is what a benchmark measured. Its JSON form (WriteJSON) is the
// schema of `continuum bench --json`; durations are integer nanoseconds in
// members named *_ns. Warm-up requests are left out of everything but
// Totals.Warmup.
type Result struct {
	// Config is the benchmark's configuration with defaults applied, without
	// the fields that have no JSON form (the API key, the prompts, the
	// progress writer, the client and the clock).
	Config Config `json:"config"`
	// Target is the URL the requests were sent to.
	Target string `json:"target"`
	// Mode is ModeClosed or ModeOpen.
	Mode string `json:"mode"`
	// Prompts is the number of distinct request bodies sent in turn.
	Prompts int `json:"prompts"`
	// Start is when the measurement began (the end of the warm-up), in UTC.
	Start time.Time `json:"start"`
	// Elapsed is the measured period: from Start until the last request
	// ended, and at least until the end of an open loop's schedule.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Interrupted is set when the run was cut short by its context.
	Interrupted bool `json:"interrupted,omitempty"`
	// Totals are the request counts and rates.
	Totals Totals `json:"totals"`
	// Latency is the time of successful requests from when each was due to
	// be sent (in a closed loop: sent) to its last byte.
	Latency Distribution `json:"latency"`
	// ServiceTime is the time of successful requests from their actual send
	// to their last byte.
	ServiceTime Distribution `json:"service_time"`
	// TTFT is the time to first token of successful streams, from when each
	// was due to be sent to its first content event. Nil without streaming.
	TTFT *Distribution `json:"ttft,omitempty"`
	// ITL is the inter-token latency of successful streams: the gaps between
	// consecutive events that carry output. Nil without streaming.
	ITL *Distribution `json:"itl,omitempty"`
	// Errors counts failed requests by kind: the Kind constants and
	// HTTPKind(status).
	Errors map[string]int64 `json:"errors"`
	// Statuses counts responses by HTTP status, errors included.
	Statuses map[int]int64 `json:"statuses"`
	// Series has one entry per second of Elapsed.
	Series []Second `json:"series"`
}

// Totals are a Result's request counts and rates.
type Totals struct {
	// Requests is the number of measured requests: Sent plus Dropped.
	Requests int64 `json:"requests"`
	// Sent counts the requests sent: Succeeded + Failed + Cancelled.
	Sent int64 `json:"sent"`
	// Succeeded counts 2xx responses read to their end (streams: with
	// content and [DONE]).
	Succeeded int64 `json:"succeeded"`
	// Failed counts the requests that ended in an error, one of Errors.
	Failed int64 `json:"failed"`
	// Cancelled counts the requests cut short because the run ended.
	Cancelled int64 `json:"cancelled"`
	// Dropped counts the open-loop requests not sent because MaxInFlight
	// requests were already running.
	Dropped int64 `json:"dropped"`
	// Warmup counts the requests sent during the warm-up.
	Warmup int64 `json:"warmup"`
	// SuccessRate is Succeeded / (Succeeded + Failed), 0 when both are 0.
	SuccessRate float64 `json:"success_rate"`
	// Throughput is successful requests per second of Elapsed.
	Throughput float64 `json:"throughput"`
	// SendRate is requests sent per second: over the schedule in an open
	// loop (the rate achieved, to compare with Config.Rate), over Elapsed in
	// a closed loop.
	SendRate float64 `json:"send_rate"`
	// OutputTokens is the sum of the successful requests' output tokens:
	// usage.completion_tokens when the server reports it, else (streams) the
	// number of events that carried output.
	OutputTokens int64 `json:"output_tokens"`
	// OutputTokensPerSecond is OutputTokens per second of Elapsed.
	OutputTokensPerSecond float64 `json:"output_tokens_per_second"`
}

// Distribution summarises a Histogram.
type Distribution struct {
	Count int64         `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	Max   time.Duration `json:"max_ns"`
	// Percentiles are p50, p75, p90, p95, p99, p99.9 and p99.99.
	Percentiles []Percentile `json:"percentiles"`
	// Buckets is the histogram in bins of equal width on a log scale, from
	// Min to Max (about 40 bins, 10 to 100 per power of ten); nil when Count
	// is 0.
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Percentile is one point of a Distribution.
type Percentile struct {
	Quantile float64       `json:"quantile"` // 0.99 for p99
	Value    time.Duration `json:"value_ns"`
}

// Bucket is one bin of a Distribution's histogram: the values in
// [Lower, Upper).
type Bucket struct {
	Lower time.Duration `json:"lower_ns"`
	Upper time.Duration `json:"upper_ns"`
	Count int64         `json:"count"`
}

// Second is one second of a Result's time series, counted when requests were
// sent (Sent), ended (Succeeded, Failed, MeanLatency) or due (Dropped).
type Second struct {
	T           int           `json:"t"` // seconds since Result.Start
	Sent        int64         `json:"sent"`
	Succeeded   int64         `json:"succeeded"`
	Failed      int64         `json:"failed"`
	Dropped     int64         `json:"dropped"`
	MeanLatency time.Duration `json:"mean_latency_ns"` // of the requests that succeeded in this second
}

// Quantile returns the value of the percentile q (0.99 for p99); Min for 0,
// Max for 1, and 0 when d has no such percentile.
func (d *Distribution) Quantile(q float64) time.Duration {
	switch q {
	case 0:
		return d.Min
	case 1:
		return d.Max
	}
	for _, p := range d.Percentiles {
		if math.Abs(p.Quantile-q) < 1e-9 {
			return p.Value
		}
	}
	return 0
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json result: %w", err)
	}
	return nil
}

// result merges the shards into the Result. end is when the last request
// ended; scheduleEnd, in an open loop, when the schedule ended.
func (r *runner) result(interrupted bool, end, scheduleEnd time.Time) *Result {
	cfg := *r.cfg
	// Only what the JSON form carries is kept, so that a Result read back
	// from JSON is the Result that was written.
	cfg.APIKey, cfg.Prompts, cfg.Progress, cfg.ProgressTTY, cfg.ProgressInterval, cfg.Client, cfg.Clock = "", nil, nil, false, 0, nil, nil
	res := &Result{
		Config:      cfg,
		Target:      r.target,
		Mode:        ModeClosed,
		Prompts:     len(r.bodies),
		Start:       r.measureStart.Round(0).UTC(),
		Interrupted: interrupted,
		Errors:      map[string]int64{},
		Statuses:    map[int]int64{},
	}
	if cfg.Rate > 0 {
		res.Mode = ModeOpen
	}
	var latency, service, ttft, itl Histogram
	var kinds [numKinds]int64
	var series []second
	var lastSent time.Time
	t := &res.Totals
	for _, s := range r.shards {
		s.mu.Lock()
		latency.Merge(&s.latency)
		service.Merge(&s.service)
		ttft.Merge(&s.ttft)
		itl.Merge(&s.itl)
		t.Sent += s.sent
		t.Succeeded += s.succeeded
		t.Failed += s.failed
		t.Cancelled += s.cancelled
		t.Dropped += s.dropped
		t.Warmup += s.warmup
		t.OutputTokens += s.tokens
		for i, n := range s.kinds {
			kinds[i] += n
		}
		for status, n := range s.statuses {
			res.Statuses[status] += n
		}
		if s.lastSent.After(lastSent) {
			lastSent = s.lastSent
		}
		for i, sec := range s.series {
			for len(series) <= i {
				series = append(series, second{})
			}
			m := &series[i]
			m.sent += sec.sent
			m.succeeded += sec.succeeded
			m.failed += sec.failed
			m.dropped += sec.dropped
			m.latency += sec.latency
		}
		s.mu.Unlock()
	}
	t.Requests = t.Sent + t.Dropped

	for k := kindNone + 1; k < numKinds; k++ {
		if kinds[k] > 0 && k != kindHTTP {
			res.Errors[k.name()] = kinds[k]
		}
	}
	for status, n := range res.Statuses {
		if status < 200 || status > 299 {
			res.Errors[HTTPKind(status)] += n
		}
	}

	res.Latency = latency.Distribution()
	res.ServiceTime = service.Distribution()
	if cfg.Stream {
		a, b := ttft.Distribution(), itl.Distribution()
		res.TTFT, res.ITL = &a, &b
	}

	last := end
	if !interrupted && scheduleEnd.After(last) {
		last = scheduleEnd
	}
	res.Elapsed = max(0, last.Sub(r.measureStart))
	sendWindow := res.Elapsed
	if cfg.Rate > 0 {
		sendEnd := scheduleEnd
		if lastSent.After(sendEnd) {
			sendEnd = lastSent
		}
		sendWindow = max(0, sendEnd.Sub(r.measureStart))
	}
	if finished := t.Succeeded + t.Failed; finished > 0 {
		t.SuccessRate = float64(t.Succeeded) / float64(finished)
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		t.Throughput = float64(t.Succeeded) / s
		t.OutputTokensPerSecond = float64(t.OutputTokens) / s
	}
	if s := sendWindow.Seconds(); s > 0 {
		t.SendRate = float64(t.Sent) / s
	}

	n := max(len(series), int(res.Elapsed/time.Second))
	res.Series = make([]Second, n)
	for i := range res.Series {
		sec := Second{T: i}
		if i < len(series) {
			m := series[i]
			sec.Sent, sec.Succeeded, sec.Failed, sec.Dropped = m.sent, m.succeeded, m.failed, m.dropped
			if m.succeeded > 0 {
				sec.MeanLatency = time.Duration(m.latency / float64(m.succeeded))
			}
		}
		res.Series[i] = sec
	}
	return res
}
