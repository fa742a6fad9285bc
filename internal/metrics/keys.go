package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// keyUsage holds the per-API-key usage series: requests by key and status
// class, and tokens by key and type. The key_id label takes the key's
// configured id ("none" for requests without a key) and is capped like the
// model label.
type keyUsage struct {
	ids      *labelSet
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec

	mu     sync.RWMutex
	series map[keySeriesKey]*keySeries
}

type keySeriesKey struct {
	id    string
	class byte // status / 100
}

// keySeries caches the children one key and status class feed.
type keySeries struct {
	requests           prometheus.Counter
	prompt, completion prometheus.Counter
}

func newKeyUsage(maxIDs int) *keyUsage {
	return &keyUsage{
		ids: newLabelSet(maxIDs),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_key_requests_total",
			Help: `Client requests by API key id (the key's configured id; "none" without a key, "other" past the label cap) and status class ("2xx", "4xx", "5xx", ...). ` +
				"Key values are never used as labels.",
		}, []string{"key_id", "status_class"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_key_tokens_total",
			Help:      `Tokens reported in backends' usage fields, by API key id and type ("prompt" or "completion").`,
		}, []string{"key_id", "type"}),
		series: make(map[keySeriesKey]*keySeries),
	}
}

// statusClasses are the status_class label values, by status / 100.
var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// observe records one request of r.KeyID. In steady state it does not allocate.
func (k *keyUsage) observe(r *Request) {
	class := byte(r.Status / 100)
	if r.Status < 100 || r.Status > 599 {
		class = 0
	}
	raw := keySeriesKey{r.KeyID, class}
	k.mu.RLock()
	s := k.series[raw]
	k.mu.RUnlock()
	if s == nil {
		s = k.newSeries(raw)
	}
	s.requests.Inc()
	if r.HasUsage {
		if r.PromptTokens > 0 {
			s.prompt.Add(float64(r.PromptTokens))
		}
		if r.CompletionTokens > 0 {
			s.completion.Add(float64(r.CompletionTokens))
		}
	}
}

func (k *keyUsage) newSeries(raw keySeriesKey) *keySeries {
	id, admitted := k.ids.admit(raw.id)
	key := raw
	if !admitted {
		key.id = id // every id past the cap shares the "other" entry
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.series[key]; s != nil {
		return s
	}
	s := &keySeries{
		requests:   k.requests.WithLabelValues(id, statusClasses[raw.class]),
		prompt:     k.tokens.WithLabelValues(id, "prompt"),
		completion: k.tokens.WithLabelValues(id, "completion"),
	}
	key.id = strings.Clone(key.id)
	k.series[key] = s
	return s
}
