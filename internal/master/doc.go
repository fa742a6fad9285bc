// Package master runs Continuum's multi-process mode (server.workers > 1,
// Linux): a master process that owns the listening sockets and starts N
// worker processes, the same binary re-executed, that serve them.
//
// The master creates each listening socket once through
// cloudflare/tableflip, one SO_REUSEPORT socket per worker for each TCP
// address (the kernel spreads new connections across them) and one shared
// socket per Unix address, and passes them to the workers as inherited file
// descriptors. Because the master keeps its copies, a socket outlives the
// worker serving it: connections arriving while a worker restarts wait in
// the socket's queue instead of being refused.
//
// The Supervisor restarts a worker that exits unexpectedly, after an
// exponential backoff on an injected clock. SIGHUP is forwarded to every
// worker; SIGTERM and SIGINT stop them (SIGKILL after the grace period);
// SIGUSR2 starts a new master from the binary on disk (tableflip.Upgrade),
// which inherits the sockets and starts its own workers; once they are
// ready the old workers drain and the old master exits.
//
// Workers talk to the master over a Unix socket (see Link): they report
// when they are ready, and ask for admin actions (reload, drain, undrain) to
// be applied by every worker.
package master
