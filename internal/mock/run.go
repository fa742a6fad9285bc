package mock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// shutdownGrace is how long Run lets in-flight requests finish after its
// context ends before it closes their connections.
const shutdownGrace = 5 * time.Second

// Run serves a mock backend on addr until ctx is done, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish for up to
// 5 seconds and closes the rest (hanging requests end there). Once listening
// it prints "mock backend listening on http://ADDR (models: a, b)" to stdout,
// with the address actually bound (so addr may use port 0). It returns an
// error for invalid options or when listening or serving fails, and nil after
// a shutdown caused by ctx. A nil stdout discards the line.
func Run(ctx context.Context, addr string, opts Options, stdout io.Writer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("mock options: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mock listen: %w", err)
	}
	s := New(opts)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "mock backend listening on http://%s (models: %s)\n",
		displayAddr(ln.Addr()), strings.Join(s.Options().Models, ", ")); err != nil {
		_ = srv.Close()
		<-serveErr
		return fmt.Errorf("mock print address: %w", err)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("mock serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close() // grace expired: close what is left, hanging requests included
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mock serve: %w", err)
	}
	return nil
}

// displayAddr returns a listener address that can be pasted into a URL:
// an unspecified IP (0.0.0.0, ::) becomes localhost.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
}
