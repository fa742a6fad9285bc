package app

import (
	"errors"
	"fmt"
	"time"

	"github.com/continuumhq/continuum/internal/resilience"
)

// BackendStatus is one backend's live state, for the admin API, metrics and tests.
type BackendStatus struct {
	Name, Type, URL  string
	Weight           int
	Models           []string
	Health           string // ready, warming_up, down, unknown
	Breaker          string // closed, open, half_open, disabled
	BreakerOpenUntil time.Time
	InFlight         int64
	ErrorRate        float64
	Requests         uint64
	Failures         uint64
	Drained          bool
	CooldownUntil    time.Time
	Latency          time.Duration
}

// Backends returns the state of every configured backend, in configuration order.
func (a *App) Backends() []BackendStatus {
	members := a.rt.Load().members
	now := a.clk.Now()
	out := make([]BackendStatus, 0, len(members))
	for _, m := range members {
		st := m.backend.State
		s := BackendStatus{
			Name:      m.backend.Name,
			Type:      string(m.backend.Type),
			URL:       m.backend.URL,
			Weight:    m.backend.Weight,
			Models:    m.backend.ServedModels(),
			Health:    st.Health().String(),
			Breaker:   "disabled",
			InFlight:  st.InFlight(),
			ErrorRate: st.ErrorRate(),
			Drained:   st.Drained(),
			Latency:   st.Latency(),
		}
		s.Requests, s.Failures = st.Totals()
		if until := st.CooldownUntil(); until.After(now) {
			s.CooldownUntil = until
		}
		if a.shared != nil { // a cooldown another replica met
			if until := a.shared.cooldowns.Until(m.backend.Name); until.After(now) && until.After(s.CooldownUntil) {
				s.CooldownUntil = until
			}
		}
		if m.breaker != nil {
			state := m.breaker.State()
			s.Breaker = state.String()
			if state == resilience.Open {
				s.BreakerOpenUntil = m.breaker.OpenUntil()
			}
		}
		out = append(out, s)
	}
	return out
}

// ErrUnknownBackend is returned for a backend name that is not configured.
var ErrUnknownBackend = errors.New("backend not found")

// SetDrained drains (no new requests; in-flight ones finish) or undrains a backend.
func (a *App) SetDrained(name string, drained bool) error {
	for _, m := range a.rt.Load().members {
		if m.backend.Name == name {
			m.backend.State.SetDrained(drained)
			verb := "undrained"
			if drained {
				verb = "drained"
			}
			a.log.Info("backend "+verb, "backend", name)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownBackend, name)
}
