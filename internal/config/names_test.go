package config

import (
	"strings"
	"testing"
)

// TestNamesUsableInPaths: backend names and API key ids are segments of
// the admin API's paths, so a slash, a backslash, a control character, "."
// and ".." are refused at their line; other characters are fine.
func TestNamesUsableInPaths(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"slash", "backends:\n  - {name: a/b, url: http://h}\n", `config.yaml:2:12: backends[0].name: backend name "a/b" must not contain / or \`},
		{"traversal", "backends:\n  - name: ../../etc/passwd\n    url: http://h\n", `config.yaml:2:11: backends[0].name: backend name "../../etc/passwd" must not contain / or \`},
		{"backslash", "backends:\n  - {name: 'a\\b', url: http://h}\n", `config.yaml:2:12: backends[0].name: backend name "a\\b" must not contain`},
		{"dot dot", "backends:\n  - {name: '..', url: http://h}\n", `config.yaml:2:12: backends[0].name: backend name ".." must not be . or ..`},
		{"dot", "backends:\n  - {name: '.', url: http://h}\n", `backend name "." must not be . or ..`},
		{"control character", "backends:\n  - {name: \"a\\tb\", url: http://h}\n", `backend name "a\tb" must not contain control characters`},
		{"key id", oneBackend + "api_keys:\n  api_keys:\n    - {key: k1, id: ../x}\n", `config.yaml:5:21: api_keys.api_keys[0].id: key id "../x" must not contain / or \`},
		{"key id dot dot", oneBackend + "api_keys:\n  api_keys:\n    - {key: k1, id: ..}\n", `key id ".." must not be . or ..`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := strings.Join(parseErrors(t, tt.src), "\n")
			if !strings.Contains(errs, tt.want) {
				t.Errorf("got\n%s\nwant %s", errs, tt.want)
			}
		})
	}
	parseOK(t, "backends:\n  - {name: 'vllm-a.1 (GPU #2) 50%', url: http://h}\napi_keys:\n  api_keys:\n    - {key: k1, id: team.a_b-c}\n")
}
