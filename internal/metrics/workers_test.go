package metrics

import (
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// workerRegistry builds one worker's registry with Continuum's metrics,
// having served requests requests and seeing backend "b" with inFlight
// requests in flight and the given health.
func workerRegistry(t *testing.T, requests int, inFlight int64, up bool) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, "v1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range requests {
		m.ObserveRequest(Request{Endpoint: "chat_completions", Model: "m", Backend: "b", Status: 200 + 300*(i%2),
			Duration: time.Duration(i+1) * 10 * time.Millisecond, TTFT: time.Millisecond, Overhead: 50 * time.Microsecond})
	}
	m.ObserveReload("success")
	m.SetBackendSource(func() []BackendStat {
		return []BackendStat{{Name: "b", Up: up, Health: "ready", Breaker: "closed", InFlight: inFlight}}
	})
	return reg
}

func gatherAll(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sample returns the value of the series name{labels} in fams, and whether
// it exists. For a histogram it returns the sample count.
func sample(fams []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			if len(m.Label) != len(labels) {
				continue
			}
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			case m.Untyped != nil:
				return m.Untyped.GetValue(), true
			}
		}
	}
	return 0, false
}

func TestMergeWorkers(t *testing.T) {
	r0 := workerRegistry(t, 3, 2, true)
	r1 := workerRegistry(t, 5, 1, false)
	f0, f1 := gatherAll(t, r0), gatherAll(t, r1)
	merged := MergeWorkers([]WorkerFamilies{{Index: 1, Families: f1}, {Index: 0, Families: f0}})

	ok200 := map[string]string{"endpoint": "chat_completions", "model": "m", "backend": "b", "status": "200"}
	s500 := map[string]string{"endpoint": "chat_completions", "model": "m", "backend": "b", "status": "500"}
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"counters are added", "continuum_requests_total", ok200, 2 + 3},
		{"counters are added (other labels)", "continuum_requests_total", s500, 1 + 2},
		{"histogram counts are added", "continuum_request_duration_seconds", map[string]string{"endpoint": "chat_completions", "model": "m", "backend": "b"}, 8},
		{"unlabelled histogram", "continuum_overhead_seconds", nil, 8},
		{"reloads", "continuum_config_reloads_total", map[string]string{"result": "success"}, 2},
		{"in flight is added", "continuum_backend_in_flight", map[string]string{"backend": "b"}, 3},
		{"build info is kept once", "continuum_build_info", map[string]string{"version": "v1", "goversion": goVersion(f0)}, 1},
		{"per-worker gauge, worker 0", "continuum_backend_up", map[string]string{"backend": "b", "worker": "0"}, 1},
		{"per-worker gauge, worker 1", "continuum_backend_up", map[string]string{"backend": "b", "worker": "1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(merged, tt.metric, tt.labels)
			if !ok {
				t.Fatalf("%s%v: missing from the merged set", tt.metric, tt.labels)
			}
			if got != tt.want {
				t.Errorf("%s%v: got %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	t.Run("per-worker families carry the worker label only", func(t *testing.T) {
		for _, f := range merged {
			perWorker := strings.HasPrefix(f.GetName(), "go_") || strings.HasPrefix(f.GetName(), "process_")
			switch f.GetName() {
			case "continuum_backend_up", "continuum_backend_health", "continuum_circuit_breaker_state",
				"continuum_backend_error_rate", "continuum_backend_drained", "continuum_config_last_reload_success_timestamp_seconds",
				"continuum_cluster_replicas", "continuum_rate_limit_store_breaker_state", "continuum_config_version_info":
				perWorker = true
			}
			for _, m := range f.Metric {
				has := false
				for _, l := range m.Label {
					has = has || l.GetName() == WorkerLabel
				}
				if has != perWorker {
					t.Errorf("%s: worker label present = %t, want %t", f.GetName(), has, perWorker)
				}
			}
		}
		if _, ok := sample(merged, "go_goroutines", map[string]string{"worker": "1"}); !ok {
			t.Error("go_goroutines{worker=\"1\"} missing")
		}
	})
	t.Run("histogram buckets and sums are added", func(t *testing.T) {
		h0 := firstHistogram(f0, "continuum_overhead_seconds")
		h1 := firstHistogram(f1, "continuum_overhead_seconds")
		hm := firstHistogram(merged, "continuum_overhead_seconds")
		for i, b := range hm.Bucket {
			if want := h0.Bucket[i].GetCumulativeCount() + h1.Bucket[i].GetCumulativeCount(); b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%g: got %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
		if got, want := hm.GetSampleSum(), h0.GetSampleSum()+h1.GetSampleSum(); got != want {
			t.Errorf("sum: got %g, want %g", got, want)
		}
	})
	t.Run("inputs unchanged", func(t *testing.T) {
		if got, _ := sample(f0, "continuum_requests_total", ok200); got != 2 {
			t.Errorf("worker 0's counter changed to %v", got)
		}
	})
	t.Run("the result is a valid exposition", func(t *testing.T) {
		var b strings.Builder
		enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range merged {
			if err := enc.Encode(f); err != nil {
				t.Fatalf("encode %s: %v", f.GetName(), err)
			}
		}
	})
}

func goVersion(fams []*dto.MetricFamily) string {
	for _, f := range fams {
		if f.GetName() == "continuum_build_info" {
			for _, l := range f.Metric[0].Label {
				if l.GetName() == "goversion" {
					return l.GetValue()
				}
			}
		}
	}
	return ""
}

func firstHistogram(fams []*dto.MetricFamily, name string) *dto.Histogram {
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric[0].Histogram
		}
	}
	return nil
}

func TestMergeWorkersMismatches(t *testing.T) {
	counter := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &v}}}}
	}
	gauge := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}
	}
	hist := func(bounds ...float64) *dto.MetricFamily {
		name := "h"
		h := &dto.Histogram{SampleCount: new(uint64(1)), SampleSum: new(1.0)}
		for _, b := range bounds {
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: &b, CumulativeCount: new(uint64(1))})
		}
		return &dto.MetricFamily{Name: &name, Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Histogram: h}}}
	}
	merged := MergeWorkers([]WorkerFamilies{
		{Index: 0, Families: []*dto.MetricFamily{counter("x", 1), hist(1, 2)}},
		{Index: 1, Families: []*dto.MetricFamily{gauge("x", 5), hist(1, 3)}},
	})
	if got, ok := sample(merged, "x", nil); !ok || got != 1 {
		t.Errorf("x: got %v (%t), want worker 0's counter 1 (worker 1's gauge dropped)", got, ok)
	}
	if _, ok := sample(merged, "h", nil); !ok {
		t.Error("h of worker 0: missing")
	}
	if _, ok := sample(merged, "h", map[string]string{"worker": "1"}); !ok {
		t.Error("h of worker 1, whose buckets differ: want it kept with a worker label")
	}
}

// TestWorkers gathers three workers over real Unix sockets; a worker that
// does not answer is left out and counted in continuum_workers_up.
func TestWorkers(t *testing.T) {
	dir := t.TempDir()
	socket := func(i int) string { return filepath.Join(dir, "metrics-"+strconv.Itoa(i)+".sock") }
	regs := []*prometheus.Registry{workerRegistry(t, 1, 0, true), workerRegistry(t, 2, 0, true), workerRegistry(t, 4, 0, true)}
	servers := make([]*http.Server, len(regs))
	for i := 1; i < len(regs); i++ {
		ln, err := net.Listen("unix", socket(i))
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = &http.Server{Handler: PeerHandler(regs[i])}
		go func() { _ = servers[i].Serve(ln) }()
		t.Cleanup(func() { servers[i].Close() })
	}
	w := NewWorkers(WorkersOptions{Self: regs[0], Index: 0, Count: 3, Socket: socket, Timeout: time.Second})
	t.Cleanup(w.Close)
	ok200 := map[string]string{"endpoint": "chat_completions", "model": "m", "backend": "b", "status": "200"}

	fams := gatherAll(t, w)
	if got, _ := sample(fams, "continuum_requests_total", ok200); got != 1+1+2 {
		t.Errorf("requests from three workers: got %v, want 4", got)
	}
	if got, _ := sample(fams, "continuum_workers_up", nil); got != 3 {
		t.Errorf("continuum_workers_up: got %v, want 3", got)
	}
	if got, _ := sample(fams, "continuum_workers", nil); got != 3 {
		t.Errorf("continuum_workers: got %v, want 3", got)
	}

	servers[2].Close() // worker 2 restarting
	fams = gatherAll(t, w)
	if got, _ := sample(fams, "continuum_workers_up", nil); got != 2 {
		t.Errorf("continuum_workers_up with worker 2 down: got %v, want 2", got)
	}
	if got, _ := sample(fams, "continuum_requests_total", ok200); got != 1+1 {
		t.Errorf("requests without worker 2: got %v, want 2", got)
	}

	// The handler serves the merged set as one exposition.
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest("GET", "/metrics", nil)
	(&Metrics{}).Handler(w).ServeHTTP(rec, req)
	if body := rec.body.String(); !strings.Contains(body, "continuum_workers_up 2") || strings.Count(body, "# TYPE continuum_requests_total counter") != 1 {
		t.Errorf("exposition:\n%s", body)
	}
}

type recorder struct {
	header http.Header
	body   strings.Builder
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(s int)           { r.status = s }
