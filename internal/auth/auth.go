// Package auth turns the API key a client presents into a Principal: who is
// calling, which models it may use, which scopes it holds and its own rate
// limit.
//
// Keys are looked up by the SHA-256 digest of the presented credential and
// then confirmed with a constant-time comparison, so the time an attempt takes
// does not depend on how much of a real key it matches. Secrets never appear
// in errors, in String output or in any formatted value of this package.
//
// An Authenticator is immutable once built and safe for concurrent use; a
// configuration reload builds a new one.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Mode says what happens to requests without a valid key.
type Mode int

// Modes. Their String values equal the YAML values of api_keys.mode.
const (
	// Permissive lets every request through: a valid key yields its
	// principal, anything else the anonymous principal.
	Permissive Mode = iota
	// Blocking refuses every request without a valid, enabled, unexpired key.
	Blocking
)

// String returns the mode's YAML value.
func (m Mode) String() string {
	switch m {
	case Permissive:
		return "permissive"
	case Blocking:
		return "blocking"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "permissive" or "blocking", ignoring case and surrounding
// spaces.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "permissive":
		return Permissive, nil
	case "blocking":
		return Blocking, nil
	}
	return 0, fmt.Errorf("parse auth mode %q: want permissive or blocking", s)
}

// Errors returned by Authenticate in Blocking mode. Their messages are meant
// for clients (the listener maps them to 401 authentication_error) and never
// contain the credential.
var (
	ErrMissing  = errors.New("missing api key: send it as \"Authorization: Bearer <key>\" or \"X-Api-Key: <key>\"")
	ErrInvalid  = errors.New("invalid api key")
	ErrDisabled = errors.New("api key is disabled")
	ErrExpired  = errors.New("api key has expired")
)

// Key is one configured client key.
//
// Formatting a Key with any fmt verb prints its ID and name, never Secret.
type Key struct {
	// Secret is the key value clients send. It is required unless Enabled is
	// false (a disabled key without a secret can never match anything).
	Secret string
	// ID identifies the key in logs, metrics and rate limits; it is required
	// and unique. Never log Secret: log ID.
	ID string
	// Name is a human-readable label. Default "".
	Name string
	// Scopes lists what the key may do (read, write, files, admin). Default
	// empty: every scope.
	Scopes []string
	// Models lists the models the key may use. Default empty: every model.
	Models []string
	// Enabled: a disabled key is refused. The zero value false means
	// disabled, so callers converting configuration must set it.
	Enabled bool
	// ExpiresAt is the first instant at which the key no longer works.
	// Default zero: never expires.
	ExpiresAt time.Time
	// RatePerSecond is the key's own sustained request rate. Default 0: the
	// key has no rate of its own and the limiter's per-key default applies.
	RatePerSecond float64
	// Burst is the key's bucket size. Default 0: the limiter derives it from
	// RatePerSecond.
	Burst int
}

// String describes the key without its secret.
func (k Key) String() string {
	return fmt.Sprintf("auth.Key{ID: %q, Name: %q, Enabled: %t, Secret: [redacted]}", k.ID, k.Name, k.Enabled)
}

// Format writes String for every verb, so that %v, %+v, %#v, %s, %q and %x
// all keep the secret out of the output.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// Principal is the identity behind a request. Principals returned by
// Authenticate are shared between requests and must not be modified.
type Principal struct {
	// KeyID is the ID of the key that authenticated the request, "" for the
	// anonymous principal.
	KeyID string
	// Name is the key's human-readable label.
	Name string
	// Scopes are the key's scopes; empty means every scope.
	Scopes []string
	// RatePerSecond is the key's own rate limit; 0 means none of its own.
	RatePerSecond float64
	// Burst is the key's own bucket size; 0 means derived from RatePerSecond.
	Burst int

	models map[string]struct{} // allowed models; nil means all
}

// Anonymous reports whether p stands for a request without a valid key. A nil
// principal is anonymous.
func (p *Principal) Anonymous() bool { return p == nil || p.KeyID == "" }

// Allows reports whether p may use model. A nil principal, and a key without
// a model list, may use every model.
func (p *Principal) Allows(model string) bool {
	if p == nil || p.models == nil {
		return true
	}
	_, ok := p.models[model]
	return ok
}

// HasScope reports whether p holds scope s. A nil principal, and a key
// without configured scopes, hold every scope.
func (p *Principal) HasScope(s string) bool {
	if p == nil || len(p.Scopes) == 0 {
		return true
	}
	return slices.Contains(p.Scopes, s)
}

// String returns "anonymous" or "key <id>", suitable for logs.
func (p *Principal) String() string {
	if p.Anonymous() {
		return "anonymous"
	}
	return "key " + p.KeyID
}

// entry is one indexed key.
type entry struct {
	secret    []byte
	enabled   bool
	expiresAt time.Time
	principal *Principal
}

// Authenticator checks credentials against a fixed set of keys. It is safe
// for concurrent use. Formatting it prints its mode and key count only.
type Authenticator struct {
	mode      Mode
	clock     clock.Clock
	byDigest  map[[sha256.Size]byte]*entry
	keys      int
	anonymous *Principal
}

// New indexes keys for mode. A nil clk means clock.Real(). It fails when a
// key has no ID, when an enabled key has no secret, or when two keys share a
// secret or an ID; the error names the keys by ID, never by secret.
func New(mode Mode, keys []Key, clk clock.Clock) (*Authenticator, error) {
	if mode != Permissive && mode != Blocking {
		return nil, fmt.Errorf("new authenticator: unknown mode %v", mode)
	}
	if clk == nil {
		clk = clock.Real()
	}
	a := &Authenticator{
		mode:      mode,
		clock:     clk,
		byDigest:  make(map[[sha256.Size]byte]*entry, len(keys)),
		keys:      len(keys),
		anonymous: &Principal{},
	}
	ids := make(map[string]int, len(keys))
	for i, k := range keys {
		if k.ID == "" {
			return nil, fmt.Errorf("new authenticator: key %d has no id", i)
		}
		if j, dup := ids[k.ID]; dup {
			return nil, fmt.Errorf("new authenticator: keys %d and %d share the id %q", j, i, k.ID)
		}
		ids[k.ID] = i
		if k.Secret == "" {
			if k.Enabled {
				return nil, fmt.Errorf("new authenticator: key %q is enabled but has no secret", k.ID)
			}
			continue
		}
		digest := sha256.Sum256([]byte(k.Secret))
		if other, dup := a.byDigest[digest]; dup {
			return nil, fmt.Errorf("new authenticator: keys %q and %q share the same secret", other.principal.KeyID, k.ID)
		}
		a.byDigest[digest] = &entry{
			secret:    []byte(k.Secret),
			enabled:   k.Enabled,
			expiresAt: k.ExpiresAt,
			principal: newPrincipal(k),
		}
	}
	return a, nil
}

func newPrincipal(k Key) *Principal {
	p := &Principal{
		KeyID:         k.ID,
		Name:          k.Name,
		Scopes:        slices.Clone(k.Scopes),
		RatePerSecond: k.RatePerSecond,
		Burst:         k.Burst,
	}
	if len(k.Models) > 0 {
		p.models = make(map[string]struct{}, len(k.Models))
		for _, m := range k.Models {
			p.models[m] = struct{}{}
		}
	}
	return p
}

// Mode returns the mode the authenticator was built with.
func (a *Authenticator) Mode() Mode { return a.mode }

// Authenticate checks the credential taken from the request (see Credential).
//
// In Blocking mode a missing, unknown, disabled or expired key is an error:
// ErrMissing, ErrInvalid, ErrDisabled or ErrExpired, returned unwrapped with
// a nil principal. A key expires at ExpiresAt exactly, by the injected clock.
//
// In Permissive mode a valid key yields its principal, and anything else
// (missing, unknown, disabled, expired) yields the anonymous principal and a
// nil error.
//
// The returned principal is shared and must not be modified. Authenticate
// does not allocate.
func (a *Authenticator) Authenticate(credential []byte) (*Principal, error) {
	p, err := a.check(credential)
	if err != nil && a.mode == Permissive {
		return a.anonymous, nil
	}
	return p, err
}

func (a *Authenticator) check(credential []byte) (*Principal, error) {
	if len(credential) == 0 {
		return nil, ErrMissing
	}
	e := a.byDigest[sha256.Sum256(credential)]
	if e == nil || subtle.ConstantTimeCompare(e.secret, credential) != 1 {
		return nil, ErrInvalid
	}
	if !e.enabled {
		return nil, ErrDisabled
	}
	if !e.expiresAt.IsZero() && !a.clock.Now().Before(e.expiresAt) {
		return nil, ErrExpired
	}
	return e.principal, nil
}

// String describes the authenticator without any secret.
func (a *Authenticator) String() string {
	return fmt.Sprintf("auth.Authenticator{mode: %v, keys: %d}", a.mode, a.keys)
}

// Format writes String for every verb, so that no verb (not even %#v) can
// print the indexed secrets.
func (a *Authenticator) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }
