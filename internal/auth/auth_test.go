package auth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Secrets used by the tests. They are long and distinctive so that the leak
// test can grep formatted output for them.
const (
	secretValid    = "sk-valid-0123456789abcdef"
	secretDisabled = "sk-disabled-0123456789abcdef"
	secretExpiring = "sk-expiring-0123456789abcdef"
	secretLimited  = "sk-limited-0123456789abcdef"
)

func testKeys() []Key {
	return []Key{
		{Secret: secretValid, ID: "valid", Name: "Valid key", Enabled: true},
		{Secret: secretDisabled, ID: "disabled", Enabled: false},
		{Secret: secretExpiring, ID: "expiring", Enabled: true, ExpiresAt: start.Add(time.Hour)},
		{
			Secret: secretLimited, ID: "limited", Name: "Limited", Enabled: true,
			Scopes: []string{"read"}, Models: []string{"llama-3.1-8b", "gpt-4o-mini"},
			RatePerSecond: 2.5, Burst: 5,
		},
	}
}

func newAuth(t *testing.T, mode Mode, clk clock.Clock) *Authenticator {
	t.Helper()
	a, err := New(mode, testKeys(), clk)
	if err != nil {
		t.Fatalf("New(%v) error: %v", mode, err)
	}
	return a
}

func TestParseMode(t *testing.T) {
	cases := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"permissive", Permissive, false},
		{"blocking", Blocking, false},
		{" Blocking ", Blocking, false},
		{"PERMISSIVE", Permissive, false},
		{"", 0, true},
		{"strict", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseMode(c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("ParseMode(%q) error = %v, want error %t", c.in, err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("ParseMode(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for _, m := range []Mode{Permissive, Blocking} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%v.String()) = %v, %v; want %v, nil", m, got, err, m)
		}
	}
	if got, want := Mode(7).String(), "Mode(7)"; got != want {
		t.Errorf("Mode(7).String() = %q, want %q", got, want)
	}
}

func TestAuthenticate(t *testing.T) {
	expiresAt := start.Add(time.Hour)
	cases := []struct {
		name       string
		credential string
		now        time.Time
		// Expected key ID in blocking mode ("" when an error is expected)
		// and the blocking-mode error.
		wantID  string
		wantErr error
	}{
		{"missing", "", start, "", ErrMissing},
		{"unknown", "sk-unknown", start, "", ErrInvalid},
		{"prefix of a valid key", secretValid[:len(secretValid)-1], start, "", ErrInvalid},
		{"valid key plus a byte", secretValid + "x", start, "", ErrInvalid},
		{"valid", secretValid, start, "valid", nil},
		{"disabled", secretDisabled, start, "", ErrDisabled},
		{"not yet expired", secretExpiring, expiresAt.Add(-time.Nanosecond), "expiring", nil},
		{"expired exactly at ExpiresAt", secretExpiring, expiresAt, "", ErrExpired},
		{"expired after ExpiresAt", secretExpiring, expiresAt.Add(time.Hour), "", ErrExpired},
	}
	for _, mode := range []Mode{Blocking, Permissive} {
		for _, c := range cases {
			t.Run(mode.String()+"/"+c.name, func(t *testing.T) {
				clk := clock.NewFake(start)
				a := newAuth(t, mode, clk)
				clk.Set(c.now)
				var cred []byte
				if c.credential != "" {
					cred = []byte(c.credential)
				}
				p, err := a.Authenticate(cred)

				wantID, wantErr := c.wantID, c.wantErr
				if mode == Permissive && wantErr != nil {
					wantID, wantErr = "", nil // anonymous
				}
				if err != wantErr {
					t.Fatalf("Authenticate error = %v, want %v", err, wantErr)
				}
				if wantErr != nil {
					if p != nil {
						t.Errorf("Authenticate principal = %v, want nil with an error", p)
					}
					return
				}
				if p == nil {
					t.Fatalf("Authenticate principal = nil, want key %q", wantID)
				}
				if p.KeyID != wantID {
					t.Errorf("principal KeyID = %q, want %q", p.KeyID, wantID)
				}
				if got, want := p.Anonymous(), wantID == ""; got != want {
					t.Errorf("principal Anonymous() = %t, want %t", got, want)
				}
			})
		}
	}
}

func TestAuthenticatePrincipalFields(t *testing.T) {
	a := newAuth(t, Blocking, clock.NewFake(start))
	p, err := a.Authenticate([]byte(secretLimited))
	if err != nil {
		t.Fatalf("Authenticate error: %v", err)
	}
	if p.KeyID != "limited" || p.Name != "Limited" {
		t.Errorf("principal = {KeyID: %q, Name: %q}, want {limited, Limited}", p.KeyID, p.Name)
	}
	if !slices.Equal(p.Scopes, []string{"read"}) {
		t.Errorf("principal Scopes = %v, want [read]", p.Scopes)
	}
	if p.RatePerSecond != 2.5 || p.Burst != 5 {
		t.Errorf("principal rate = %v/s burst %d, want 2.5/s burst 5", p.RatePerSecond, p.Burst)
	}
	again, _ := a.Authenticate([]byte(secretLimited))
	if again != p {
		t.Errorf("second Authenticate returned a different principal; want the shared one")
	}
}

func TestNewCopiesKeySlices(t *testing.T) {
	keys := testKeys()
	a, err := New(Blocking, keys, clock.NewFake(start))
	if err != nil {
		t.Fatalf("New error: %v", err)
	}
	keys[3].Scopes[0] = "admin"
	keys[3].Models[0] = "other"
	p, _ := a.Authenticate([]byte(secretLimited))
	if p.HasScope("admin") || !p.HasScope("read") {
		t.Errorf("principal scopes follow the caller's slice after New: %v", p.Scopes)
	}
	if !p.Allows("llama-3.1-8b") || p.Allows("other") {
		t.Errorf("principal models follow the caller's slice after New")
	}
}

func TestAllowsAndHasScope(t *testing.T) {
	a := newAuth(t, Permissive, clock.NewFake(start))
	limited, _ := a.Authenticate([]byte(secretLimited))
	open, _ := a.Authenticate([]byte(secretValid))
	anon, _ := a.Authenticate(nil)
	var nilPrincipal *Principal

	cases := []struct {
		name  string
		p     *Principal
		model string
		scope string
		want  bool
	}{
		{"listed model", limited, "llama-3.1-8b", "", true},
		{"second listed model", limited, "gpt-4o-mini", "", true},
		{"unlisted model", limited, "llama-3.1-70b", "", false},
		{"model names are exact", limited, "LLAMA-3.1-8B", "", false},
		{"key without models allows all", open, "anything", "", true},
		{"anonymous allows all models", anon, "anything", "", true},
		{"nil principal allows all models", nilPrincipal, "anything", "", true},
		{"held scope", limited, "", "read", true},
		{"missing scope", limited, "", "write", false},
		{"key without scopes holds all", open, "", "admin", true},
		{"anonymous holds all scopes", anon, "", "write", true},
		{"nil principal holds all scopes", nilPrincipal, "", "write", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bool
			if c.scope != "" {
				got = c.p.HasScope(c.scope)
			} else {
				got = c.p.Allows(c.model)
			}
			if got != c.want {
				t.Errorf("got %t, want %t", got, c.want)
			}
		})
	}
}

func TestPrincipalString(t *testing.T) {
	a := newAuth(t, Permissive, clock.NewFake(start))
	valid, _ := a.Authenticate([]byte(secretValid))
	anon, _ := a.Authenticate(nil)
	var nilPrincipal *Principal
	for _, c := range []struct {
		p    *Principal
		want string
	}{{valid, "key valid"}, {anon, "anonymous"}, {nilPrincipal, "anonymous"}} {
		if got := c.p.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name    string
		mode    Mode
		keys    []Key
		wantMsg string // a substring of the error
	}{
		{"duplicate secret", Blocking, []Key{
			{Secret: "sk-same-secret", ID: "a", Enabled: true},
			{Secret: "sk-same-secret", ID: "b", Enabled: true},
		}, `keys "a" and "b" share the same secret`},
		{"duplicate secret on a disabled key", Blocking, []Key{
			{Secret: "sk-same-secret", ID: "a", Enabled: true},
			{Secret: "sk-same-secret", ID: "b", Enabled: false},
		}, `keys "a" and "b" share the same secret`},
		{"duplicate id", Blocking, []Key{
			{Secret: "sk-one", ID: "a", Enabled: true},
			{Secret: "sk-two", ID: "a", Enabled: true},
		}, `keys 0 and 1 share the id "a"`},
		{"missing id", Blocking, []Key{{Secret: "sk-one", Enabled: true}}, "key 0 has no id"},
		{"enabled key without secret", Blocking, []Key{{ID: "a", Enabled: true}}, `key "a" is enabled but has no secret`},
		{"unknown mode", Mode(9), nil, "unknown mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := New(c.mode, c.keys, clock.NewFake(start))
			if err == nil {
				t.Fatalf("New = %v, nil; want an error containing %q", a, c.wantMsg)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("New error = %q, want it to contain %q", err, c.wantMsg)
			}
			if strings.Contains(err.Error(), "sk-") {
				t.Errorf("New error %q contains a secret", err)
			}
		})
	}
}

func TestNewAcceptsDisabledKeyWithoutSecret(t *testing.T) {
	a, err := New(Blocking, []Key{{ID: "retired"}, {ID: "also-retired"}}, clock.NewFake(start))
	if err != nil {
		t.Fatalf("New error: %v", err)
	}
	if _, err := a.Authenticate([]byte("anything")); err != ErrInvalid {
		t.Errorf("Authenticate error = %v, want %v", err, ErrInvalid)
	}
}

func TestNewNilClockUsesRealClock(t *testing.T) {
	a, err := New(Blocking, []Key{{Secret: "sk-old", ID: "old", Enabled: true, ExpiresAt: time.Unix(1, 0)}}, nil)
	if err != nil {
		t.Fatalf("New error: %v", err)
	}
	if _, err := a.Authenticate([]byte("sk-old")); err != ErrExpired {
		t.Errorf("Authenticate of a key that expired in 1970 error = %v, want %v", err, ErrExpired)
	}
}

func TestMode(t *testing.T) {
	for _, m := range []Mode{Permissive, Blocking} {
		if got := newAuth(t, m, nil).Mode(); got != m {
			t.Errorf("Mode() = %v, want %v", got, m)
		}
	}
}

// TestConstantTimeLookup checks the structure of the lookup: keys are indexed
// by the SHA-256 digest of their secret (never by the secret itself), and a
// digest hit is confirmed by comparing the secrets, so that even a digest
// collision cannot authenticate a wrong credential.
func TestConstantTimeLookup(t *testing.T) {
	keys := testKeys()
	a := newAuth(t, Blocking, clock.NewFake(start))
	if got, want := len(a.byDigest), len(keys); got != want {
		t.Fatalf("indexed %d keys, want %d", got, want)
	}
	for _, k := range keys {
		e := a.byDigest[sha256.Sum256([]byte(k.Secret))]
		if e == nil {
			t.Fatalf("key %q is not indexed by the SHA-256 of its secret", k.ID)
		}
		if e.principal.KeyID != k.ID {
			t.Errorf("digest of key %q maps to key %q", k.ID, e.principal.KeyID)
		}
	}

	// Simulate a digest collision: a wrong credential whose digest finds the
	// entry of a valid key must still be refused by the secret comparison.
	wrong := []byte("sk-wrong-credential")
	a.byDigest[sha256.Sum256(wrong)] = a.byDigest[sha256.Sum256([]byte(secretValid))]
	if p, err := a.Authenticate(wrong); err != ErrInvalid {
		t.Errorf("Authenticate(colliding credential) = %v, %v; want nil, %v", p, err, ErrInvalid)
	}
}

// TestSecretsNeverFormatted formats every value and error this package returns
// or accepts with several verbs and checks that no secret appears.
func TestSecretsNeverFormatted(t *testing.T) {
	secrets := []string{secretValid, secretDisabled, secretExpiring, secretLimited, "sk-same-secret"}
	var values []any
	for _, mode := range []Mode{Permissive, Blocking} {
		clk := clock.NewFake(start)
		a := newAuth(t, mode, clk)
		values = append(values, a, *a, mode)
		for _, s := range append(secrets, "", "sk-unknown") {
			p, err := a.Authenticate([]byte(s))
			values = append(values, p, err)
			if p != nil {
				values = append(values, *p)
			}
		}
		clk.Advance(2 * time.Hour)
		p, err := a.Authenticate([]byte(secretExpiring))
		values = append(values, p, err)
	}
	_, dupErr := New(Blocking, []Key{
		{Secret: "sk-same-secret", ID: "a", Enabled: true},
		{Secret: "sk-same-secret", ID: "b", Enabled: true},
	}, nil)
	keys := testKeys()
	values = append(values, dupErr, keys, keys[0], &keys[0])

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for i, v := range values {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
					t.Errorf("value %d formatted with %s contains secret %q: %s", i, verb, s, out)
				}
			}
		}
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	errs := []error{ErrMissing, ErrInvalid, ErrDisabled, ErrExpired}
	for i, a := range errs {
		if msg := a.Error(); msg != strings.ToLower(msg[:1])+msg[1:] {
			t.Errorf("error %q does not start lowercase", msg)
		}
		for j, b := range errs {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = true, want false", a, b)
			}
		}
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	a, err := New(Blocking, testKeys(), clock.NewFake(start))
	if err != nil {
		b.Fatalf("New error: %v", err)
	}
	headers := map[string][]byte{HeaderAuthorization: []byte("Bearer " + secretValid)}
	get := func(name string) []byte { return headers[name] }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(Credential(get)); err != nil {
			b.Fatalf("Authenticate error: %v", err)
		}
	}
}
