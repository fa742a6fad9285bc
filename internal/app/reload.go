package app

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/resilience"
)

// Reload reads the configuration file again and applies it. An invalid file
// changes nothing: the running configuration stays in effect, and the error
// (with one file:line:col line per problem) is returned. trigger names what
// asked for the reload ("signal", "file", "admin") for logs and metrics.
//
// Reload logs its outcome itself, once: a failure is one error line holding
// every problem, so callers must not log the returned error again.
func (a *App) Reload(trigger string) error {
	if a.opts.ConfigPath == "" {
		err := errors.New("reload: the configuration was not loaded from a file")
		a.log.Error("configuration reload failed", "trigger", trigger, "error", err.Error())
		return err
	}
	a.reload.Lock()
	defer a.reload.Unlock()
	cfg, data, err := a.reloadFile(trigger)
	if err != nil {
		a.reloaded(false)
		const failed = "configuration reload failed; the previous configuration stays in effect"
		if errors.As(err, new(config.ErrorList)) {
			// detail holds every problem, one "file:line:col: message" per line.
			a.log.Error("invalid configuration", "trigger", trigger, "file", a.opts.ConfigPath,
				"detail", err.Error(), "result", failed)
		} else {
			a.log.Error(failed, "trigger", trigger, "file", a.opts.ConfigPath, "error", err.Error())
		}
		return err
	}
	a.reloaded(true)
	a.log.Info("configuration reloaded", "trigger", trigger, "file", a.opts.ConfigPath, "backends", len(cfg.Backends), "version", a.ConfigVersion())
	a.publish(a.cfgSum, data)
	return nil
}

// reloadFile reads, validates and applies the configuration file, logging
// its warnings. It returns the applied configuration and the file's
// content, or the error that kept the running one. a.reload must be held.
func (a *App) reloadFile(trigger string) (*config.Config, []byte, error) {
	data, err := os.ReadFile(a.opts.ConfigPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reload: %w", err)
	}
	sum := sha256.Sum256(data)
	cfg, warns, err := config.LoadData(a.opts.ConfigPath, data)
	for _, w := range warns {
		a.log.Warn("configuration warning", "detail", w.String())
	}
	if err != nil {
		return nil, nil, err
	}
	if err := a.Apply(cfg); err != nil {
		return nil, nil, err
	}
	a.cfgSum = sourcesSum(data, cfg.GlobalPrompts.Files)
	a.watchPrompts(cfg)
	a.history.add(a.clk.Now(), trigger, data, cfg)
	a.setVersion(sum)
	return cfg, data, nil
}

// sourcesSum is the SHA-256 of a configuration file's content and of the
// prompt files it refers to (a file that cannot be read counts as empty).
func sourcesSum(config []byte, files []string) [32]byte {
	h := sha256.New()
	h.Write(config)
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(h, "\x00%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// watchPrompts makes the file watcher, if any, report changes of cfg's
// prompt files too. a.reload must be held.
func (a *App) watchPrompts(cfg *config.Config) {
	if a.watcher == nil || len(cfg.GlobalPrompts.Files) == 0 {
		return
	}
	if err := a.watcher.Watch(cfg.GlobalPrompts.Files...); err != nil {
		a.log.Warn("not watching the prompt files; reload with SIGHUP or the admin API after changing them", "error", err)
	}
}

// fileChanged reloads after the watcher saw the configuration file or one
// of its prompt files change, unless their content is what was last applied
// (editors touch files without changing them; a failed reload is retried
// only when a file changes again). Reload logs the outcome.
func (a *App) fileChanged() {
	data, err := os.ReadFile(a.opts.ConfigPath)
	if err != nil {
		a.log.Warn("configuration file unreadable; keeping the running configuration", "error", err)
		return
	}
	sum := sourcesSum(data, a.rt.Load().cfg.GlobalPrompts.Files)
	a.reload.Lock()
	same := sum == a.cfgSum
	a.reload.Unlock()
	if same {
		return
	}
	if err := a.Reload("file"); err != nil {
		a.reload.Lock()
		a.cfgSum = sum // do not retry the same broken content
		a.reload.Unlock()
	}
}

// Apply installs a validated configuration: backends that keep their
// identity keep their health, breaker and connections; new backends have
// their models discovered before the new routing table is installed, so
// their models are routable when Apply returns. Requests in flight finish
// on the snapshot they started with. Listener addresses are not changed by
// a reload.
//
// Readers are never blocked: everything is built (new backends' models
// discovered too) before the new runtime is swapped in.
func (a *App) Apply(cfg *config.Config) error {
	a.applying.Lock()
	defer a.applying.Unlock()
	prev := a.rt.Load()
	old := prev.cfg
	members, err := a.buildMembers(cfg, prev.members)
	if err != nil {
		return err
	}
	a.discoverNew(members)
	budget := prev.budget
	if old.Retry != cfg.Retry {
		budget = resilience.NewBudget(budgetConfig(cfg.Retry), a.clk)
	}
	if _, err := a.snapshotFor(cfg, members, budget); err != nil {
		return err
	}
	authn, lim, proxies, err := a.buildGuards(cfg)
	if err != nil {
		return err
	}
	a.sharedSettingsChanged(old, cfg)
	if !slices.Equal(old.Server.BindAddress, cfg.Server.BindAddress) {
		a.log.Warn("server.bind_address changed; restart to listen on the new addresses")
	}
	if old.Server.WorkerCount() != cfg.Server.WorkerCount() {
		a.log.Warn("server.workers changed; restart to run the new number of processes",
			"running", old.Server.WorkerCount(), "configured", cfg.Server.WorkerCount())
	}
	if serverOptions(old) != serverOptions(cfg) || old.Server.SocketMode != cfg.Server.SocketMode {
		a.log.Warn("server.read_header_timeout, server.idle_timeout or server.socket_mode changed; restart to apply")
	}

	// Install, then restart background loops so they use the new settings.
	// The snapshot is built again under swap: a discovery may have changed
	// a kept backend's models since.
	a.swap.Lock()
	snap, err := a.snapshotFor(cfg, members, budget)
	if err != nil {
		a.swap.Unlock()
		return err
	}
	a.sizeAnswers(cfg.Cache)
	a.proxy.Swap(snap)
	a.installGuards(cfg, authn, lim, proxies)
	a.server.SetSettings(serverSettings(cfg))
	a.rt.Store(a.newRuntime(cfg, members, budget))
	a.swap.Unlock()
	if old.Admin.BindAddress != cfg.Admin.BindAddress {
		a.log.Warn("admin.bind_address changed; restart to move the admin API")
	}
	if cfg.Metrics.Enabled && cfg.Metrics.Listener == config.MetricsOnAdmin && !a.adminApart {
		a.log.Warn("metrics.listener is admin but the admin API has no listener of its own until restart; metrics stay on the main listener")
	}
	a.level.Set(parseLevel(firstNonEmpty(a.opts.LogLevel, cfg.Logging.Level)))
	kept := map[*member]bool{}
	for _, m := range members {
		for _, p := range prev.members {
			if p.backend.State == m.backend.State {
				kept[p] = true
				if p.client != m.client {
					defer p.client.Close()
				}
			}
		}
	}
	for _, p := range prev.members {
		if p.stop != nil {
			p.stop()
		}
		if !kept[p] {
			defer p.client.Close()
		}
	}
	if a.listeners != nil {
		for _, m := range members {
			a.startLoops(m)
		}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// discoverNew runs the first model discovery of members that have none yet,
// in parallel and bounded by their health-check timeout.
func (a *App) discoverNew(members []*member) {
	var wg sync.WaitGroup
	for _, m := range members {
		if len(m.cfg.Models) > 0 || m.backend.State.ModelsKnown() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.discoverModels(a.ctx, m)
		}()
	}
	wg.Wait()
}

// reloaded records a reload attempt's result.
func (a *App) reloaded(ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	a.metrics.ObserveReload(result)
}
