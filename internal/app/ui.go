package app

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/admin"
	"github.com/continuumhq/continuum/internal/textdiff"
	"github.com/continuumhq/continuum/internal/ui"
)

// newUI builds the dashboard over the app, behind the admin authentication.
func (a *App) newUI() http.Handler {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("app: draw the dashboard's cookie key: %v", err)) // crypto/rand does not fail on Linux
	}
	return ui.Handler(ui.Options{
		Source:     uiSource{a},
		Authorized: func(r *http.Request) bool { return admin.Authorized(a.adminAuth(), r) },
		Credential: func() (string, string) {
			au := a.adminAuth()
			return au.Method, au.Secret()
		},
		Key:    key,
		Logger: a.log,
	})
}

// uiSource adapts the App to the dashboard.
type uiSource struct{ a *App }

var _ ui.Source = uiSource{}

func uiUsage(u Usage) ui.Usage {
	return ui.Usage{Requests: u.Requests, Errors: u.Errors, TokensIn: u.TokensIn, TokensOut: u.TokensOut, Latency: u.Latency, TTFT: u.TTFT}
}

func (s uiSource) Backends() []ui.Backend {
	usage := s.a.BackendUsage()
	list := s.a.Backends()
	out := make([]ui.Backend, len(list))
	for i, b := range list {
		samples := s.a.Samples(b.Name)
		pts := make([]ui.Sample, len(samples))
		for j, p := range samples {
			pts[j] = ui.Sample{Latency: p.Latency, TTFT: p.TTFT, InFlight: p.InFlight}
		}
		out[i] = ui.Backend{Name: b.Name, Type: b.Type, URL: b.URL, Health: b.Health, Breaker: b.Breaker,
			InFlight: b.InFlight, Drained: b.Drained, Usage: uiUsage(usage[b.Name]), Samples: pts}
	}
	return out
}

// Totals adds up the usage of every key: each finished request is counted
// under exactly one key id ("none" without a key).
func (s uiSource) Totals() ui.Usage {
	var t ui.Usage
	var latency, ttft time.Duration
	var ttftN uint64
	for _, u := range s.a.KeyUsage() {
		t.Requests += u.Requests
		t.Errors += u.Errors
		t.TokensIn += u.TokensIn
		t.TokensOut += u.TokensOut
		latency += u.Latency * time.Duration(u.Requests)
		if u.TTFT > 0 {
			ttft += u.TTFT * time.Duration(u.Requests)
			ttftN += u.Requests
		}
	}
	if t.Requests > 0 {
		t.Latency = latency / time.Duration(t.Requests)
	}
	if ttftN > 0 {
		t.TTFT = ttft / time.Duration(ttftN)
	}
	return t
}

func (s uiSource) Models() []ui.Model {
	list := s.a.Models()
	out := make([]ui.Model, len(list))
	for i, m := range list {
		out[i] = ui.Model{ID: m.ID, AliasFor: m.AliasFor, Backends: m.Backends, Metadata: m.Metadata}
	}
	return out
}

func (s uiSource) Keys() []ui.Key {
	usage := s.a.KeyUsage()
	var out []ui.Key
	seen := map[string]bool{}
	for _, k := range s.a.rt.Load().cfg.APIKeys.Keys {
		seen[k.ID] = true
		out = append(out, ui.Key{ID: k.ID, Name: k.Name, Enabled: k.Enabled, Models: k.Models, Usage: uiUsage(usage[k.ID])})
	}
	for _, id := range []string{"none", "other"} {
		if u, ok := usage[id]; ok && !seen[id] {
			name := map[string]string{"none": "requests without a valid key", "other": "keys beyond the first 1000"}[id]
			out = append(out, ui.Key{ID: id, Name: name, Pseudo: true, Usage: uiUsage(u)})
		}
	}
	return out
}

func (s uiSource) Failures() []ui.Failure {
	list := s.a.RecentFailures()
	out := make([]ui.Failure, len(list))
	for i, f := range list {
		kind := f.Error
		if kind == "" && f.Aborted {
			kind = "stream_interrupted"
		}
		out[i] = ui.Failure{Time: f.Time, RequestID: f.RequestID, KeyID: f.KeyID, Endpoint: f.Endpoint, Model: f.Model,
			Backend: f.Backend, Error: kind, Status: f.Status}
	}
	return out
}

func (s uiSource) Versions() []ui.Version {
	list := s.a.History()
	out := make([]ui.Version, len(list))
	for i, v := range list {
		out[i] = ui.Version{ID: v.ID, Time: v.Time, Trigger: v.Trigger, SHA256: v.SHA256, Current: i == 0}
	}
	return out
}

func (s uiSource) VersionYAML(id int) (string, bool) {
	v, ok := s.a.Version(id)
	return v.Redacted, ok
}

func (s uiSource) Diff(from, to int) (string, error) {
	a, ok := s.a.Version(from)
	b, ok2 := s.a.Version(to)
	if !ok || !ok2 {
		return "", fmt.Errorf("version %d or %d is not in the history", from, to)
	}
	return textdiff.Unified("version "+strconv.Itoa(from), "version "+strconv.Itoa(to), a.Redacted, b.Redacted), nil
}

func (s uiSource) Rollback(id int) error {
	_, err := s.a.Rollback(id)
	return err
}

func (s uiSource) SetDrained(name string, drained bool) error { return s.a.SetDrained(name, drained) }
