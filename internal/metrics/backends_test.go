package metrics

import (
	"sync"
	"testing"
)

// backendFamilies are the gauges the scrape-time collector emits.
var backendFamilies = []string{
	"continuum_backend_up",
	"continuum_backend_in_flight",
	"continuum_backend_health",
	"continuum_circuit_breaker_state",
	"continuum_backend_error_rate",
	"continuum_backend_drained",
}

// fakeSource is a backend source whose stats a test changes between scrapes.
type fakeSource struct {
	mu    sync.Mutex
	stats []BackendStat
	calls int
}

func (s *fakeSource) set(stats ...BackendStat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = stats
}

func (s *fakeSource) read() []BackendStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	return append([]BackendStat(nil), s.stats...)
}

func TestBackendGaugesValues(t *testing.T) {
	tests := []struct {
		name string
		stat BackendStat
		want []series
		// wantNoBreaker says continuum_circuit_breaker_state must be absent.
		wantNoBreaker bool
	}{
		{
			name: "healthy",
			stat: BackendStat{Name: "a", Up: true, Health: "ready", Breaker: "closed", InFlight: 3, ErrorRate: 0.25},
			want: []series{
				{"continuum_backend_up", labels{"backend": "a"}, 1},
				{"continuum_backend_in_flight", labels{"backend": "a"}, 3},
				{"continuum_backend_health", labels{"backend": "a", "state": "ready"}, 1},
				{"continuum_backend_health", labels{"backend": "a", "state": "warming_up"}, 0},
				{"continuum_backend_health", labels{"backend": "a", "state": "down"}, 0},
				{"continuum_backend_health", labels{"backend": "a", "state": "unknown"}, 0},
				{"continuum_circuit_breaker_state", labels{"backend": "a"}, 0},
				{"continuum_backend_error_rate", labels{"backend": "a"}, 0.25},
				{"continuum_backend_drained", labels{"backend": "a"}, 0},
			},
		},
		{
			name: "down and open",
			stat: BackendStat{Name: "a", Health: "down", Breaker: "open", ErrorRate: 1},
			want: []series{
				{"continuum_backend_up", labels{"backend": "a"}, 0},
				{"continuum_backend_health", labels{"backend": "a", "state": "down"}, 1},
				{"continuum_backend_health", labels{"backend": "a", "state": "ready"}, 0},
				{"continuum_circuit_breaker_state", labels{"backend": "a"}, 2},
			},
		},
		{
			name: "warming up and half-open",
			stat: BackendStat{Name: "a", Health: "warming_up", Breaker: "half_open"},
			want: []series{
				{"continuum_backend_health", labels{"backend": "a", "state": "warming_up"}, 1},
				{"continuum_circuit_breaker_state", labels{"backend": "a"}, 1},
			},
		},
		{
			name: "breaker disabled, drained",
			stat: BackendStat{Name: "a", Health: "unknown", Breaker: "disabled", Drained: true},
			want: []series{
				{"continuum_backend_health", labels{"backend": "a", "state": "unknown"}, 1},
				{"continuum_circuit_breaker_state", labels{"backend": "a"}, -1},
				{"continuum_backend_drained", labels{"backend": "a"}, 1},
			},
		},
		{
			name: "unrecognised states",
			stat: BackendStat{Name: "a", Health: "", Breaker: "sideways"},
			want: []series{
				{"continuum_backend_health", labels{"backend": "a", "state": "unknown"}, 1},
				{"continuum_backend_health", labels{"backend": "a", "state": "ready"}, 0},
			},
			wantNoBreaker: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, Options{})
			m.SetBackendSource(func() []BackendStat { return []BackendStat{tt.stat} })
			for _, s := range tt.want {
				if got := value(t, reg, s.name, s.labels); got != s.want {
					t.Errorf("got %s%v = %v, want %v", s.name, s.labels, got, s.want)
				}
			}
			if got := seriesCount(t, reg, "continuum_backend_health"); got != 4 {
				t.Errorf("got %d continuum_backend_health series, want 4", got)
			}
			wantBreaker := 1
			if tt.wantNoBreaker {
				wantBreaker = 0
			}
			if got := seriesCount(t, reg, "continuum_circuit_breaker_state"); got != wantBreaker {
				t.Errorf("got %d continuum_circuit_breaker_state series, want %d", got, wantBreaker)
			}
			lintClean(t, reg)
		})
	}
}

func TestBackendGaugesReadAtScrapeTime(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	src := &fakeSource{}
	src.set(
		BackendStat{Name: "a", Up: true, Health: "ready", Breaker: "closed", InFlight: 1},
		BackendStat{Name: "b", Up: true, Health: "ready", Breaker: "closed", InFlight: 5},
	)
	m.SetBackendSource(src.read)

	if got := value(t, reg, "continuum_backend_in_flight", labels{"backend": "a"}); got != 1 {
		t.Errorf("first scrape: got in_flight{a} %v, want 1", got)
	}

	// The values change between scrapes.
	src.set(
		BackendStat{Name: "a", Up: false, Health: "down", Breaker: "open", InFlight: 0},
		BackendStat{Name: "b", Up: true, Health: "ready", Breaker: "closed", InFlight: 7},
	)
	checks := []series{
		{"continuum_backend_up", labels{"backend": "a"}, 0},
		{"continuum_backend_health", labels{"backend": "a", "state": "down"}, 1},
		{"continuum_circuit_breaker_state", labels{"backend": "a"}, 2},
		{"continuum_backend_in_flight", labels{"backend": "b"}, 7},
	}
	for _, s := range checks {
		if got := value(t, reg, s.name, s.labels); got != s.want {
			t.Errorf("second scrape: got %s%v = %v, want %v", s.name, s.labels, got, s.want)
		}
	}

	// A backend removed by a reload disappears from every gauge.
	src.set(BackendStat{Name: "b", Up: true, Health: "ready", Breaker: "closed"})
	for _, name := range backendFamilies {
		if find(t, reg, name, labels{"backend": "a"}) != nil || find(t, reg, name, labels{"backend": "a", "state": "down"}) != nil {
			t.Errorf("got a series of %s for removed backend a, want none", name)
		}
	}
	if got := seriesCount(t, reg, "continuum_backend_up"); got != 1 {
		t.Errorf("got %d continuum_backend_up series after the removal, want 1", got)
	}
}

func TestSetBackendSourceReplaces(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	for _, name := range backendFamilies {
		if n := seriesCount(t, reg, name); n != 0 {
			t.Errorf("got %d %s series before any source, want none", n, name)
		}
	}

	old, replacement := &fakeSource{}, &fakeSource{}
	old.set(BackendStat{Name: "old", Health: "ready", Breaker: "closed"})
	replacement.set(BackendStat{Name: "new", Health: "ready", Breaker: "closed"})
	m.SetBackendSource(old.read)
	gather(t, reg)
	m.SetBackendSource(replacement.read)
	gather(t, reg)
	if old.calls != 1 || replacement.calls != 1 {
		t.Errorf("got %d calls to the old source and %d to the new, want 1 and 1", old.calls, replacement.calls)
	}
	if find(t, reg, "continuum_backend_up", labels{"backend": "old"}) != nil {
		t.Error("got a series for the old source's backend, want none")
	}
	mustFind(t, reg, "continuum_backend_up", labels{"backend": "new"})

	m.SetBackendSource(nil)
	if n := seriesCount(t, reg, "continuum_backend_up"); n != 0 {
		t.Errorf("got %d series after SetBackendSource(nil), want none", n)
	}
}

func TestBackendGaugesSkipBadNames(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	m.SetBackendSource(func() []BackendStat {
		return []BackendStat{
			{Name: "a", InFlight: 1, Breaker: "closed"},
			{Name: "a", InFlight: 9, Breaker: "closed"}, // duplicate: first wins
			{Name: "", InFlight: 9, Breaker: "closed"},  // no name: skipped
		}
	})
	if got := seriesCount(t, reg, "continuum_backend_in_flight"); got != 1 {
		t.Errorf("got %d in_flight series, want 1", got)
	}
	if got := value(t, reg, "continuum_backend_in_flight", labels{"backend": "a"}); got != 1 {
		t.Errorf("got in_flight{a} %v, want 1 (the first stat)", got)
	}
}

func TestBackendGaugesInvalidNameFailsOnlyThatBackend(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	m.SetBackendSource(func() []BackendStat {
		return []BackendStat{{Name: "bad\xff"}, {Name: "good", Up: true}}
	})
	mfs, err := reg.Gather()
	if err == nil {
		t.Error("got no gather error for an invalid backend name, want one")
	}
	// Gather still returns what it could collect.
	if family(mfs, "continuum_backend_up") == nil {
		t.Fatal("got no continuum_backend_up family, want the valid backend's series")
	}
	if got := len(family(mfs, "continuum_backend_up").GetMetric()); got != 1 {
		t.Errorf("got %d continuum_backend_up series, want 1 (good)", got)
	}
}
