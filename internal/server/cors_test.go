package server

import (
	"strings"
	"testing"
	"time"
)

// sdkHeaders is what the official OpenAI JS SDK (7.x) asked for in a
// Chromium preflight of chat.completions.create, with organization and
// project set, plus its optional headers.
const sdkHeaders = "authorization,content-type,openai-organization,openai-project,x-stainless-arch,x-stainless-lang,x-stainless-os," +
	"x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout,x-stainless-helper-method"

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	policy := CORS{
		Enabled: true, AllowedOrigins: []string{"https://app.example"}, AllowedMethods: []string{"GET", "POST", "OPTIONS"},
		AllowedHeaders: []string{"Authorization", "Content-Type", "OpenAI-Organization", "OpenAI-Project", "X-Stainless-*"},
		MaxAge:         time.Minute,
	}
	l := startListener(t, Options{}, Settings{CORS: policy})
	tests := []struct {
		name, origin, requested string
		want                    int
		wantAllow               string // "" for no Access-Control-Allow-Headers
		wantOrigin              string
	}{
		{"SDK headers", "https://app.example", sdkHeaders, 204, sdkHeaders, "https://app.example"},
		{"spaces and case kept", "https://app.example", "Authorization, X-Stainless-OS", 204, "Authorization, X-Stainless-OS", "https://app.example"},
		{"unknown header left out", "https://app.example", "authorization,x-evil,x-stainlessx", 204, "authorization", "https://app.example"},
		{"no headers asked", "https://app.example", "", 204, "", "https://app.example"},
		{"other origin", "https://evil.example", "authorization", 405, "", ""}, // not answered as a preflight
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := []string{"Origin", tt.origin, "Access-Control-Request-Method", "POST"}
			if tt.requested != "" {
				header = append(header, "Access-Control-Request-Headers", tt.requested)
			}
			r := one(t, l.exchange(request("OPTIONS", "/v1/chat/completions", "", false, header...)))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if got := strings.ReplaceAll(r.Header.Get("Access-Control-Allow-Headers"), ", ", ","); got != strings.ReplaceAll(tt.wantAllow, ", ", ",") {
				t.Errorf("got Access-Control-Allow-Headers %q, want %q", got, tt.wantAllow)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("got Access-Control-Allow-Origin %q, want %q", got, tt.wantOrigin)
			}
			if tt.want == 204 {
				if got := r.Header.Get("Access-Control-Max-Age"); got != "60" {
					t.Errorf("got Access-Control-Max-Age %q, want 60", got)
				}
				if vary := strings.Join(r.Header.Values("Vary"), ","); !strings.Contains(vary, "Access-Control-Request-Headers") {
					t.Errorf("got Vary %q, want it to name Access-Control-Request-Headers", vary)
				}
			}
		})
	}
}

func TestHeaderAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		allowed []string
		name    string
		want    bool
	}{
		{nil, "x-anything", true},
		{[]string{"*"}, "x-anything", true},
		{[]string{"X-Stainless-*"}, "x-stainless-os", true},
		{[]string{"X-Stainless-*"}, "X-STAINLESS-", true},
		{[]string{"X-Stainless-*"}, "x-stainless", false},
		{[]string{"Authorization"}, "authorization", true},
		{[]string{"Authorization"}, "authorizations", false},
	}
	for _, tt := range tests {
		if got := headerAllowed(tt.allowed, []byte(tt.name)); got != tt.want {
			t.Errorf("headerAllowed(%q, %q): got %v, want %v", tt.allowed, tt.name, got, tt.want)
		}
	}
}
