package app

import (
	"log/slog"
	"net"
	"net/http"
	"time"
)

// audited logs one line (msg=admin) per request to the admin API or the
// dashboard, wherever they are served: at info level for a request that
// may change something (any method but GET and HEAD), at debug level for
// reads, so that who drained a backend or rolled the configuration back at
// 3 a.m. is in the log without every dashboard refresh being there too. The
// line has the method, the path (without the query string), the status,
// the duration and the client's address; never a credential, a body or a
// query string.
func (a *App) audited(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			level = slog.LevelDebug
		}
		if !a.log.Enabled(r.Context(), level) {
			return
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		client := r.RemoteAddr
		if host, _, err := net.SplitHostPort(client); err == nil {
			client = host
		}
		a.log.Log(r.Context(), level, "admin",
			"method", printable([]byte(r.Method), 16), "path", printable([]byte(r.URL.Path), maxLoggedPath), "status", status,
			"client_ip", client, "duration", time.Since(start))
	})
}

// statusWriter remembers the status an admin handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes flushes on, for the dashboard's streamed fragments.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
