package master

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Config configures a master.
type Config struct {
	// Workers is the number of worker processes (≥ 2).
	Workers int
	// Listen lists the main listener addresses ("host:port" or "unix:/path").
	Listen []string
	// AdminAddr is admin.bind_address; "" when the admin API shares the main listener.
	AdminAddr string
	// SocketMode is the file mode given to new Unix sockets; 0 keeps theirs.
	SocketMode uint32
	// Args are a worker's arguments, without the program name (serve -c FILE …).
	Args []string
	// Environ is the workers' base environment. Nil means os.Environ().
	Environ []string
	// Stdout and Stderr are given to the workers. Nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// Logger receives the master's own log lines. Nil discards them.
	Logger *slog.Logger
	// PIDFile, when set, receives the master's pid once it is ready, and the
	// new master's after a binary upgrade.
	PIDFile string
	// Reload delivers SIGHUP: it is forwarded to every worker.
	Reload <-chan os.Signal
	// Upgrade delivers SIGUSR2: the binary on disk is started as a new
	// master, which inherits the sockets.
	Upgrade <-chan os.Signal
	// Reloaded is called after a reload was forwarded (SIGHUP, or the admin
	// API of a worker), so the master can read its own settings again. Nil
	// means nothing to do.
	Reloaded func()
	// Grace returns how long workers may take to finish their requests when
	// stopped (server.shutdown_timeout); they are killed a margin later.
	// Nil means 30s.
	Grace func() time.Duration
	// Backoff paces worker restarts.
	Backoff Backoff
	// Clock drives the supervisor. Nil means the wall clock.
	Clock clock.Clock
}

// stopMargin is added to the grace period before workers are killed: a
// worker's shutdown also lingers for keep-alive clients (at most a second)
// and gives cancelled requests a second to say so.
const stopMargin = 5 * time.Second

// upgradeTimeout bounds a binary upgrade: the new master must have its
// workers serving within it, or it is killed and the old one goes on.
const upgradeTimeout = time.Minute
