package auth

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/continuumhq/continuum/internal/clock"
)

// headers returns a header lookup over name/value pairs, matching names the
// way HTTP does (case-insensitively).
func headers(t *testing.T, pairs ...string) func(string) []byte {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("headers: odd number of arguments %q", pairs)
	}
	h := http.Header{}
	for i := 0; i < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return func(name string) []byte {
		v, ok := h[http.CanonicalHeaderKey(name)]
		if !ok {
			return nil
		}
		return []byte(v[0])
	}
}

func TestCredential(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		want    string // "" means nil
	}{
		{"none", nil, ""},
		{"bearer", []string{"Authorization", "Bearer sk-a"}, "sk-a"},
		{"bearer lowercase scheme", []string{"Authorization", "bearer sk-a"}, "sk-a"},
		{"bearer uppercase scheme", []string{"Authorization", "BEARER sk-a"}, "sk-a"},
		{"bearer extra spaces", []string{"Authorization", "  Bearer   sk-a  "}, "sk-a"},
		{"bearer tab separator", []string{"Authorization", "Bearer\tsk-a"}, "sk-a"},
		{"bearer without token", []string{"Authorization", "Bearer "}, ""},
		{"bearer scheme only", []string{"Authorization", "Bearer"}, ""},
		{"scheme glued to token", []string{"Authorization", "Bearersk-a"}, ""},
		{"basic is not a key", []string{"Authorization", "Basic dXNlcjpwYXNz"}, ""},
		{"x-api-key", []string{"X-Api-Key", "sk-x"}, "sk-x"},
		{"x-api-key any case", []string{"x-api-key", " sk-x "}, "sk-x"},
		{"api-key azure style", []string{"Api-Key", "sk-azure"}, "sk-azure"},
		{"bearer wins over x-api-key", []string{"Authorization", "Bearer sk-a", "X-Api-Key", "sk-x"}, "sk-a"},
		{"x-api-key wins over api-key", []string{"X-Api-Key", "sk-x", "Api-Key", "sk-azure"}, "sk-x"},
		{"non-bearer authorization falls through", []string{"Authorization", "Basic abc", "X-Api-Key", "sk-x"}, "sk-x"},
		{"empty bearer falls through", []string{"Authorization", "Bearer  ", "Api-Key", "sk-azure"}, "sk-azure"},
		{"empty x-api-key falls through", []string{"X-Api-Key", " ", "Api-Key", "sk-azure"}, "sk-azure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Credential(headers(t, c.headers...))
			if c.want == "" {
				if got != nil {
					t.Errorf("Credential = %q, want nil", got)
				}
				return
			}
			if string(got) != c.want {
				t.Errorf("Credential = %q, want %q", got, c.want)
			}
		})
	}
}

func TestCredentialDoesNotAllocate(t *testing.T) {
	get := headers(t, "Authorization", "Bearer sk-a")
	value := get("Authorization")
	fixed := func(name string) []byte {
		if name == HeaderAuthorization {
			return value
		}
		return nil
	}
	if n := testing.AllocsPerRun(100, func() { Credential(fixed) }); n != 0 {
		t.Errorf("Credential allocates %v times per call, want 0", n)
	}
}

func TestAuthenticateDoesNotAllocate(t *testing.T) {
	a := newAuth(t, Blocking, clock.NewFake(start))
	cred := []byte(secretValid)
	if n := testing.AllocsPerRun(100, func() { _, _ = a.Authenticate(cred) }); n != 0 {
		t.Errorf("Authenticate allocates %v times per call, want 0", n)
	}
}

func ExampleCredential() {
	keys := []Key{{Secret: "sk-team-a", ID: "team-a", Enabled: true, Models: []string{"llama-3.1-8b"}}}
	a, err := New(Blocking, keys, clock.Real())
	if err != nil {
		fmt.Println(err)
		return
	}
	header := map[string]string{"Authorization": "Bearer sk-team-a"}
	get := func(name string) []byte { return []byte(header[name]) }

	p, err := a.Authenticate(Credential(get))
	fmt.Println(p, err, p.Allows("llama-3.1-8b"), p.Allows("gpt-4o"))

	_, err = a.Authenticate(nil)
	fmt.Println(err == ErrMissing)
	// Output:
	// key team-a <nil> true false
	// true
}
