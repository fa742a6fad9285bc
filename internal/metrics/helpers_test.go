package metrics

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// newTestMetrics returns a Metrics registered on a fresh pedantic registry.
func newTestMetrics(t *testing.T, opts Options) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewWithOptions(reg, "v1.2.3", opts)
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	return m, reg
}

// labels is a shorthand for a label set in test tables.
type labels = map[string]string

// gather gathers reg, failing the test on error.
func gather(t *testing.T, reg prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return mfs
}

// family returns the family called name, or nil.
func family(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// find returns the series of name whose labels equal want exactly, or nil.
func find(t *testing.T, reg prometheus.Gatherer, name string, want labels) *dto.Metric {
	t.Helper()
	mf := family(gather(t, reg), name)
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		got := labels{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if maps.Equal(got, want) {
			return m
		}
	}
	return nil
}

// mustFind is find that fails the test when the series is absent.
func mustFind(t *testing.T, reg prometheus.Gatherer, name string, want labels) *dto.Metric {
	t.Helper()
	m := find(t, reg, name, want)
	if m == nil {
		t.Fatalf("series %s%v not found; have:\n%s", name, want, seriesOf(t, reg, name))
	}
	return m
}

// seriesOf lists the label sets of name, for failure messages.
func seriesOf(t *testing.T, reg prometheus.Gatherer, name string) string {
	t.Helper()
	mf := family(gather(t, reg), name)
	if mf == nil {
		return "  (no such family)"
	}
	var b strings.Builder
	for _, m := range mf.GetMetric() {
		b.WriteString("  ")
		for _, lp := range m.GetLabel() {
			b.WriteString(lp.GetName() + "=" + lp.GetValue() + " ")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// value returns the value of a counter or gauge series, failing if absent.
func value(t *testing.T, reg prometheus.Gatherer, name string, want labels) float64 {
	t.Helper()
	m := mustFind(t, reg, name, want)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("series %s%v is neither a counter nor a gauge", name, want)
	return 0
}

// histogram returns the sample count and sum of a histogram series, failing
// if absent.
func histogram(t *testing.T, reg prometheus.Gatherer, name string, want labels) (count uint64, sum float64) {
	t.Helper()
	m := mustFind(t, reg, name, want)
	if m.Histogram == nil {
		t.Fatalf("series %s%v is not a histogram", name, want)
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

// seriesCount returns how many series the family name has (0 if absent).
func seriesCount(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil {
		t.Fatalf("GatherAndCount(%s): %v", name, err)
	}
	return n
}

// continuumNames returns the sorted names of the continuum_ families gathered.
func continuumNames(t *testing.T, reg prometheus.Gatherer) []string {
	t.Helper()
	var names []string
	for _, mf := range gather(t, reg) {
		if strings.HasPrefix(mf.GetName(), "continuum_") {
			names = append(names, mf.GetName())
		}
	}
	slices.Sort(names)
	return names
}

// lintClean fails the test if promlint finds a problem in reg.
func lintClean(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
