package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/continuumhq/continuum/internal/cluster"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/master"
	"github.com/continuumhq/continuum/internal/mock"
)

// Version and Commit are set at build time with -ldflags "-X"; when empty
// they are read from the module's build information.
var (
	Version = ""
	Commit  = ""
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what a command reads from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv looks up environment variables; nil means os.LookupEnv.
	Getenv func(string) (string, bool)
	// Reload delivers SIGHUP. Nil means no reload signal.
	Reload <-chan os.Signal
	// Upgrade subscribes to SIGUSR2, the binary-upgrade signal of the
	// multi-process mode, and returns the channel and a function that ends
	// the subscription. Only the master and the workers subscribe, so a
	// single process keeps the signal's default action. Nil means no
	// upgrade signal.
	Upgrade func() (<-chan os.Signal, func())
}

func (e *Env) lookup(k string) (string, bool) {
	if e.Getenv == nil {
		return os.LookupEnv(k)
	}
	return e.Getenv(k)
}

const usage = `Continuum routes OpenAI-compatible requests across many LLM backends.

Usage:
  continuum <command> [flags]
  continuum --config FILE [serve flags]   (as continuum-router: means serve)

Commands:
  serve            run the router (-c FILE, --listen ADDR)
  demo             run the router and two simulated backends, no files needed
  mock             run a simulated OpenAI-compatible backend
  check            validate a configuration file
  bench            load-test an OpenAI-compatible endpoint
  config example   print an annotated configuration with every key and its default
  version          print version information

Run "continuum <command> --help" for a command's flags.
`

// Main runs the command line args (without the program name) until ctx is
// cancelled (SIGINT/SIGTERM) and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveCmd(ctx, rest, env)
	case "demo":
		return demoCmd(ctx, rest, env)
	case "mock":
		return mockCmd(ctx, rest, env)
	case "check":
		return checkCmd(rest, env)
	case "bench":
		return benchCmd(ctx, rest, env)
	case "config":
		return configCmd(rest, env)
	case "version", "--version", "-version":
		fs := newFlags("version", "version", env)
		if code, ok := parseFlags(fs, rest, env); !ok {
			return code
		}
		fmt.Fprintln(env.Stdout, versionString())
		return ExitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	if strings.HasPrefix(cmd, "-") {
		// continuum-router's habit: "continuum-router --config FILE" runs
		// the router. Flags with no command are serve's flags.
		return serveCmd(ctx, args, env)
	}
	fmt.Fprintf(env.Stderr, "continuum: unknown command %q\n\n%s", cmd, usage)
	return ExitUsage
}

func versionString() string {
	v, c := Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("continuum %s (commit %s, %s %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newFlags returns a flag set for a command whose usage line is synopsis;
// parseFlags decides where its usage goes.
func newFlags(name, synopsis string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: continuum %s\n", synopsis)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; it returns an exit code and false when the
// command must stop: asked for help (-h, --help: the usage on stdout, exit
// 0) or a usage error (the error and the usage on stderr, exit 2).
func parseFlags(fs *flag.FlagSet, args []string, env Env) (int, bool) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := fs.Parse(args)
	fs.SetOutput(env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		env.Stdout.Write(out.Bytes())
		return ExitOK, false
	}
	env.Stderr.Write(out.Bytes())
	if err != nil {
		return ExitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return ExitUsage, false
	}
	return 0, true
}

// listFlag collects repeated or comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func printDiagnostics(w io.Writer, ds []config.Diagnostic, prefix string) {
	for _, d := range ds {
		fmt.Fprintf(w, "%s%s\n", prefix, d.String())
	}
}

// loadConfig finds and loads the configuration for a command, printing its
// warnings and, on failure, its errors as file:line:col lines.
func loadConfig(cmd, explicit string, env Env) (*config.Config, string, bool) {
	file, err := config.Find(explicit, env.lookup)
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum %s: %v\n", cmd, err)
		return nil, "", false
	}
	cfg, warns, err := config.Load(file)
	printDiagnostics(env.Stderr, warns, "warning: ")
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			printDiagnostics(env.Stderr, list, "")
		} else {
			fmt.Fprintf(env.Stderr, "continuum %s: %v\n", cmd, err)
		}
		return nil, "", false
	}
	return cfg, file, true
}

func checkCmd(args []string, env Env) int {
	fs := newFlags("check", "check [-c FILE]", env)
	var path string
	fs.StringVar(&path, "c", "", "configuration `file` (default: CONTINUUM_CONFIG, ./config.yaml, ./config.yml, $XDG_CONFIG_HOME/continuum/config.yaml, /etc/continuum/config.yaml, /etc/continuum-router/config.yaml)")
	fs.StringVar(&path, "config", "", "same as -c")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	cfg, file, ok := loadConfig("check", path, env)
	if !ok {
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "%s: configuration is valid (%d backends, strategy %s)\n", file, len(cfg.Backends), cfg.SelectionStrategy)
	return ExitOK
}

// configUsage is the usage of the config command.
const configUsage = "Usage: continuum config example\n\nPrints an annotated configuration with every key and its default.\n"

func configCmd(args []string, env Env) int {
	if len(args) > 0 && args[0] == "example" {
		fs := newFlags("config example", "config example\n\nPrints an annotated configuration with every key and its default.", env)
		if code, ok := parseFlags(fs, args[1:], env); !ok {
			return code
		}
		fmt.Fprint(env.Stdout, config.Example())
		return ExitOK
	}
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
		fmt.Fprint(env.Stdout, configUsage)
		return ExitOK
	}
	if len(args) > 0 {
		fmt.Fprintf(env.Stderr, "continuum config: unknown subcommand %q\n", args[0])
	}
	fmt.Fprint(env.Stderr, configUsage)
	return ExitUsage
}

func mockCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlags("mock", "mock [--listen ADDR] [--api openai|anthropic|gemini] [--models a,b] [--ttft D] [--token-delay D] [--tokens N] [faults…]", env)
	listenAddr := "127.0.0.1:8000"
	fs.StringVar(&listenAddr, "listen", listenAddr, "`address` to listen on")
	var opts mock.Options
	opts.RegisterFlags(fs)
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(env.Stderr, "continuum mock: %v\n", err)
		return ExitUsage
	}
	if err := mock.Run(ctx, listenAddr, opts, env.Stdout); err != nil {
		fmt.Fprintf(env.Stderr, "continuum mock: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func serveCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlags("serve", "serve [-c FILE] [--listen ADDR] [--pid-file FILE]", env)
	var path, logLevel, logFormat string
	var listen listFlag
	var noWatch bool
	var pprofAddr, pidFile string
	fs.StringVar(&path, "c", "", "configuration `file` (default: CONTINUUM_CONFIG, ./config.yaml, ./config.yml, $XDG_CONFIG_HOME/continuum/config.yaml, /etc/continuum/config.yaml, /etc/continuum-router/config.yaml)")
	fs.StringVar(&path, "config", "", "same as -c")
	fs.Var(&listen, "listen", "`address` to listen on, replacing server.bind_address (repeatable or comma-separated; env CONTINUUM_LISTEN)")
	fs.StringVar(&logLevel, "log-level", "", "log `level`: "+config.LogLevelsHelp+" (env CONTINUUM_LOG_LEVEL; default logging.level)")
	fs.StringVar(&logFormat, "log-format", "", "log `format`: "+config.LogFormatsHelp+" (env CONTINUUM_LOG_FORMAT; default logging.format)")
	fs.BoolVar(&noWatch, "no-watch", false, "do not reload when the configuration file changes (SIGHUP and the admin API still reload)")
	fs.StringVar(&pprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this `address`, e.g. 127.0.0.1:6060; keep it private (with server.workers > 1: worker 0's)")
	fs.StringVar(&pidFile, "pid-file", "", "write the process id to this `file` (with server.workers > 1: the master's, replaced by the new master's after a binary upgrade)")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	if len(listen) == 0 {
		if v, ok := env.lookup("CONTINUUM_LISTEN"); ok && v != "" {
			_ = listen.Set(v)
		}
	}
	var ok bool
	if logLevel, ok = logSetting(env, "log-level", logLevel, "CONTINUUM_LOG_LEVEL", config.CanonicalLogLevel, config.LogLevelsHelp); !ok {
		return ExitUsage
	}
	if logFormat, ok = logSetting(env, "log-format", logFormat, "CONTINUUM_LOG_FORMAT", config.CanonicalLogFormat, config.LogFormatsHelp); !ok {
		return ExitUsage
	}
	cfg, file, ok := loadConfig("serve", path, env)
	if !ok {
		return ExitFailure
	}
	wk, err := master.WorkerFromEnv(env.lookup)
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum serve: %v\n", err)
		return ExitFailure
	}
	if wk == nil && cfg.Server.WorkerCount() > 1 {
		return masterCmd(ctx, env, masterArgs{
			cfg: cfg, file: file, args: args, listen: listen,
			logLevel: logLevel, logFormat: logFormat, pidFile: pidFile,
		})
	}
	logs := newLogWriter(env.Stderr, wk != nil)
	defer logs.Close()
	opts := Options{Config: cfg, ConfigPath: file, Listen: listen, LogOutput: logs, LogLevel: logLevel, LogFormat: logFormat, NoWatch: noWatch}
	var drained []string
	if wk != nil {
		if drained, ok = workerOptions(ctx, &opts, wk, env); !ok {
			return ExitFailure
		}
		if env.Upgrade != nil {
			// SIGUSR2 is the master's; a worker that gets it (kill to the
			// whole group) must not die of it.
			_, unsubscribe := env.Upgrade()
			defer unsubscribe()
		}
		pidFile = "" // the master's
		if wk.Index != 0 {
			pprofAddr = "" // worker 0's only: one address
		}
	}
	a, err := New(opts)
	if err != nil {
		if opts.Worker.Link != nil {
			opts.Worker.Link.Close()
		}
		fmt.Fprintf(env.Stderr, "continuum serve: %v\n", err)
		return ExitFailure
	}
	for _, b := range drained {
		if err := a.SetDrained(b, true); err != nil {
			a.log.Warn("cannot apply a drain made in another worker", "backend", b, "error", err.Error())
		}
	}
	a.log.Info("configuration loaded", "file", file, "backends", len(cfg.Backends), "strategy", cfg.SelectionStrategy, "version", a.ConfigVersion())
	if cfg.RateLimiting.Storage == "redis" {
		// go-redis logs failed dials through its package logger; the
		// process owns it. The breaker's own lines say when Redis is down.
		redis.SetLogger(cluster.Logger(func(_ context.Context, msg string) { a.log.Debug("redis client", "detail", msg) }))
	}
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintf(env.Stderr, "continuum serve: pid file: %v\n", err)
			return ExitFailure
		}
		defer os.Remove(pidFile)
	}
	if pprofAddr != "" {
		stop, err := servePprof(pprofAddr)
		if err != nil {
			fmt.Fprintf(env.Stderr, "continuum serve: %v\n", err)
			return ExitFailure
		}
		defer stop()
		a.log.Info("profiler listening", "address", pprofAddr)
	}
	return a.run(ctx, env)
}

// logSetting returns the canonical value of a log setting: the --flag value
// when given, else the environment variable's, else "" (the configuration
// file decides). An invalid value is a usage error naming where it came from
// and the accepted values; ok is false then.
func logSetting(env Env, flagName, flagValue, envName string, canonical func(string) (string, bool), accepted string) (string, bool) {
	value, source := flagValue, "--"+flagName
	if value == "" {
		value, _ = env.lookup(envName)
		source = envName
	}
	if strings.TrimSpace(value) == "" {
		return "", true
	}
	c, ok := canonical(value)
	if !ok {
		fmt.Fprintf(env.Stderr, "continuum serve: invalid %s %q: use %s\nRun \"continuum serve --help\" for usage.\n", source, value, accepted)
		return "", false
	}
	return c, true
}

// run starts the app, reloads on env.Reload, and shuts down gracefully when
// ctx ends.
func (a *App) run(ctx context.Context, env Env) int {
	if err := a.Start(); err != nil {
		fmt.Fprintf(env.Stderr, "continuum: %v\n", err)
		a.cancel()
		return ExitFailure
	}
	for {
		select {
		case <-env.Reload:
			_ = a.Reload("signal") // Reload logs the outcome
			continue
		case <-ctx.Done():
		}
		break
	}
	timeout := a.shutdownGrace()
	a.log.Info("shutting down", "grace", timeout)
	a.handover(timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		a.log.Warn("shutdown grace period ended with requests still running", "error", err)
	}
	a.log.Info("stopped")
	return ExitOK
}

// shutdownGrace returns how long requests and streams in flight may finish
// once the router is told to stop: server.shutdown_timeout. With 0 the
// shutdown context is over at once, so nothing is waited for.
func (a *App) shutdownGrace() time.Duration {
	return a.rt.Load().cfg.Server.ShutdownTimeout
}

// shutdownGrace is how long the demo waits for streams on Ctrl-C.
const shutdownGrace = 5 * time.Second
