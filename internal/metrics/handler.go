package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the HTTP handler that serves g in the Prometheus
// exposition format (text unless the scraper negotiates another), for
// GET /metrics. g is normally the registry given to New.
//
// A collector that fails does not fail the scrape: the handler serves every
// metric it could gather and logs the error to Options.Logger, if set.
func (m *Metrics) Handler(g prometheus.Gatherer) http.Handler {
	opts := promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		// A few concurrent scrapes are plenty (Prometheus replicas, a human
		// with curl); more are answered 503 instead of piling up gathers.
		MaxRequestsInFlight: 4,
	}
	if m != nil && m.logger != nil {
		opts.ErrorLog = scrapeLogger{m.logger}
	}
	return promhttp.HandlerFor(g, opts)
}

// scrapeLogger adapts a *slog.Logger to promhttp.Logger.
type scrapeLogger struct{ log *slog.Logger }

func (l scrapeLogger) Println(v ...any) {
	l.log.Warn("metrics scrape error", "error", fmt.Sprint(v...))
}
