package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/mock"
)

// A reload that waits on a new backend's model discovery never stalls the
// router's other pages: the new runtime is built beside the running one and
// swapped in whole.
func TestReloadNeverStallsReaders(t *testing.T) {
	t.Parallel()
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			select {
			case asked <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, `{"object":"list","data":[{"id":"n","object":"model"}]}`)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(b.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	e, path := opsStartFile(t, opsReloadYAML(a.URL, ""), opsFileSetup{Clock: clock.NewFake(time.Time{})})
	opsWriteConfig(t, path, opsReloadYAML(a.URL, b.URL))
	reloaded := make(chan int, 1)
	go func() {
		resp, _ := send(t, http.MethodPost, e.URL+"/admin/config/reload", "", "Authorization", opsReloadAuth)
		reloaded <- resp.StatusCode
	}()
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the reload did not ask the new backend for its models")
	}
	// The reload is now waiting on b. Everything else answers meanwhile.
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/docs", "/openapi.json", "/metrics", "/v1/models", "/health", "/ready", "/admin/backends"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+path, nil)
		req.Header.Set("Authorization", opsReloadAuth)
		resp, err := client.Do(req)
		cancel()
		if err != nil {
			t.Fatalf("GET %s during a reload: %v (stalled behind the reload?)", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s during a reload: got %d, want 200", path, resp.StatusCode)
		}
	}
	if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
		t.Fatalf("a request during the reload: got %d %s", resp.StatusCode, body)
	}
	select {
	case code := <-reloaded:
		t.Fatalf("the reload finished (%d) before the new backend answered its discovery", code)
	default:
	}
	close(release)
	if code := <-reloaded; code != 200 {
		t.Fatalf("reload: got %d, want 200", code)
	}
	if _, body := e.Get("/v1/models"); !strings.Contains(body, `"n"`) {
		t.Fatalf("after the reload: models %s, want n too", body)
	}
}
