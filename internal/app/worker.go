package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/master"
	"github.com/continuumhq/continuum/internal/metrics"
	"github.com/continuumhq/continuum/internal/server"
)

// Worker places an App among the worker processes of the multi-process
// mode (server.workers > 1; see internal/master). The zero value is the
// single-process mode.
type Worker struct {
	// Index and Count: this is worker Index of Count (0 ≤ Index < Count).
	Index, Count int
	// Dir is the master's directory: its control socket and every worker's
	// metrics socket.
	Dir string
	// Link is the connection to the master. Nil means none (tests): admin
	// drains and reloads then stay in this worker.
	Link *master.Link
}

// enabled reports whether the app is one of several workers.
func (w Worker) enabled() bool { return w.Count > 1 }

// handoverLinger bounds how long a stopping worker keeps serving its
// keep-alive connections, each closed after its next answer, before the
// graceful shutdown closes the idle ones (see server.Handover).
const handoverLinger = time.Second

// startWorker serves this worker's metrics to the other workers (on its
// socket in the master's directory) and follows the master's messages.
func (a *App) startWorker() error {
	w := a.opts.Worker
	path := master.MetricsSocket(w.Dir, w.Index)
	_ = os.Remove(path) // left by this worker's previous process
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("worker metrics socket: %w", err)
	}
	a.peerServer = &http.Server{Handler: metrics.PeerHandler(a.registry), ReadHeaderTimeout: 10 * time.Second}
	a.serveWG.Go(func() {
		if err := a.peerServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("worker metrics socket stopped", "error", err.Error())
		}
	})
	if w.Link != nil {
		a.loopWG.Go(func() {
			if err := w.Link.Serve(a.ctx, a.fromMaster); err != nil {
				a.log.Warn("lost the connection to the master", "error", err.Error())
			}
		})
	}
	return nil
}

// fromMaster applies what another worker did through its admin API.
func (a *App) fromMaster(m master.Message) {
	switch m.Op {
	case master.OpReload:
		_ = a.Reload("admin") // Reload logs the outcome
	case master.OpDrain, master.OpUndrain:
		if err := a.SetDrained(m.Backend, m.Op == master.OpDrain); err != nil {
			a.log.Warn("cannot apply another worker's "+m.Op, "backend", m.Backend, "error", err.Error())
		}
	}
}

// workerReady tells the master this worker serves.
func (a *App) workerReady() {
	if a.opts.Worker.Link != nil {
		if err := a.opts.Worker.Link.Send(master.Message{Op: master.OpReady}); err != nil {
			a.log.Warn("cannot tell the master this worker is ready", "error", err.Error())
		}
	}
}

// tellMaster reports an admin action to the master, which applies it in
// every other worker. In the single-process mode it does nothing.
func (a *App) tellMaster(m master.Message) {
	if l := a.opts.Worker.Link; l != nil {
		if err := l.Send(m); err != nil {
			a.log.Warn("cannot tell the master; other workers keep their state", "op", m.Op, "error", err.Error())
		}
	}
}

// stopWorker closes the worker's metrics socket and its connections to the
// other workers' sockets.
func (a *App) stopWorker() {
	if a.peerServer != nil {
		_ = a.peerServer.Close()
	}
	if a.peers != nil {
		a.peers.Close()
	}
}

// handover, in a worker, passes its clients to the other processes that
// serve the same sockets before a shutdown (see server.Handover); at most
// handoverLinger, and never longer than the grace period.
func (a *App) handover(grace time.Duration) {
	if !a.opts.Worker.enabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(handoverLinger, grace))
	defer cancel()
	a.server.Handover(ctx)
}

// limitConfig returns cfg as the in-memory limits of this process see it:
// in a multi-process router with storage memory, each worker enforces
// every rate and burst (requests and tokens) divided by the number of
// workers, rounded up and at least 1, so that together they allow what the
// file says. With storage redis the limits are shared exactly: cfg as is.
func (a *App) limitConfig(cfg *config.Config) *config.Config {
	n := a.workers()
	if n <= 1 || cfg.RateLimiting.Storage == "redis" {
		return cfg
	}
	c := *cfg
	rl := &c.RateLimiting
	rl.Limits.Global = splitRate(rl.Limits.Global, n)
	rl.Limits.PerAPIKey = splitRate(rl.Limits.PerAPIKey, n)
	rl.Limits.PerClient = splitRate(rl.Limits.PerClient, n)
	rl.Limits.PerModel = splitRates(rl.Limits.PerModel, n)
	rl.Limits.PerBackend = splitRates(rl.Limits.PerBackend, n)
	c.APIKeys.Keys = slices.Clone(cfg.APIKeys.Keys)
	for i := range c.APIKeys.Keys {
		c.APIKeys.Keys[i].RateLimit = splitRate(c.APIKeys.Keys[i].RateLimit, n)
	}
	return &c
}

// splitRate divides one rate's share between n workers.
func splitRate(r config.RateSpec, n int) config.RateSpec {
	if r.RequestsPerSecond > 0 {
		burst := r.BurstCapacity
		if burst <= 0 {
			burst = max(1, int(math.Ceil(r.RequestsPerSecond)))
		}
		r.RequestsPerSecond /= float64(n)
		r.BurstCapacity = max(1, (burst+n-1)/n)
	}
	if r.TokensPerMinute > 0 {
		burst := r.TokenBurst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(r.TokensPerMinute)))
		}
		r.TokensPerMinute /= float64(n)
		r.TokenBurst = max(1, (burst+n-1)/n)
	}
	return r
}

func splitRates(m map[string]config.RateSpec, n int) map[string]config.RateSpec {
	if m == nil {
		return nil
	}
	out := make(map[string]config.RateSpec, len(m))
	for k, r := range m {
		out[k] = splitRate(r, n)
	}
	return out
}

// splitCount divides a count limit (server.max_concurrent_requests) between
// n workers, rounded up; 0 (unlimited) stays 0.
func splitCount(v, n int) int {
	if n <= 1 || v <= 0 {
		return v
	}
	return max(1, (v+n-1)/n)
}

// workers returns how many workers share the in-memory limits: 1 in the
// single-process mode.
func (a *App) workers() int { return max(1, a.opts.Worker.Count) }

// withWorkerHeader stamps the admin listener's answers with the worker
// that served them, as the main listener does.
func withWorkerHeader(h http.Handler, index int) http.Handler {
	v := strconv.Itoa(index)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(server.HeaderWorker, v)
		h.ServeHTTP(w, r)
	})
}
