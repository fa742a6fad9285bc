package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// demoModel is the model the demo's simulated backends serve.
const demoModel = "demo-model"

func demoCmd(ctx context.Context, args []string, env Env) int {
	fs := newFlags("demo", "demo [--listen ADDR]", env)
	listenAddr := "127.0.0.1:8080"
	fs.StringVar(&listenAddr, "listen", listenAddr, "`address` for the router (the simulated backends take free local ports)")
	if code, ok := parseFlags(fs, args, env); !ok {
		return code
	}
	if v, ok := env.lookup("CONTINUUM_LISTEN"); ok && v != "" && !flagSet(fs, "listen") {
		listenAddr = v
	}

	cfg := config.Default()
	cfg.Server.BindAddress = []string{listenAddr}
	cfg.ModelAliases = map[string]string{"gpt-4o-mini": demoModel}
	// The dashboard and the admin API need a credential: one drawn for this run.
	token := make([]byte, 12)
	if _, err := rand.Read(token); err != nil {
		fmt.Fprintf(env.Stderr, "continuum demo: %v\n", err)
		return ExitFailure
	}
	cfg.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: "demo-" + hex.EncodeToString(token)}
	var servers []*http.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for _, name := range []string{"mock-a", "mock-b"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(env.Stderr, "continuum demo: %v\n", err)
			return ExitFailure
		}
		srv := &http.Server{Handler: mock.New(mock.Options{
			Name:       name,
			Models:     []string{demoModel},
			TTFT:       150 * time.Millisecond,
			TokenDelay: 40 * time.Millisecond,
			Tokens:     24,
		}), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(env.Stderr, "continuum demo: backend %s: %v\n", name, err)
			}
		}()
		cfg.Backends = append(cfg.Backends, cfg.NewBackend(name, "http://"+ln.Addr().String()))
	}

	logs := newBufferedWriter(env.Stderr)
	defer logs.Close()
	a, err := New(Options{Config: cfg, LogOutput: logs})
	if err != nil {
		fmt.Fprintf(env.Stderr, "continuum demo: %v\n", err)
		return ExitFailure
	}
	if err := a.Start(); err != nil {
		fmt.Fprintf(env.Stderr, "continuum demo: %v (choose another address with --listen)\n", err)
		a.cancel()
		return ExitFailure
	}
	url := "http://" + urlHost(a.listeners[0].Addr())
	fmt.Fprintf(env.Stdout, `Continuum demo: the router is listening on %[1]s in front of two simulated backends (mock-a, mock-b).

Ask it something:
  curl %[1]s/v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"%[2]s","messages":[{"role":"user","content":"Hello!"}]}'

Watch a stream arrive token by token:
  curl -N %[1]s/v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"%[2]s","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'

List the models:  curl %[1]s/v1/models
Dashboard:        %[1]s/ui/ (sign in with the admin token %[3]s)
Any OpenAI SDK works with base URL %[1]s/v1 and any API key. Press Ctrl-C to stop.
`, url, demoModel, cfg.Admin.Auth.Token)

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = a.Shutdown(sctx)
	return ExitOK
}

// urlHost returns a listener address usable in a URL (an unspecified IP becomes 127.0.0.1).
func urlHost(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return addr.String()
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}
