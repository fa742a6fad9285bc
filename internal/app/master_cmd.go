package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/master"
)

// masterArgs is what `serve` hands the master.
type masterArgs struct {
	cfg                 *config.Config
	file                string
	args                []string // serve's arguments, given to every worker
	listen              []string
	logLevel, logFormat string
	pidFile             string
}

// masterCmd runs `serve` as the master of server.workers worker processes
// (see internal/master): it owns the listening sockets, keeps the workers
// running, forwards SIGHUP, and upgrades the binary on SIGUSR2.
func masterCmd(ctx context.Context, env Env, m masterArgs) int {
	n := m.cfg.Server.WorkerCount()
	if !master.Supported {
		// Run refuses here, saying why.
		fmt.Fprintf(env.Stderr, "continuum serve: %v\n", master.Run(ctx, master.Config{}))
		return ExitFailure
	}
	file, err := filepath.Abs(m.file)
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum serve: %v\n", err)
		return ExitFailure
	}
	// The master logs little: its lines are written at once (each under
	// PIPE_BUF, so they never mix with the workers' on a shared pipe).
	log := buildLogger(env.Stderr, new(slog.LevelVar), firstNonEmpty(m.logLevel, m.cfg.Logging.Level),
		firstNonEmpty(m.logFormat, m.cfg.Logging.Format)).With("role", "master")

	listen := m.listen
	if len(listen) == 0 {
		listen = m.cfg.Server.BindAddress
	}
	// The running settings: the grace period follows reloads; the rest
	// needs a restart, which a reload says.
	var mu sync.Mutex
	running := m.cfg
	reloaded := func() {
		cfg, _, err := config.Load(file)
		if err != nil {
			return // every worker logs why
		}
		mu.Lock()
		defer mu.Unlock()
		if cfg.Server.WorkerCount() != running.Server.WorkerCount() {
			log.Warn("server.workers changed; restart (or upgrade with SIGUSR2) to run the new number of workers",
				"running", running.Server.WorkerCount(), "configured", cfg.Server.WorkerCount())
		}
		if len(m.listen) == 0 && !slices.Equal(cfg.Server.BindAddress, running.Server.BindAddress) ||
			cfg.Admin.BindAddress != running.Admin.BindAddress {
			log.Warn("server.bind_address or admin.bind_address changed; restart to listen on the new addresses")
		}
		running.Server.ShutdownTimeout = cfg.Server.ShutdownTimeout
	}
	var upgrade <-chan os.Signal
	if env.Upgrade != nil {
		ch, stop := env.Upgrade()
		defer stop()
		upgrade = ch
	}
	// Workers run `serve` again with the same flags and the configuration
	// file found here (a later -c wins).
	args := append(append([]string{"serve"}, m.args...), "-c", file)
	err = master.Run(ctx, master.Config{
		Workers:    n,
		Listen:     listen,
		AdminAddr:  m.cfg.Admin.BindAddress,
		SocketMode: m.cfg.Server.SocketMode,
		Args:       args,
		Stdout:     env.Stdout,
		Stderr:     env.Stderr,
		Logger:     log,
		PIDFile:    m.pidFile,
		Reload:     env.Reload,
		Upgrade:    upgrade,
		Reloaded:   reloaded,
		Grace: func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return running.Server.ShutdownTimeout
		},
	})
	if err != nil {
		log.Error("master failed", "error", err.Error())
		fmt.Fprintf(env.Stderr, "continuum serve: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// workerOptions makes opts those of worker wk: the inherited sockets, its
// place among the workers, and its link to the master. It returns the
// backends the other workers keep drained.
func workerOptions(ctx context.Context, opts *Options, wk *master.Worker, env Env) ([]string, bool) {
	main, admin, err := wk.Open()
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum serve: worker %d: %v\n", wk.Index, err)
		return nil, false
	}
	opts.Listeners, opts.AdminListeners = main, admin
	opts.Listen = nil
	opts.Worker = Worker{Index: wk.Index, Count: wk.Count, Dir: wk.Dir}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	link, drained, err := master.Dial(dctx, wk.Dir, wk.Index, os.Getpid())
	if err != nil {
		// Serve anyway: admin drains and reloads stay in this worker.
		fmt.Fprintf(env.Stderr, "continuum serve: worker %d: %v\n", wk.Index, err)
		return nil, true
	}
	opts.Worker.Link = link
	return drained, true
}
