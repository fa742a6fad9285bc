package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/continuumhq/continuum/internal/admin"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/master"
)

// adminSource adapts the App to the admin API.
type adminSource struct{ a *App }

func (s adminSource) Backends() []admin.Backend {
	list := s.a.Backends()
	out := make([]admin.Backend, len(list))
	for i, b := range list {
		ab := admin.Backend{
			Name: b.Name, Type: b.Type, URL: b.URL, Weight: b.Weight, Models: b.Models,
			Health: b.Health, Breaker: b.Breaker, InFlight: b.InFlight, ErrorRate: b.ErrorRate,
			Requests: b.Requests, Failures: b.Failures, Drained: b.Drained,
			LatencyMS: float64(b.Latency) / float64(time.Millisecond),
		}
		if !b.BreakerOpenUntil.IsZero() {
			t := b.BreakerOpenUntil
			ab.BreakerOpenUntil = &t
		}
		if !b.CooldownUntil.IsZero() {
			t := b.CooldownUntil
			ab.CooldownUntil = &t
		}
		out[i] = ab
	}
	return out
}

// SetDrained drains or undrains a backend; in a multi-process router the
// master then does the same in every other worker.
func (s adminSource) SetDrained(name string, drained bool) error {
	err := s.a.SetDrained(name, drained)
	if errors.Is(err, ErrUnknownBackend) {
		return errors.Join(admin.ErrNotFound, err)
	}
	if err == nil {
		op := master.OpUndrain
		if drained {
			op = master.OpDrain
		}
		s.a.tellMaster(master.Message{Op: op, Backend: name})
	}
	return err
}

// Reload reloads the configuration; in a multi-process router the master
// then has every other worker reload it too (the file is the same, so a
// file this worker refused is not sent on).
func (s adminSource) Reload(context.Context) error {
	err := s.a.Reload("admin")
	if err == nil {
		s.a.tellMaster(master.Message{Op: master.OpReload})
	}
	return err
}

// Config returns the effective configuration, secrets masked, with the
// configuration file's key names and value formats (durations such as
// "30s"): it is rendered to YAML and read back as plain maps.
func (s adminSource) Config() any {
	red := s.a.rt.Load().cfg.Redacted()
	data, err := yaml.Marshal(red)
	if err != nil {
		return map[string]string{"error": "render configuration: " + err.Error()}
	}
	var out map[string]any
	if err := yaml.Unmarshal(data, &out); err != nil {
		return map[string]string{"error": "render configuration: " + err.Error()}
	}
	return out
}

// adminAuth returns the current admin.auth block.
func (a *App) adminAuth() admin.Auth {
	c := a.rt.Load().cfg.Admin.Auth
	method, _ := config.CanonicalAdminMethod(c.Method)
	return admin.Auth{Method: method, Token: c.Token, Username: c.Username, Password: c.Password}
}

// startAdmin serves the admin API on its own address when admin.bind_address is set.
func (a *App) startAdmin() error {
	cfg := a.rt.Load().cfg
	addr := cfg.Admin.BindAddress
	if addr == "" {
		return nil
	}
	lns := a.opts.AdminListeners
	if len(lns) == 0 {
		ln, err := listen(addr, cfg.Server.SocketMode)
		if err != nil {
			return err
		}
		lns = []net.Listener{ln}
	}
	handler := withRequestID(http.HandlerFunc(a.serveAdminListener))
	if w := a.opts.Worker; w.enabled() {
		handler = withWorkerHeader(handler, w.Index)
	}
	a.adminServer = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	for _, ln := range lns {
		a.serveWG.Add(1)
		go func() {
			defer a.serveWG.Done()
			if err := a.adminServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("admin listener stopped", "error", err)
			}
		}()
	}
	a.adminAddr = lns[0].Addr()
	a.log.Info("admin API listening", "address", displayAddr(lns[0].Addr()))
	return nil
}

// AdminAddr returns the admin API's own listener address, or nil when the
// admin API shares the main listener.
func (a *App) AdminAddr() net.Addr { return a.adminAddr }

// The admin API's Manager: history, rollback, validation, run-time changes
// and statistics.
var _ admin.Manager = adminSource{}

func adminVersion(v ConfigVersion, current int, withYAML bool) admin.Version {
	out := admin.Version{ID: v.ID, Time: v.Time, Trigger: v.Trigger, SHA256: v.SHA256, Current: v.ID == current}
	if withYAML {
		out.YAML = v.Redacted
	}
	return out
}

func (s adminSource) currentID() int {
	v, _ := s.a.history.current()
	return v.ID
}

func (s adminSource) History() []admin.Version {
	list := s.a.History()
	out := make([]admin.Version, len(list))
	for i, v := range list {
		out[i] = adminVersion(v, list[0].ID, false)
	}
	return out
}

func (s adminSource) Version(id int) (admin.Version, bool) {
	v, ok := s.a.Version(id)
	if !ok {
		return admin.Version{}, false
	}
	return adminVersion(v, s.currentID(), true), true
}

// changed converts the result of a change.
func (s adminSource) changed(v ConfigVersion, err error) (admin.Version, error) {
	if err != nil {
		return admin.Version{}, err
	}
	return adminVersion(v, v.ID, false), nil
}

func (s adminSource) Rollback(id int) (admin.Version, error) { return s.changed(s.a.Rollback(id)) }

func (s adminSource) Validate(text []byte) ([]string, error) {
	warns, err := s.a.ValidateText(text)
	out := make([]string, len(warns))
	for i, w := range warns {
		out[i] = w.String()
	}
	return out, err
}

func (s adminSource) AddBackend(fields map[string]any) (admin.Version, error) {
	return s.changed(s.a.AddBackend(fields))
}

func (s adminSource) UpdateBackend(name string, fields map[string]any) (admin.Version, error) {
	return s.changed(s.a.UpdateBackend(name, fields))
}

func (s adminSource) RemoveBackend(name string) (admin.Version, error) {
	return s.changed(s.a.RemoveBackend(name))
}

func (s adminSource) CreateKey(fields map[string]any) (string, string, admin.Version, error) {
	k, v, err := s.a.CreateKey(fields)
	av, err := s.changed(v, err)
	return k.ID, k.Key, av, err
}

func (s adminSource) RevokeKey(id string) (admin.Version, error) { return s.changed(s.a.RevokeKey(id)) }

func (s adminSource) Stats() admin.Stats {
	conv := func(m map[string]Usage) map[string]admin.Usage {
		out := make(map[string]admin.Usage, len(m))
		for name, u := range m {
			out[name] = admin.Usage{Requests: u.Requests, Errors: u.Errors, TokensIn: u.TokensIn, TokensOut: u.TokensOut,
				LatencyMS: ms(u.Latency), TTFTMS: ms(u.TTFT)}
		}
		return out
	}
	return admin.Stats{Keys: conv(s.a.KeyUsage()), Backends: conv(s.a.BackendUsage())}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
