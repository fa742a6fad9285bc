package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// This file serves one /metrics for a multi-process router: each worker
// keeps its own registry, serves it to the other workers on a Unix socket
// (PeerHandler), and answers a scrape with every worker's metrics merged
// (Workers, MergeWorkers).

// WorkerLabel is the label that tells workers apart in the series that are
// kept per worker.
const WorkerLabel = "worker"

// Merge rules, by family.
type mergeRule int

const (
	// ruleSum adds the samples of equal label sets: counters, histograms
	// (bucket by bucket, sum and count), untyped samples, and the gauges
	// whose sum means something (requests in flight).
	ruleSum mergeRule = iota
	// rulePerWorker keeps every worker's series apart, with a worker label:
	// the Go runtime and process metrics, summaries (quantiles cannot be
	// added), and the gauges that describe one process's own state (a
	// worker's view of a backend's health or breaker, its last reload).
	rulePerWorker
	// ruleMax keeps one series, the largest value: gauges every worker
	// reports alike (continuum_build_info).
	ruleMax
)

// ruleFor returns how family f of each worker is merged.
func ruleFor(f *dto.MetricFamily) mergeRule {
	name := f.GetName()
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
		return rulePerWorker
	}
	switch f.GetType() {
	case dto.MetricType_COUNTER, dto.MetricType_HISTOGRAM, dto.MetricType_UNTYPED:
		return ruleSum
	case dto.MetricType_GAUGE:
		switch name {
		case namespace + "_backend_in_flight":
			return ruleSum
		case namespace + "_build_info":
			return ruleMax
		}
	}
	return rulePerWorker
}

// WorkerFamilies is what one worker's registry gathered.
type WorkerFamilies struct {
	Index    int
	Families []*dto.MetricFamily
}

// MergeWorkers merges the metrics of several workers into one set, as one
// process would report them:
//
//   - counters, histograms (each bucket, the sum and the count) and untyped
//     samples with the same name and labels are added;
//   - continuum_backend_in_flight is added (requests in flight to a backend
//     from all workers);
//   - continuum_build_info is kept once;
//   - every other gauge, the summaries, and the go_*, process_* and
//     promhttp_* families are kept per worker, with a "worker" label: they
//     describe one process (its memory, its view of a backend's health and
//     circuit breaker, which are per worker, its last reload).
//
// A family whose type differs between workers keeps the first worker's
// type; the others' series of it are dropped. Histograms whose buckets
// differ are kept per worker. Exemplars and timestamps are dropped. The
// result is sorted by name, and each family's metrics by labels. The inputs
// are not modified.
func MergeWorkers(workers []WorkerFamilies) []*dto.MetricFamily {
	workers = slices.Clone(workers)
	slices.SortFunc(workers, func(a, b WorkerFamilies) int { return a.Index - b.Index })
	type merged struct {
		fam  *dto.MetricFamily
		rule mergeRule
		// byLabels indexes the summed (or max) series by their labels.
		byLabels map[string]*dto.Metric
	}
	out := map[string]*merged{}
	for _, w := range workers {
		worker := strconv.Itoa(w.Index)
		for _, f := range w.Families {
			m := out[f.GetName()]
			if m == nil {
				m = &merged{
					fam:      &dto.MetricFamily{Name: proto.String(f.GetName()), Help: proto.String(f.GetHelp()), Type: f.Type, Unit: f.Unit},
					rule:     ruleFor(f),
					byLabels: map[string]*dto.Metric{},
				}
				out[f.GetName()] = m
			}
			if f.GetType() != m.fam.GetType() {
				continue
			}
			for _, metric := range f.Metric {
				if m.rule == rulePerWorker {
					m.fam.Metric = append(m.fam.Metric, withWorker(metric, worker))
					continue
				}
				key := labelKey(metric.Label)
				have, ok := m.byLabels[key]
				if !ok {
					c := copyMetric(metric)
					m.byLabels[key] = c
					m.fam.Metric = append(m.fam.Metric, c)
					continue
				}
				if !add(have, metric, m.rule) {
					// Not addable (histogram buckets differ): kept per worker.
					m.fam.Metric = append(m.fam.Metric, withWorker(metric, worker))
				}
			}
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	slices.Sort(names)
	fams := make([]*dto.MetricFamily, 0, len(names))
	for _, n := range names {
		f := out[n].fam
		slices.SortStableFunc(f.Metric, func(a, b *dto.Metric) int { return strings.Compare(labelKey(a.Label), labelKey(b.Label)) })
		fams = append(fams, f)
	}
	return fams
}

// labelKey is a metric's label set as a string, labels sorted by name.
func labelKey(labels []*dto.LabelPair) string {
	pairs := make([]string, len(labels))
	for i, l := range labels {
		pairs[i] = l.GetName() + "\xff" + l.GetValue()
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xfe")
}

// copyMetric returns a copy of m without exemplars, created and sample
// timestamps.
func copyMetric(m *dto.Metric) *dto.Metric {
	c := proto.Clone(m).(*dto.Metric)
	c.TimestampMs = nil
	if c.Counter != nil {
		c.Counter.Exemplar, c.Counter.CreatedTimestamp = nil, nil
	}
	if c.Histogram != nil {
		c.Histogram.CreatedTimestamp, c.Histogram.Exemplars = nil, nil
		for _, b := range c.Histogram.Bucket {
			b.Exemplar = nil
		}
	}
	if c.Summary != nil {
		c.Summary.CreatedTimestamp = nil
	}
	return c
}

// withWorker returns a copy of m with the worker label added (replacing a
// label of that name, which Continuum's metrics do not have).
func withWorker(m *dto.Metric, worker string) *dto.Metric {
	c := copyMetric(m)
	c.Label = slices.DeleteFunc(c.Label, func(l *dto.LabelPair) bool { return l.GetName() == WorkerLabel })
	c.Label = append(c.Label, &dto.LabelPair{Name: proto.String(WorkerLabel), Value: proto.String(worker)})
	slices.SortFunc(c.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return c
}

// add merges m into have by rule; false when they cannot be added.
func add(have, m *dto.Metric, rule mergeRule) bool {
	combine := func(a, b float64) float64 {
		if rule == ruleMax {
			return max(a, b)
		}
		return a + b
	}
	switch {
	case have.Counter != nil && m.Counter != nil:
		have.Counter.Value = proto.Float64(combine(have.Counter.GetValue(), m.Counter.GetValue()))
	case have.Gauge != nil && m.Gauge != nil:
		have.Gauge.Value = proto.Float64(combine(have.Gauge.GetValue(), m.Gauge.GetValue()))
	case have.Untyped != nil && m.Untyped != nil:
		have.Untyped.Value = proto.Float64(combine(have.Untyped.GetValue(), m.Untyped.GetValue()))
	case have.Histogram != nil && m.Histogram != nil:
		return addHistogram(have.Histogram, m.Histogram)
	default:
		return false
	}
	return true
}

// addHistogram adds classic histogram h to have, bucket by bucket; false
// (and have unchanged) when their buckets differ or either is a native
// histogram.
func addHistogram(have, h *dto.Histogram) bool {
	native := func(h *dto.Histogram) bool {
		return h.Schema != nil || len(h.PositiveSpan) > 0 || len(h.NegativeSpan) > 0 || h.SampleCountFloat != nil
	}
	if native(have) || native(h) || len(have.Bucket) != len(h.Bucket) {
		return false
	}
	for i, b := range h.Bucket {
		if have.Bucket[i].GetUpperBound() != b.GetUpperBound() || b.CumulativeCountFloat != nil {
			return false
		}
	}
	for i, b := range h.Bucket {
		have.Bucket[i].CumulativeCount = proto.Uint64(have.Bucket[i].GetCumulativeCount() + b.GetCumulativeCount())
	}
	have.SampleCount = proto.Uint64(have.GetSampleCount() + h.GetSampleCount())
	have.SampleSum = proto.Float64(have.GetSampleSum() + h.GetSampleSum())
	return true
}

// PeerHandler serves reg to the other workers, in Prometheus's delimited
// protocol-buffer format (the text format when the client asks for it).
func PeerHandler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Workers gathers the metrics of every worker of a multi-process router:
// this worker's from its own registry, the others' over their metrics
// sockets (PeerHandler), and merges them with MergeWorkers. A worker that
// does not answer within the timeout (restarting) is left out of the
// scrape; continuum_workers_up says how many answered, and continuum_workers
// how many are configured.
type Workers struct {
	self   prometheus.Gatherer
	index  int
	count  int
	socket func(int) string
	client *http.Client
	log    *slog.Logger
}

// WorkersOptions configures Workers.
type WorkersOptions struct {
	// Self is this worker's registry. Required.
	Self prometheus.Gatherer
	// Index and Count place this worker among Count workers.
	Index, Count int
	// Socket returns the path of worker i's metrics socket. Required.
	Socket func(i int) string
	// Timeout bounds the wait for another worker's metrics. Zero means 2s.
	Timeout time.Duration
	// Logger receives a debug line per worker that did not answer. Nil discards them.
	Logger *slog.Logger
}

// NewWorkers returns the gatherer of every worker's metrics.
func NewWorkers(o WorkersOptions) *Workers {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Workers{self: o.Self, index: o.Index, count: o.Count, socket: o.Socket, log: o.Logger}
	w.client = &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			// The URL's host names the worker: "worker-3".
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				i, err := strconv.Atoi(strings.TrimPrefix(host, "worker-"))
				if err != nil {
					return nil, fmt.Errorf("no worker %q", host)
				}
				var d net.Dialer
				return d.DialContext(ctx, "unix", w.socket(i))
			},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     time.Minute,
		},
	}
	return w
}

// Close releases the connections to other workers.
func (w *Workers) Close() { w.client.CloseIdleConnections() }

// Gather implements prometheus.Gatherer.
func (w *Workers) Gather() ([]*dto.MetricFamily, error) {
	own, err := w.self.Gather()
	sets := []WorkerFamilies{{Index: w.index, Families: own}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range w.count {
		if i == w.index {
			continue
		}
		wg.Go(func() {
			fams, err := w.fetch(i)
			if err != nil {
				w.log.Debug("metrics of a worker unavailable", "worker", i, "error", err.Error())
				return
			}
			mu.Lock()
			sets = append(sets, WorkerFamilies{Index: i, Families: fams})
			mu.Unlock()
		})
	}
	wg.Wait()
	out := MergeWorkers(sets)
	out = append(out,
		gaugeFamily(namespace+"_workers_up", "Worker processes whose metrics are in this scrape (the others are restarting or did not answer in time).", float64(len(sets))),
		gaugeFamily(namespace+"_workers", "Worker processes configured (server.workers).", float64(w.count)))
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, err
}

// fetch reads worker i's metrics.
func (w *Workers) fetch(i int) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequest(http.MethodGet, "http://worker-"+strconv.Itoa(i)+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var out []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		out = append(out, f)
	}
}

func gaugeFamily(name, help string, v float64) *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(v)}}},
	}
}
