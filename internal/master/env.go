package master

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// The environment variables that make `continuum serve` a worker. The
// master sets them; they are not meant to be set by hand.
const (
	// EnvWorker holds the worker's index, 0 to EnvWorkers-1.
	EnvWorker = "CONTINUUM_WORKER"
	// EnvWorkers holds the number of workers.
	EnvWorkers = "CONTINUUM_WORKERS"
	// EnvDir names the master's directory: its control socket and every
	// worker's metrics socket.
	EnvDir = "CONTINUUM_WORKER_DIR"
	// EnvListeners lists the inherited listening sockets as role:fd pairs
	// separated by commas ("main:3,main:4,admin:5").
	EnvListeners = "CONTINUUM_WORKER_LISTENERS"
	// EnvDrained carries the drained backends (a JSON list of names) from
	// a master to the one a binary upgrade starts, which gives them to its
	// workers.
	EnvDrained = "CONTINUUM_MASTER_DRAINED"
)

// Listener roles.
const (
	RoleMain  = "main"  // server.bind_address (or --listen)
	RoleAdmin = "admin" // admin.bind_address
)

// Worker is what a worker process learns from its environment.
type Worker struct {
	Index, Count int
	// Dir is the master's directory (ControlSocket, MetricsSocket).
	Dir string
	// Listeners are the inherited listening sockets.
	Listeners []Inherited
}

// Inherited is one inherited listening socket.
type Inherited struct {
	Role string // RoleMain or RoleAdmin
	FD   int
}

// WorkerFromEnv reads the worker environment with lookup (os.LookupEnv).
// It returns nil and no error when the process is not a worker.
func WorkerFromEnv(lookup func(string) (string, bool)) (*Worker, error) {
	idx, ok := lookup(EnvWorker)
	if !ok {
		return nil, nil
	}
	w := &Worker{}
	var err error
	if w.Index, err = strconv.Atoi(idx); err != nil {
		return nil, fmt.Errorf("%s=%q: not a worker index", EnvWorker, idx)
	}
	n, _ := lookup(EnvWorkers)
	if w.Count, err = strconv.Atoi(n); err != nil || w.Count < 1 || w.Index < 0 || w.Index >= w.Count {
		return nil, fmt.Errorf("%s=%q, %s=%q: not a worker index and count", EnvWorker, idx, EnvWorkers, n)
	}
	w.Dir, _ = lookup(EnvDir)
	if w.Dir == "" {
		return nil, fmt.Errorf("%s is not set", EnvDir)
	}
	list, _ := lookup(EnvListeners)
	for _, item := range strings.Split(list, ",") {
		if item == "" {
			continue
		}
		role, fd, ok := strings.Cut(item, ":")
		n, err := strconv.Atoi(fd)
		if !ok || err != nil || n < 3 || (role != RoleMain && role != RoleAdmin) {
			return nil, fmt.Errorf("%s: bad entry %q", EnvListeners, item)
		}
		w.Listeners = append(w.Listeners, Inherited{Role: role, FD: n})
	}
	return w, nil
}

// Environ returns the environment variables describing w.
func (w *Worker) Environ() []string {
	var list []string
	for _, l := range w.Listeners {
		list = append(list, l.Role+":"+strconv.Itoa(l.FD))
	}
	return []string{
		EnvWorker + "=" + strconv.Itoa(w.Index),
		EnvWorkers + "=" + strconv.Itoa(w.Count),
		EnvDir + "=" + w.Dir,
		EnvListeners + "=" + strings.Join(list, ","),
	}
}

// isWorkerVar reports whether an environment entry ("NAME=value") is one
// of the worker variables.
func isWorkerVar(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	switch name {
	case EnvWorker, EnvWorkers, EnvDir, EnvListeners:
		return true
	}
	return false
}

// Open turns the inherited sockets into listeners, by role.
func (w *Worker) Open() (main, admin []net.Listener, err error) {
	closeAll := func() {
		for _, l := range append(main, admin...) {
			l.Close()
		}
	}
	for _, in := range w.Listeners {
		f := os.NewFile(uintptr(in.FD), fmt.Sprintf("%s-listener-%d", in.Role, in.FD))
		if f == nil {
			closeAll()
			return nil, nil, fmt.Errorf("inherited %s listener: fd %d is not open", in.Role, in.FD)
		}
		ln, err := net.FileListener(f)
		f.Close() // FileListener made its own copy
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("inherited %s listener (fd %d): %w", in.Role, in.FD, err)
		}
		if in.Role == RoleAdmin {
			admin = append(admin, ln)
		} else {
			main = append(main, ln)
		}
	}
	if len(main) == 0 {
		closeAll()
		return nil, nil, errors.New("no inherited listener for the main addresses")
	}
	return main, admin, nil
}
