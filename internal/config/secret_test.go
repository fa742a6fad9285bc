package config

import (
	"strings"
	"testing"
)

// Secrets used by the tests below; none may appear in a diagnostic.
const (
	testKey      = "sk-proj-Q3vT9xLm2RkWb7NcY4pHsA8dJf6GeU1i"
	testPassword = "s3cr3t-Pa55"
	testToken    = "Zx81LqA0rT5vNw2YbKe7HcU4mJd9GfS6"
)

// TestDiagnosticsHideSecrets: a diagnostic never quotes a password in a
// URL, nor an API key written where something else belongs; it still says
// where the problem is.
func TestDiagnosticsHideSecrets(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		at     string // the diagnostic's position
		want   string // part of the message
		secret string
	}{
		{"URL with a password and a bad port", "backends:\n  - name: a\n    url: http://admin:" + testPassword + "@host:80x\n",
			"config.yaml:3:10:", `invalid URL "http://****@host:80x": invalid port ":80x" after host`, testPassword},
		{"URL with a password that breaks parsing", "backends:\n  - name: a\n    url: http://admin:pa/ss:" + testPassword + "@host:8000\n",
			"config.yaml:3:10:", `invalid URL "http://****@host:8000": the user information is malformed`, testPassword},
		{"URL with a password and no scheme", "backends:\n  - name: a\n    url: admin:" + testPassword + "@host:8000\n",
			"config.yaml:3:10:", `invalid URL "****@host:8000"`, testPassword},
		{"URL with a password and a query", "backends:\n  - name: a\n    url: https://u:" + testPassword + "@host/v1?x=1\n",
			"config.yaml:3:10:", `invalid URL "https://****@host/v1?x=1": a base URL has no query or fragment`, testPassword},
		{"URL with a key in the query", "backends:\n  - name: a\n    url: \"http://127.0.0.1:18009/?key=" + testToken + "\"\n",
			"config.yaml:3:10:", `invalid URL "http://127.0.0.1:18009/?key=****": a base URL has no query or fragment`, testToken},
		{"URL with a password in the query and a bad port", "backends:\n  - name: a\n    url: \"http://h:80x/?password=" + testPassword + "\"\n",
			"config.yaml:3:10:", `invalid URL "http://h:80x/?password=****": invalid port ":80x" after host`, testPassword},
		{"API key as the URL", "backends:\n  - name: a\n    url: " + testKey + "\n",
			"config.yaml:3:10:", "invalid URL sk-…(40 chars, looks like a secret): the scheme must be http or https", testKey},
		{"API key as the weight", "backends:\n  - name: a\n    url: http://h\n    weight: " + testKey + "\n",
			"config.yaml:4:13:", "invalid integer sk-…(40 chars, looks like a secret)", testKey},
		{"token as a duration", "request:\n  timeout: " + testToken + "\n" + oneBackend,
			"config.yaml:2:12:", "invalid duration …(32 chars, looks like a secret)", testToken},
		{"API key listed twice as a model", "backends:\n  - name: a\n    url: http://h\n    models: [" + testKey + ", " + testKey + "]\n",
			"config.yaml:4:56:", "is listed twice", testKey},
		{"API key as an alias of itself", "model_aliases:\n  " + testKey + ": " + testKey + "\n" + oneBackend,
			"config.yaml:2:45:", "refers to itself", testKey},
		{"API key as the strategy", "selection_strategy: " + testKey + "\n" + oneBackend,
			"config.yaml:1:21:", "unknown selection strategy sk-…(40 chars", testKey},
		{"API key as the log level", "logging:\n  level: " + testKey + "\n" + oneBackend,
			"config.yaml:2:10:", "unknown log level sk-…(40 chars", testKey},
		{"API key as a key", "server:\n  " + testKey + ": 1\n" + oneBackend,
			"config.yaml:2:3:", "server: unknown key sk-…(40 chars", testKey},
		{"API key as a bind address", "server:\n  bind_address: " + testKey + "\n" + oneBackend,
			"config.yaml:2:17:", "invalid address sk-…(40 chars", testKey},
		{"broken reference in an API key", "backends:\n  - name: a\n    url: http://h\n    api_key: \"" + testKey + "${\"\n",
			"config.yaml:4:14:", `backends[0].api_key: unterminated "${"`, testKey},
		{"broken reference in the admin token", "admin:\n  auth: {method: bearer_token, token: \"" + testToken + "${X\"}\n" + oneBackend,
			"config.yaml:2:39:", `admin.auth.token: unterminated "${"`, testToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.src)
			all := strings.Join(errs, "\n")
			if strings.Contains(all, tt.secret) {
				t.Errorf("a diagnostic holds the secret:\n%s", all)
			}
			found := false
			for _, e := range errs {
				if strings.HasPrefix(e, tt.at) && strings.Contains(e, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("got\n%s\nwant a diagnostic at %s holding %q", all, tt.at, tt.want)
			}
		})
	}

	t.Run("URL user information with api_key", func(t *testing.T) {
		_, warns := parseOK(t, "backends:\n  - name: a\n    url: http://u:"+testPassword+"@h:8000\n    api_key: k\n")
		got := strings.Join(diagStrings(warns), "\n")
		if !strings.Contains(got, "config.yaml:3:10: backends[0].url: the URL's user name and password are not sent: api_key is set") {
			t.Errorf("got warnings\n%s\nwant one about the URL's user information", got)
		}
		if strings.Contains(got, testPassword) {
			t.Errorf("a warning holds the password:\n%s", got)
		}
	})
}

func TestLooksSecret(t *testing.T) {
	secrets := []string{
		testKey, testToken, "sk-ant-api03-abcdefghij", "ghp_abcdefghijklmnop", "AKIAIOSFODNN7EXAMPLE",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "0f3a9c1be27d4e5fa6b8c9d0e1f2a3b4",
		"eyJhbGciOiJIUzI1NiJ9", "http://user:pw@host", "https://token@host",
	}
	for _, s := range secrets {
		if !looksSecret(s) {
			t.Errorf("looksSecret(%q) = false, want true", s)
		}
	}
	plain := []string{
		"llama-3.1-8b", "meta-llama/Meta-Llama-3-70B-Instruct", "Qwen2.5-72B-Instruct-AWQ",
		"mixtral-8x7b-instruct-v0.1-q4_0", "deepseek-r1:70b-llama-distill-q4_K_M",
		"550e8400-e29b-41d4-a716-446655440000", "gpt-4o-mini-2024-07-18", "RoundRobin",
		"http://10.0.0.11:8000", "127.0.0.1:8080", "hunter2", "text-embedding-3-large",
		"backends[0].health_checks.max_warmup_duration", "sk-short",
	}
	for _, s := range plain {
		if looksSecret(s) {
			t.Errorf("looksSecret(%q) = true, want false", s)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"http://user:" + testPassword + "@host:8000/v1", "http://host:8000/v1"},
		{"https://token@host", "https://host"},
		{"http://host:8000", "http://host:8000"},
		{"http://u:p%40ss@host/a%2Fb", "http://host/a%2Fb"},
	} {
		b := Backend{URL: tt.url}
		if got := b.BaseURL(); got != tt.want {
			t.Errorf("BaseURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
