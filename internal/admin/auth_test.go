package admin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

const (
	testUser     = "ops-user-QRS"
	testPassword = "pa55-word-TUV"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAuthMatrix(t *testing.T) {
	bearer := Auth{Method: MethodBearer, Token: testToken}
	basicAuth := Auth{Method: MethodBasic, Username: testUser, Password: testPassword}
	apiKey := Auth{Method: MethodAPIKey, Token: testToken}
	tests := []struct {
		name          string
		auth          Auth
		header        http.Header
		wantCode      int
		wantChallenge string // prefix of WWW-Authenticate; "" means absent
		wantCode2     string // error code in the envelope
	}{
		{"bearer none", bearer, nil, 401, `Bearer realm="continuum-admin"`, codeMissingCredentials},
		{"bearer wrong", bearer, http.Header{"Authorization": {"Bearer nope"}}, 401, `Bearer realm="continuum-admin", error="invalid_token"`, codeInvalidCredentials},
		{"bearer prefix of token", bearer, http.Header{"Authorization": {"Bearer " + testToken[:5]}}, 401, `Bearer realm=`, codeInvalidCredentials},
		{"bearer token with suffix", bearer, http.Header{"Authorization": {"Bearer " + testToken + "x"}}, 401, `Bearer realm=`, codeInvalidCredentials},
		{"bearer empty token", bearer, http.Header{"Authorization": {"Bearer "}}, 401, `Bearer realm=`, codeMissingCredentials},
		{"bearer other scheme", bearer, http.Header{"Authorization": {basic(testUser, testPassword)}}, 401, `Bearer realm=`, codeMissingCredentials},
		{"bearer sent as api key", bearer, http.Header{"X-Api-Key": {testToken}}, 401, `Bearer realm=`, codeMissingCredentials},
		{"bearer right", bearer, http.Header{"Authorization": {"Bearer " + testToken}}, 200, "", ""},
		{"bearer right lowercase scheme", bearer, http.Header{"Authorization": {"bearer " + testToken}}, 200, "", ""},

		{"basic none", basicAuth, nil, 401, `Basic realm="continuum-admin"`, codeMissingCredentials},
		{"basic wrong password", basicAuth, http.Header{"Authorization": {basic(testUser, "nope")}}, 401, `Basic realm="continuum-admin"`, codeInvalidCredentials},
		{"basic wrong user", basicAuth, http.Header{"Authorization": {basic("nope", testPassword)}}, 401, `Basic realm=`, codeInvalidCredentials},
		{"basic bearer sent", basicAuth, http.Header{"Authorization": {"Bearer " + testPassword}}, 401, `Basic realm=`, codeMissingCredentials},
		{"basic right", basicAuth, http.Header{"Authorization": {basic(testUser, testPassword)}}, 200, "", ""},

		{"api_key none", apiKey, nil, 401, `ApiKey realm="continuum-admin"`, codeMissingCredentials},
		{"api_key wrong", apiKey, http.Header{"X-Api-Key": {"nope"}}, 401, `ApiKey realm=`, codeInvalidCredentials},
		{"api_key sent as bearer", apiKey, http.Header{"Authorization": {"Bearer " + testToken}}, 401, `ApiKey realm=`, codeMissingCredentials},
		{"api_key right", apiKey, http.Header{"X-Api-Key": {testToken}}, 200, "", ""},

		{"method none", Auth{Method: MethodNone, Token: testToken}, http.Header{"Authorization": {"Bearer " + testToken}}, 403, "", codeAdminDisabled},
		{"method empty", Auth{Token: testToken}, http.Header{"Authorization": {"Bearer " + testToken}}, 403, "", codeAdminDisabled},
		{"method unknown", Auth{Method: "oauth", Token: testToken}, http.Header{"Authorization": {"Bearer " + testToken}}, 403, "", codeAdminDisabled},
		{"bearer empty configured token", Auth{Method: MethodBearer}, http.Header{"Authorization": {"Bearer "}}, 403, "", codeAdminDisabled},
		{"bearer empty configured token, none sent", Auth{Method: MethodBearer}, nil, 403, "", codeAdminDisabled},
		{"api_key empty configured token", Auth{Method: MethodAPIKey}, http.Header{"X-Api-Key": {""}}, 403, "", codeAdminDisabled},
		{"basic empty password", Auth{Method: MethodBasic, Username: testUser}, http.Header{"Authorization": {basic(testUser, "")}}, 403, "", codeAdminDisabled},
		{"basic empty username", Auth{Method: MethodBasic, Password: testPassword}, http.Header{"Authorization": {basic("", testPassword)}}, 403, "", codeAdminDisabled},
	}
	for _, tt := range tests {
		for _, path := range []string{"/admin/backends", "/admin/unknown"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				src := newFakeSource()
				h := Handler(src, Options{Auth: func() Auth { return tt.auth }})
				r := httptest.NewRequest(http.MethodGet, path, nil)
				for k, v := range tt.header {
					r.Header[http.CanonicalHeaderKey(k)] = v
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				want := tt.wantCode
				if want == 200 && path == "/admin/unknown" {
					want = 404
				}
				if w.Code != want {
					t.Fatalf("status: got %d, want %d; body %s", w.Code, want, w.Body)
				}
				got := w.Header().Get("WWW-Authenticate")
				if tt.wantChallenge == "" && got != "" {
					t.Errorf("WWW-Authenticate: got %q, want none", got)
				}
				if !strings.HasPrefix(got, tt.wantChallenge) {
					t.Errorf("WWW-Authenticate: got %q, want prefix %q", got, tt.wantChallenge)
				}
				switch want {
				case 401:
					e := decodeError(t, w)
					if e.Type != openai.TypeAuthentication || code(e) != tt.wantCode2 {
						t.Errorf("error: got type %q code %q, want %q %q", e.Type, code(e), openai.TypeAuthentication, tt.wantCode2)
					}
				case 403:
					e := decodeError(t, w)
					if e.Type != openai.TypePermission || code(e) != codeAdminDisabled {
						t.Errorf("error: got type %q code %q, want %q %q", e.Type, code(e), openai.TypePermission, codeAdminDisabled)
					}
					if !strings.Contains(e.Message, "disabled") || !strings.Contains(e.Message, "admin.auth.method") {
						t.Errorf("message %q: want it to say the API is disabled and how to enable it", e.Message)
					}
					if strings.Contains(e.Message, testToken) || strings.Contains(e.Message, testPassword) {
						t.Errorf("message %q: contains a credential", e.Message)
					}
				}
			})
		}
	}
}

func TestAuthNilIsDisabled(t *testing.T) {
	src := newFakeSource()
	h := Handler(src, Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, authorized(httptest.NewRequest(http.MethodPost, "/admin/config/reload", nil)))
	if w.Code != http.StatusForbidden {
		t.Fatalf("status: got %d, want 403", w.Code)
	}
	if src.reloads != 0 {
		t.Errorf("reloads: got %d, want 0", src.reloads)
	}
}

// TestAuthUnauthenticatedMutationsDoNothing checks that a refused request
// never reaches the Source.
func TestAuthUnauthenticatedMutationsDoNothing(t *testing.T) {
	src := newFakeSource()
	h := Handler(src, Options{Auth: bearerAuth})
	for _, path := range []string{"/admin/config/reload", "/admin/backends/vllm-a/drain"} {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("Authorization", "Bearer wrong")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s status: got %d, want 401", path, w.Code)
		}
	}
	if src.reloads != 0 {
		t.Errorf("reloads: got %d, want 0", src.reloads)
	}
	if b := src.Backends()[0]; b.Drained {
		t.Errorf("drained: got true, want false")
	}
}

// TestAuthReadPerRequest checks that a changed admin.auth block applies to
// the next request, as after a reload.
func TestAuthReadPerRequest(t *testing.T) {
	var current atomic.Pointer[Auth]
	current.Store(&Auth{Method: MethodBearer, Token: "old-token"})
	h := Handler(newFakeSource(), Options{Auth: func() Auth { return *current.Load() }})
	do := func(token string) int {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/admin/backends", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	steps := []struct {
		auth  *Auth // nil keeps the current one
		token string
		want  int
	}{
		{nil, "old-token", 200},
		{&Auth{Method: MethodBearer, Token: "new-token"}, "old-token", 401},
		{nil, "new-token", 200},
		{&Auth{Method: MethodNone}, "new-token", 403},
	}
	for i, st := range steps {
		if st.auth != nil {
			current.Store(st.auth)
		}
		if got := do(st.token); got != st.want {
			t.Errorf("step %d: got %d, want %d", i, got, st.want)
		}
	}
}

// TestNoCredentialsInLogs sends right and wrong credentials of every method
// to every route with debug logging on, and checks that no secret appears in
// the log output.
func TestNoCredentialsInLogs(t *testing.T) {
	secrets := []string{testToken, testUser, testPassword, "wrong-guess-123",
		base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))}
	auths := []Auth{
		{Method: MethodBearer, Token: testToken},
		{Method: MethodAPIKey, Token: testToken},
		{Method: MethodBasic, Username: testUser, Password: testPassword},
	}
	headers := []http.Header{
		{"Authorization": {"Bearer " + testToken}},
		{"Authorization": {"Bearer wrong-guess-123"}},
		{"X-Api-Key": {testToken}},
		{"X-Api-Key": {"wrong-guess-123"}},
		{"Authorization": {basic(testUser, testPassword)}},
		{"Authorization": {basic(testUser, "wrong-guess-123")}},
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, a := range auths {
		src := newFakeSource()
		src.reloadErr = errInvalid
		h := Handler(src, Options{Auth: func() Auth { return a }, Logger: log})
		for _, hdr := range headers {
			for _, r := range Routes() {
				req := httptest.NewRequest(r.Method, strings.ReplaceAll(r.Path, "{name}", "vllm-a"), nil)
				for k, v := range hdr {
					req.Header[http.CanonicalHeaderKey(k)] = v
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		}
	}
	out := buf.String()
	if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "backend drained") {
		t.Fatalf("log: got %q, want authentication failures and drains logged", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log contains the credential %q", s)
		}
	}
}

var errInvalid = errors.New("config.yaml:1:1: bad")

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "abcd", false},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := equal(tt.a, tt.b); got != tt.want {
			t.Errorf("equal(%q, %q): got %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
