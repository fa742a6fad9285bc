// Package app wires Continuum together: it turns a configuration into the
// runtime snapshot (backends, clients, breakers, health trackers, routing
// table), starts the listeners and the background loops, and swaps the
// snapshot atomically on reload. It is the only package that imports the
// stage packages.
package app

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/continuumhq/continuum/internal/admin"
	"github.com/continuumhq/continuum/internal/cache"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/limit"
	"github.com/continuumhq/continuum/internal/master"
	"github.com/continuumhq/continuum/internal/metrics"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/proxy"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/server"
	"github.com/continuumhq/continuum/internal/tokens"
)

// Options configure an App.
type Options struct {
	// Config is the initial configuration. Required.
	Config *config.Config
	// ConfigPath is the file Config was loaded from; reloads read it again.
	// Empty means the configuration cannot be reloaded from disk.
	ConfigPath string
	// Listen, when not empty, replaces server.bind_address (the --listen
	// flag and CONTINUUM_LISTEN).
	Listen []string
	// Listeners, when not empty, are served instead of opening bind
	// addresses (a worker's inherited sockets; tests).
	Listeners []net.Listener
	// AdminListeners, when not empty, serve the admin API instead of opening
	// admin.bind_address (a worker's inherited sockets).
	AdminListeners []net.Listener
	// Worker places the app among the worker processes of the multi-process
	// mode (server.workers > 1). The zero value is the single-process mode.
	Worker Worker
	// Clock drives timeouts, breakers, health checks and discovery. Nil means the wall clock.
	Clock clock.Clock
	// Seed seeds every random source (balancing, jitter). Zero means a fixed default.
	Seed uint64
	// LogOutput receives the logs. Nil means os.Stderr.
	LogOutput io.Writer
	// LogLevel and LogFormat, when set, override logging.level and
	// logging.format; they accept the same spellings (see
	// config.CanonicalLogLevel and config.CanonicalLogFormat), and New
	// rejects other values.
	LogLevel, LogFormat string
	// NoWatch disables reloading when the configuration file changes.
	NoWatch bool
}

// watchDebounce coalesces the bursts of events an editor's save produces.
const watchDebounce = 300 * time.Millisecond

// App is a running router.
type App struct {
	opts    Options
	clk     clock.Clock
	log     *slog.Logger
	level   *slog.LevelVar
	started time.Time

	// rt is the running configuration and what it built, replaced as one
	// value by a reload: readers load it and never wait for a reload.
	rt atomic.Pointer[live]
	// reload serialises whole reloads (read, validate, apply) and guards
	// cfgSum; applying serialises Apply and the loops it restarts. Both may
	// be held across network calls (discovering a new backend's models).
	reload   sync.Mutex
	applying sync.Mutex
	cfgSum   [32]byte // SHA-256 of the configuration file and its prompt files last applied
	// watcher reports changes of the configuration file and of its
	// prompt files; nil when not watching.
	watcher *config.Watcher
	// history holds the configurations applied, for the admin API's
	// history, diff and rollback.
	history history
	// stats counts requests per API key and per backend, and keeps the
	// recent failures and the dashboard's samples.
	stats *stats
	// swap serialises installing a routing snapshot (a reload's, or a
	// rebuild after model discovery) so that the newest runtime wins. It is
	// never held across I/O.
	swap sync.Mutex

	proxy        *proxy.Proxy
	server       *server.Server
	guard        guard
	registry     *prometheus.Registry
	adminHandler http.Handler
	// uiHandler serves the dashboard (/ui), wherever the admin API is.
	uiHandler http.Handler
	// metricsHTTP serves the Prometheus text format, on whichever listener
	// metrics.listener names.
	metricsHTTP http.Handler
	adminServer *http.Server
	adminAddr   net.Addr
	// adminApart is whether the admin API has its own listener; decided at
	// start, as listeners do not change on reload.
	adminApart bool
	metrics    *metrics.Metrics
	discovered <-chan struct{}
	// answers keeps answers for the response cache and deduplication_ttl
	// across reloads, unless they live in Redis (shared.answers); its
	// bound follows the configuration.
	answers *cache.Memory
	// peers gathers the other workers' metrics; nil in the single-process mode.
	peers *metrics.Workers
	// peerServer serves this worker's metrics to the others.
	peerServer *http.Server

	ctx       context.Context // lives until Shutdown; parent of background loops
	cancel    context.CancelFunc
	listeners []net.Listener
	serveWG   sync.WaitGroup
	loopWG    sync.WaitGroup

	// store holds the rate-limit buckets for the app's lifetime: in memory,
	// or in Redis (shared, non-nil then) behind the failure policies.
	store  limit.Store
	shared *shared
	// counter estimates the tokens a token limit reserves.
	counter *tokens.Counter
	// version is the SHA-256 (hex) of the configuration applied, "" when
	// it was not loaded from a file.
	version atomic.Pointer[string]
	// cooldownWG tracks the writes of shared cooldowns to Redis.
	cooldownWG sync.WaitGroup
}

// New builds the runtime for opts.Config without starting anything.
func New(opts Options) (*App, error) {
	if opts.Config == nil {
		return nil, errors.New("app: no configuration")
	}
	if _, ok := config.CanonicalLogLevel(opts.LogLevel); opts.LogLevel != "" && !ok {
		return nil, fmt.Errorf("app: invalid log level %q: use %s", opts.LogLevel, config.LogLevelsHelp)
	}
	if _, ok := config.CanonicalLogFormat(opts.LogFormat); opts.LogFormat != "" && !ok {
		return nil, fmt.Errorf("app: invalid log format %q: use %s", opts.LogFormat, config.LogFormatsHelp)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	if opts.Seed == 0 {
		opts.Seed = 0x5eed
	}
	a := &App{opts: opts, clk: opts.Clock, started: opts.Clock.Now(), level: new(slog.LevelVar)}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.log = a.newLogger(opts.Config.Logging)
	if opts.Worker.enabled() {
		a.log = a.log.With("worker", opts.Worker.Index)
	}
	text := configText(opts.Config)
	if opts.ConfigPath != "" {
		if data, err := os.ReadFile(opts.ConfigPath); err == nil {
			a.cfgSum = sourcesSum(data, opts.Config.GlobalPrompts.Files)
			text = data
		}
	}
	a.history.add(a.clk.Now(), "startup", text, opts.Config)
	a.stats = newStats()

	a.registry = prometheus.NewRegistry()
	var err error
	a.metrics, err = metrics.New(a.registry, versionString())
	if err != nil {
		return nil, err
	}
	a.metrics.SetBackendSource(a.backendStats)
	a.metricsHTTP = a.metrics.Handler(a.registry)
	if w := opts.Worker; w.enabled() {
		a.peers = metrics.NewWorkers(metrics.WorkersOptions{
			Self: a.registry, Index: w.Index, Count: w.Count, Logger: a.log,
			Socket: func(i int) string { return master.MetricsSocket(w.Dir, i) },
		})
		a.metricsHTTP = a.metrics.Handler(a.peers)
	}
	a.setVersion(a.cfgSum)
	a.counter = tokens.New(tokens.Options{CharsFallback: true})
	if err := a.openStore(opts.Config); err != nil {
		return nil, err
	}
	fail := func(err error) (*App, error) {
		a.closeShared()
		return nil, err
	}
	members, err := a.buildMembers(opts.Config, nil)
	if err != nil {
		return fail(err)
	}
	budget := resilience.NewBudget(budgetConfig(opts.Config.Retry), a.clk)
	a.answers = cache.NewMemory(0, a.clk)
	a.sizeAnswers(opts.Config.Cache)
	snap, err := a.snapshotFor(opts.Config, members, budget)
	if err != nil {
		return fail(err)
	}
	authn, lim, proxies, err := a.buildGuards(opts.Config)
	if err != nil {
		return fail(err)
	}
	a.guard.gate = limit.NewConcurrency(0)
	a.installGuards(opts.Config, authn, lim, proxies)
	a.discovered = a.allDiscovered(members)
	a.proxy = proxy.New(snap, proxy.Config{
		Clock:      a.clk,
		Logger:     a.log,
		Observer:   a,
		Discovered: a.discovered,
		Seed:       opts.Seed,
	})
	sopts := serverOptions(opts.Config)
	if w := opts.Worker; w.enabled() {
		sopts.Worker = &server.Worker{Index: w.Index, PID: os.Getpid()}
	}
	a.server = server.New(sopts, serverSettings(opts.Config), server.Deps{
		Forwarder:   a.proxy,
		Catalog:     a.proxy,
		Ready:       a.Ready,
		ReadyDetail: a.readyDetail,
		Observer:    a,
		Logger:      a.log,
		Admit:       a.admit,
		Authorize:   a.authorize,
		RenderError: proxy.RenderError,
		ClientIP:    a.clientIP,
		Gate:        a.guard.gate,
		Extra:       a.serveExtra,
	})
	a.adminHandler = a.audited(admin.Handler(adminSource{a}, admin.Options{Auth: a.adminAuth, Logger: a.log}))
	a.uiHandler = a.audited(a.newUI())
	a.adminApart = opts.Config.Admin.BindAddress != ""
	a.rt.Store(a.newRuntime(opts.Config, members, budget))
	a.metrics.ObserveReload("success")
	return a, nil
}

// serverOptions returns the listener's fixed options; a zero timeout means
// no limit in both the configuration and the server.
func serverOptions(c *config.Config) server.Options {
	return server.Options{ReadTimeout: c.Server.ReadHeaderTimeout, IdleTimeout: c.Server.IdleTimeout}
}

func serverSettings(c *config.Config) server.Settings {
	return server.Settings{
		MaxBodySize: c.Server.MaxBodySize, ExposeBackend: c.Server.ExposeBackendHeader,
		CORS:               corsSettings(c.Server.CORS),
		ClientWriteTimeout: c.Server.ClientWriteTimeout,
	}
}

// seed derives a per-name seed from the app seed.
func (a *App) seed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return a.opts.Seed ^ h.Sum64()
}

func (a *App) newLogger(lc config.LoggingConfig) *slog.Logger {
	level, format := lc.Level, lc.Format
	if a.opts.LogLevel != "" {
		level = a.opts.LogLevel
	}
	if a.opts.LogFormat != "" {
		format = a.opts.LogFormat
	}
	return buildLogger(a.opts.LogOutput, a.level, level, format)
}

// buildLogger returns a logger writing to w in format (text or json) at
// level, which it sets in lv.
func buildLogger(w io.Writer, lv *slog.LevelVar, level, format string) *slog.Logger {
	lv.Set(parseLevel(level))
	if f, _ := config.CanonicalLogFormat(format); f == "json" {
		ho := &slog.HandlerOptions{Level: lv, ReplaceAttr: jsonDuration}
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}

// jsonDuration writes every duration attribute of a JSON log line as
// seconds, a float, under its key with "_s" appended: "duration_s":0.0123
// rather than slog's unitless nanoseconds ("duration":12300000). Text lines
// keep Go's duration strings ("duration=12.3ms").
func jsonDuration(_ []string, attr slog.Attr) slog.Attr {
	if attr.Value.Kind() == slog.KindDuration {
		return slog.Float64(attr.Key+"_s", attr.Value.Duration().Seconds())
	}
	return attr
}

// parseLevel maps a log level in any accepted spelling to its slog level;
// info for a value that is not a level (the CLI and the configuration
// reject those before they get here).
func parseLevel(s string) slog.Level {
	level, _ := config.CanonicalLogLevel(s)
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Logger returns the app's logger.
func (a *App) Logger() *slog.Logger { return a.log }

// buildMembers builds a member per configured backend, reusing the members
// in prev that keep their identity (type, name, URL).
func (a *App) buildMembers(cfg *config.Config, prev []*member) ([]*member, error) {
	byID := map[string]*member{}
	for _, m := range prev {
		byID[m.backend.Identity()] = m
	}
	var out []*member
	for _, bc := range cfg.Backends {
		id := bc.Type + "|" + bc.Name + "|" + bc.BaseURL() // as backend.Backend.Identity
		m, err := a.buildMember(bc, cfg, byID[id])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// allDiscovered returns a channel closed once every member's models are known.
func (a *App) allDiscovered(members []*member) <-chan struct{} {
	done := make(chan struct{})
	chans := make([]chan struct{}, len(members))
	for i, m := range members {
		chans[i] = m.discovered
	}
	go func() {
		defer close(done)
		for _, c := range chans {
			select {
			case <-c:
			case <-a.ctx.Done():
				return
			}
		}
	}()
	return done
}

// Start opens the listeners and starts serving and the background loops.
func (a *App) Start() error {
	lns := a.opts.Listeners
	if len(lns) == 0 {
		addrs := a.opts.Listen
		if len(addrs) == 0 {
			addrs = a.rt.Load().cfg.Server.BindAddress
		}
		for _, addr := range addrs {
			ln, err := listen(addr, a.rt.Load().cfg.Server.SocketMode)
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return err
			}
			lns = append(lns, ln)
		}
	}
	a.listeners = lns
	if a.opts.Worker.enabled() {
		if err := a.startWorker(); err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
	}
	if err := a.startAdmin(); err != nil {
		for _, l := range lns {
			l.Close()
		}
		a.stopWorker()
		return err
	}
	a.applying.Lock()
	for _, m := range a.rt.Load().members {
		a.startLoops(m)
	}
	a.applying.Unlock()
	a.startShared()
	if a.opts.ConfigPath != "" && !a.opts.NoWatch {
		w, err := config.NewWatcher(a.opts.ConfigPath)
		if err != nil {
			a.log.Warn("not watching the configuration file; reload with SIGHUP or the admin API", "error", err)
		} else {
			a.reload.Lock()
			a.watcher = w
			a.watchPrompts(a.rt.Load().cfg)
			a.reload.Unlock()
			a.loopWG.Add(1)
			go func() {
				defer a.loopWG.Done()
				w.Run(a.ctx, watchDebounce, a.clk, a.fileChanged)
			}()
		}
	}
	for _, ln := range lns {
		a.serveWG.Add(1)
		go func() {
			defer a.serveWG.Done()
			if err := a.server.Serve(ln); err != nil {
				a.log.Error("listener stopped", "address", ln.Addr().String(), "error", err)
			}
		}()
		a.log.Info("listening", "address", displayAddr(ln.Addr()))
	}
	a.workerReady()
	return nil
}

// Addrs returns the addresses being served, as URLs' host part (or unix paths).
func (a *App) Addrs() []string {
	var out []string
	for _, ln := range a.listeners {
		out = append(out, displayAddr(ln.Addr()))
	}
	return out
}

func displayAddr(addr net.Addr) string {
	if addr.Network() == "unix" {
		return "unix:" + addr.String()
	}
	return addr.String()
}

// listen opens a TCP address ("host:port") or a Unix socket ("unix:/path").
func listen(addr string, mode uint32) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path) // a stale socket from an earlier run
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		if mode != 0 {
			if err := os.Chmod(path, os.FileMode(mode)); err != nil {
				ln.Close()
				return nil, fmt.Errorf("listen on %s: set socket mode: %w", addr, err)
			}
		}
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// startLoops starts a member's health prober and model discovery.
func (a *App) startLoops(m *member) {
	ctx, cancel := context.WithCancel(a.ctx)
	m.stop = cancel
	if m.cfg.HealthChecks.Enabled {
		a.loopWG.Add(1)
		go func() {
			defer a.loopWG.Done()
			m.tracker.Run(ctx, m.probeFunc())
		}()
	}
	if len(m.cfg.Models) > 0 {
		m.markFound()
		return
	}
	a.loopWG.Add(1)
	go func() {
		defer a.loopWG.Done()
		a.discoverLoop(ctx, m)
	}()
}

// discoverLoop refreshes a member's discovered models every model_cache_ttl.
func (a *App) discoverLoop(ctx context.Context, m *member) {
	for {
		a.discoverOnce(ctx, m)
		ttl := a.rt.Load().cfg.Cache.ModelCacheTTL
		if ttl <= 0 {
			ttl = 60 * time.Second
		}
		timer := a.clk.NewTimer(ttl)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		}
	}
}

// discoverOnce refreshes a member's models and rebuilds the routing table
// when they changed. A failed discovery keeps the previous list.
func (a *App) discoverOnce(ctx context.Context, m *member) {
	changed := a.discoverModels(ctx, m)
	if ctx.Err() != nil {
		return
	}
	if changed {
		a.rebuild()
	}
	m.markFound()
}

// discoverModels asks the backend for its models, bounded by its
// health-check timeout, normalises the list (sorted, without duplicates) and
// stores it when it differs from the list known so far. It reports whether
// the stored list changed; a failed discovery is logged and keeps the
// previous list. It is the one place where discovered lists are fetched and
// compared, so that a backend answering in another order or with repeats
// does not count as a change.
func (a *App) discoverModels(ctx context.Context, m *member) bool {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// health_checks.timeout is validated positive: it also bounds discovery.
	timer := a.clk.AfterFunc(m.cfg.HealthChecks.Timeout, cancel)
	ids, err := m.client.ListModels(dctx)
	timer.Stop()
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		a.log.Warn("model discovery failed", "backend", m.backend.Name, "error", err)
		return false
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	st := m.backend.State
	if st.ModelsKnown() && slices.Equal(st.Models(), ids) {
		return false
	}
	st.SetModels(ids)
	a.log.Info("models discovered", "backend", m.backend.Name, "models", strings.Join(ids, ","))
	return true
}

// rebuild makes a new routing snapshot from the current runtime (after a
// discovery change) and installs it. It holds no lock across I/O: a reload
// in progress is never waited for.
func (a *App) rebuild() {
	a.swap.Lock()
	defer a.swap.Unlock()
	rt := a.rt.Load()
	snap, err := a.snapshotFor(rt.cfg, rt.members, rt.budget)
	if err != nil {
		a.log.Error("rebuild routing table", "error", err)
		return
	}
	a.proxy.Swap(snap)
}

// Ready reports whether at least one backend could take a request now.
func (a *App) Ready() bool {
	now := a.clk.Now()
	for _, m := range a.rt.Load().members {
		if m.usable(now) && len(m.backend.ServedModels()) > 0 {
			return true
		}
	}
	return false
}

// readyDetail adds to /ready the version of the configuration applied and
// the live replicas: operators compare them across replicas. Readiness
// never depends on Redis: with a failure policy the replicas keep serving
// when it is down, and failing readiness would take every one out at once.
func (a *App) readyDetail(dst []byte) []byte {
	dst = append(dst, `,"config_version":`...)
	dst = strconv.AppendQuote(dst, a.ConfigVersion())
	n := 1
	if a.shared != nil {
		n = a.shared.heartbeat.Count()
	}
	dst = append(dst, `,"replicas":`...)
	return strconv.AppendInt(dst, int64(n), 10)
}

// Discovered returns a channel closed once the first model discovery of
// every backend has finished (successfully or not).
func (a *App) Discovered() <-chan struct{} { return a.discovered }

// Models lists the models clients may request.
func (a *App) Models() []openai.Model { return a.proxy.Models() }

// Shutdown stops accepting connections, lets in-flight requests and streams
// finish until ctx ends, then stops the background loops.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.server.Shutdown(ctx)
	// The server only knows the listeners its Serve has reached: one whose
	// goroutine had not started yet (a stop right after Start) would be
	// served forever. Closing it makes that Serve return at once.
	for _, ln := range a.listeners {
		_ = ln.Close()
	}
	if a.adminServer != nil {
		_ = a.adminServer.Shutdown(ctx)
	}
	a.stopWorker()
	a.cancel()
	a.serveWG.Wait()
	a.loopWG.Wait()
	a.cooldownWG.Wait()
	_ = a.store.Close()
	a.closeShared()
	a.applying.Lock()
	for _, m := range a.rt.Load().members {
		m.client.Close()
	}
	a.applying.Unlock()
	return err
}
