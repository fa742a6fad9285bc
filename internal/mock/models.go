package mock

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// loadingMessage is the error message of requests answered during warm-up.
const loadingMessage = "loading model"

// serveHealth answers GET /health: {"status":"ok"}, or an error envelope with
// the HealthStatus (or 503 during warm-up).
func (s *Server) serveHealth(w http.ResponseWriter, o *Options, x *exchange) {
	if s.unhealthy(w, o, x) {
		return
	}
	writeJSON(w, x, healthStatus(o), map[string]string{"status": "ok"})
}

// unhealthy answers the request with the warm-up or HealthStatus error and
// reports true, or reports false when the health and model endpoints should
// answer normally.
func (s *Server) unhealthy(w http.ResponseWriter, o *Options, x *exchange) bool {
	if s.warmingUp(o) {
		writeInjectedError(w, o, x, http.StatusServiceUnavailable, loadingMessage, "model_loading")
		return true
	}
	if status := healthStatus(o); status >= 400 {
		writeInjectedError(w, o, x, status, fmt.Sprintf("mock health status %d", status), injectedCode(status))
		return true
	}
	return false
}

func healthStatus(o *Options) int {
	if o.HealthStatus == 0 {
		return http.StatusOK
	}
	return o.HealthStatus
}

// serveModels answers GET /v1/models, /v1/models/{id} and /api/tags.
func (s *Server) serveModels(w http.ResponseWriter, o *Options, x *exchange, route, id string) {
	if s.unhealthy(w, o, x) {
		return
	}
	status := healthStatus(o)
	created := s.start.Unix()
	switch route {
	case RouteModels:
		list := modelList{Object: "list", Data: make([]modelObject, len(o.Models))}
		for i, m := range o.Models {
			list.Data[i] = modelObject{ID: m, Object: "model", Created: created, OwnedBy: "mock"}
		}
		writeJSON(w, x, status, list)
	case RouteModel:
		if !o.serves(id) {
			writeError(w, x, http.StatusNotFound, modelNotFound(id), "", "model_not_found")
			return
		}
		writeJSON(w, x, status, modelObject{ID: id, Object: "model", Created: created, OwnedBy: "mock"})
	case RouteTags:
		list := tagList{Models: make([]tag, len(o.Models))}
		modified := s.start.UTC().Format(time.RFC3339Nano)
		for i, m := range o.Models {
			sum := sha256.Sum256([]byte(m))
			list.Models[i] = tag{Name: m, Model: m, ModifiedAt: modified, Digest: hex.EncodeToString(sum[:])}
		}
		writeJSON(w, x, status, list)
	}
}

func modelNotFound(model string) string {
	return fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model)
}

// authorized reports whether r carries the API key the options require.
func authorized(o *Options, r *http.Request) bool {
	if o.RequireAPIKey == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(o.RequireAPIKey)) == 1
}
