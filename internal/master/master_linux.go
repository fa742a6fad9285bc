package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"
)

// Supported reports whether this system can run workers.
const Supported = true

// Run runs the master until ctx ends (SIGTERM, SIGINT: the workers finish
// their requests and stop) or a binary upgrade hands over to a new master
// (the old workers drain, then Run returns). It returns an error only when
// the master could not start.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Grace == nil {
		cfg.Grace = func() time.Duration { return 30 * time.Second }
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	log := cfg.Logger
	upg, err := tableflip.New(tableflip.Options{PIDFile: cfg.PIDFile, UpgradeTimeout: upgradeTimeout})
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	defer upg.Stop()

	dir, err := os.MkdirTemp("", "continuum-master-")
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	defer os.RemoveAll(dir)

	sockets, err := openSockets(upg.Fds, cfg)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	defer sockets.close()
	for _, s := range sockets.sets {
		log.Info("listening", "listener", s.role, "address", s.display(), "sockets", len(s.files))
	}

	ctlLn, err := net.Listen("unix", ControlSocket(dir))
	if err != nil {
		return fmt.Errorf("master: control socket: %w", err)
	}
	sup := NewSupervisor(SupervisorConfig{
		Workers: cfg.Workers,
		Backoff: cfg.Backoff,
		Clock:   cfg.Clock,
		Logger:  log,
		Start: func(index int) (Process, error) {
			return startWorker(cfg, dir, sockets, index)
		},
	})
	reloaded := func() {
		if cfg.Reloaded != nil {
			cfg.Reloaded()
		}
	}
	ctl := newControl(ctlLn, sup, log, reloaded)
	if raw, ok := os.LookupEnv(EnvDrained); ok {
		// Backends drained under the previous master stay drained.
		var drained []string
		if err := json.Unmarshal([]byte(raw), &drained); err != nil {
			log.Warn("binary upgrade: the drained backends could not be read; none are drained", "error", err.Error())
		} else if len(drained) > 0 {
			ctl.setDrained(drained)
			log.Info("binary upgrade: backends stay drained", "backends", drained)
		}
		_ = os.Unsetenv(EnvDrained)
	}
	ctlCtx, stopCtl := context.WithCancel(context.Background())
	var ctlDone sync.WaitGroup
	ctlDone.Go(func() { ctl.serve(ctlCtx) })
	defer func() {
		stopCtl()
		ctlDone.Wait()
	}()

	log.Info("master started", "pid", os.Getpid(), "workers", cfg.Workers, "upgrade", upg.HasParent())
	sup.Start()
	stop := func(why string) {
		grace := cfg.Grace() + stopMargin
		log.Info(why, "grace", grace)
		if err := sup.Stop(syscall.SIGTERM, grace); err != nil {
			log.Warn("stopping workers", "error", err.Error())
		}
	}

	// An upgraded master tells its parent it is ready once its workers
	// serve; the parent then drains its own. A first master is ready at once.
	if upg.HasParent() {
		if err := sup.WaitReady(ctx); err != nil {
			stop("stopping before the upgrade completed")
			return nil
		}
	}
	if err := upg.Ready(); err != nil {
		stop("stopping: cannot signal readiness")
		return fmt.Errorf("master: %w", err)
	}
	readyCtx, readyDone := context.WithCancel(ctx)
	defer readyDone()
	go func() {
		if sup.WaitReady(readyCtx) == nil {
			log.Info("master ready", "pid", os.Getpid(), "workers", sup.Pids())
		}
	}()

	upgrades := make(chan error, 1)
	upgrading := false
	for {
		select {
		case <-ctx.Done():
			stop("stopping workers")
			removePIDFile(cfg.PIDFile)
			log.Info("master stopped", "pid", os.Getpid())
			return nil
		case <-cfg.Reload:
			log.Info("forwarding SIGHUP to the workers", "workers", sup.Pids())
			sup.Signal(syscall.SIGHUP)
			reloaded()
		case <-cfg.Upgrade:
			if upgrading {
				log.Warn("binary upgrade already in progress; SIGUSR2 ignored")
				continue
			}
			upgrading = true
			log.Info("binary upgrade: starting a new master", "executable", os.Args[0])
			// The new master inherits the environment: it carries the
			// drained backends, which live in this master's memory.
			if drained, err := json.Marshal(ctl.drainedList()); err == nil {
				_ = os.Setenv(EnvDrained, string(drained))
			}
			go func() { upgrades <- upg.Upgrade() }()
		case err := <-upgrades:
			upgrading = false
			if err != nil {
				log.Error("binary upgrade failed; this master goes on", "error", err.Error())
				continue
			}
			stop("binary upgrade: the new master is ready; draining this master's workers")
			log.Info("master stopped after the upgrade", "pid", os.Getpid())
			return nil
		}
	}
}

// removePIDFile removes the PID file when it still names this process (a
// stop; after an upgrade the new master has replaced it).
func removePIDFile(path string) {
	if path == "" {
		return
	}
	if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}

// socketSet is the sockets of one configured address: one per worker (or
// more, after an upgrade that lowered the worker count) for TCP, one shared
// by every worker for a Unix socket.
type socketSet struct {
	role, addr string
	unix       bool
	lns        []net.Listener // the master's copies, kept open for its lifetime
	files      []*os.File     // duplicates handed to the workers
}

func (s *socketSet) display() string {
	if s.unix {
		return s.addr
	}
	return s.lns[0].Addr().String()
}

type socketSets struct{ sets []*socketSet }

func (ss *socketSets) close() {
	for _, s := range ss.sets {
		for _, f := range s.files {
			f.Close()
		}
		for _, l := range s.lns {
			l.Close()
		}
	}
}

// openSockets opens, or inherits from the previous master, the sockets of
// every address.
func openSockets(fds *tableflip.Fds, cfg Config) (*socketSets, error) {
	ss := &socketSets{}
	add := func(role, addr string) error {
		s, err := openSet(fds, role, addr, cfg.Workers, cfg.SocketMode)
		if err != nil {
			return err
		}
		ss.sets = append(ss.sets, s)
		return nil
	}
	for _, a := range cfg.Listen {
		if err := add(RoleMain, a); err != nil {
			ss.close()
			return nil, err
		}
	}
	if cfg.AdminAddr != "" {
		if err := add(RoleAdmin, cfg.AdminAddr); err != nil {
			ss.close()
			return nil, err
		}
	}
	return ss, nil
}

// socketKey names TCP socket i of addr among the files tableflip passes on.
func socketKey(role, addr string, i int) string {
	return fmt.Sprintf("%s#%s#%d", addr, role, i)
}

func openSet(fds *tableflip.Fds, role, addr string, workers int, mode uint32) (*socketSet, error) {
	s := &socketSet{role: role, addr: addr}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		s.unix = true
		ln, err := fds.ListenWithCallback("unix", path, func(_, _ string) (net.Listener, error) {
			return listenUnix(path, mode)
		})
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		if err := s.add(ln); err != nil {
			return nil, err
		}
		return s, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	lc := net.ListenConfig{Control: reusePort}
	for i := 0; ; i++ {
		var ln net.Listener
		if i < workers {
			bind := addr
			if i > 0 {
				// Port 0 picks a port for the first socket; the others join it.
				_, port, _ := net.SplitHostPort(s.lns[0].Addr().String())
				bind = net.JoinHostPort(host, port)
			}
			ln, err = fds.ListenWithCallback("tcp", socketKey(role, addr, i), func(_, _ string) (net.Listener, error) {
				return lc.Listen(context.Background(), "tcp", bind)
			})
		} else {
			// More sockets than workers were inherited (the previous master
			// had more): keep serving them, as closing a socket of the
			// group would reset the connections queued on it.
			ln, err = fds.Listener("tcp", socketKey(role, addr, i))
			if err == nil && ln == nil {
				break
			}
		}
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		if err := s.add(ln); err != nil {
			s.closeAll()
			return nil, err
		}
	}
	return s, nil
}

// add keeps ln and a duplicate of its descriptor to hand to workers. The
// duplicate is made with fcntl, not ln.File(): os.File.Fd on the latter
// would switch the shared socket to blocking mode under the workers.
func (s *socketSet) add(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		ln.Close()
		return fmt.Errorf("listen on %s: %T has no descriptor", s.addr, ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	var dup int
	var dupErr error
	if err := raw.Control(func(fd uintptr) {
		dup, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || dupErr != nil {
		ln.Close()
		return fmt.Errorf("listen on %s: duplicate the socket: %w", s.addr, errors.Join(err, dupErr))
	}
	s.lns = append(s.lns, ln)
	s.files = append(s.files, os.NewFile(uintptr(dup), s.role+":"+s.addr))
	return nil
}

func (s *socketSet) closeAll() {
	for _, f := range s.files {
		f.Close()
	}
	for _, l := range s.lns {
		l.Close()
	}
}

// reusePort sets SO_REUSEPORT: every worker's socket binds the same port,
// and the kernel spreads new connections across them.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// listenUnix listens on a Unix socket, replacing a stale one, with mode.
func listenUnix(path string, mode uint32) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if mode != 0 {
		if err := os.Chmod(path, os.FileMode(mode)); err != nil {
			ln.Close()
			return nil, fmt.Errorf("set socket mode: %w", err)
		}
	}
	return ln, nil
}

// filesFor returns the sockets worker index serves: socket j of each TCP
// address where j mod workers = index, and every Unix socket.
func (ss *socketSets) filesFor(index, workers int) ([]*os.File, []Inherited) {
	var files []*os.File
	var list []Inherited
	for _, s := range ss.sets {
		for j, f := range s.files {
			if s.unix || j%workers == index {
				list = append(list, Inherited{Role: s.role, FD: 3 + len(files)})
				files = append(files, f)
			}
		}
	}
	return files, list
}

// startWorker starts worker index: this very binary (/proc/self/exe, even
// if the file on disk was replaced since), with the master's arguments and
// the worker environment. Workers get their own process group, so a
// terminal's Ctrl-C reaches the master only (which stops them in order),
// and SIGTERM if the master dies.
func startWorker(cfg Config, dir string, ss *socketSets, index int) (Process, error) {
	files, list := ss.filesFor(index, cfg.Workers)
	w := Worker{Index: index, Count: cfg.Workers, Dir: dir, Listeners: list}
	env := slices.DeleteFunc(slices.Clone(cfg.Environ), func(kv string) bool {
		return isWorkerVar(kv) || strings.HasPrefix(kv, "TABLEFLIP_")
	})
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(workerProcs(runtime.GOMAXPROCS(0), cfg.Workers)))
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append([]string{os.Args[0]}, cfg.Args...),
		Env:        append(env, w.Environ()...),
		Stdout:     cfg.Stdout,
		Stderr:     cfg.Stderr,
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGTERM,
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmdProcess{cmd}, nil
}

// workerProcs is each worker's share of the master's processors (its
// GOMAXPROCS, which follows the CPUs and the container's CPU limit): the
// workers together use what one process would, instead of each scheduling
// goroutines on every CPU.
func workerProcs(procs, workers int) int {
	return max(1, (procs+workers-1)/workers)
}

// cmdProcess adapts a started *exec.Cmd to Process.
type cmdProcess struct{ cmd *exec.Cmd }

func (p cmdProcess) Pid() int                   { return p.cmd.Process.Pid }
func (p cmdProcess) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }
func (p cmdProcess) Wait() error                { return p.cmd.Wait() }
