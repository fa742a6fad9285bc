package config

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/continuumhq/continuum/internal/mask"
)

// This file keeps secrets out of diagnostics. Problems are reported to
// terminals, logs and the admin API, so a message never quotes the value of
// a setting that holds a secret (see secretPath), nor a value that looks
// like a secret wherever it was written (an API key pasted where a URL, a
// model or a number belongs): such values are shown masked, as
// sk-…(51 chars, looks like a secret). URLs are shown with their user
// information and credential query parameters (password=, key=, …)
// replaced by **** (see mask.URL).

// secretPrefixes are the beginnings of well-known credential formats. The
// prefix is not secret, so a masked value shows it.
var secretPrefixes = []string{
	"sk-", "sk_", "pk_", "rk_", "sess-", "gsk_", "xai-", "pplx-", "nvapi-", "hf_", "r8_",
	"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-",
	"xoxb-", "xoxp-", "xoxa-", "xoxs-", "AKIA", "ASIA", "AIza", "eyJ",
}

// secretPath reports whether the setting at path holds a secret, so that
// no diagnostic may quote its value: API keys, tokens, passwords, rate
// limit bypass keys and the Redis URL. (Backend URLs may hold a password
// too; they are shown through mask.URL.)
func secretPath(path string) bool {
	if strings.HasPrefix(path, "rate_limiting.bypass_keys") || path == "rate_limiting.redis.url" {
		return true
	}
	last := path
	if i := strings.LastIndex(path, "."); i >= 0 {
		last = path[i+1:]
	}
	switch last {
	case "api_key", "key", "token", "password", "redis_url":
		return true
	}
	return false
}

// looksSecret reports whether v looks like a credential: it starts like a
// well-known key format, is a URL with a password, or is a long token whose
// characters switch between upper case, lower case and digits as often as
// random text does (model names, hostnames and UUIDs do not).
func looksSecret(v string) bool {
	v = strings.TrimSpace(v)
	for _, p := range secretPrefixes {
		if strings.HasPrefix(v, p) && len(v) >= len(p)+8 {
			return true
		}
	}
	if i, at := strings.Index(v, "://"), strings.LastIndex(v, "@"); i >= 0 && at > i {
		return true // a URL with user information
	}
	if len(v) < 20 {
		return false
	}
	const (
		other = iota
		upper
		lower
		digit
	)
	changes, prev := 0, other
	for _, c := range v {
		class := other
		switch {
		case 'A' <= c && c <= 'Z':
			class = upper
		case 'a' <= c && c <= 'z':
			class = lower
		case '0' <= c && c <= '9':
			class = digit
		case c == '-' || c == '_' || c == '+' || c == '/' || c == '=':
		default:
			return false // spaces, dots, colons: words, versions, hosts
		}
		if class != other && prev != other && class != prev {
			changes++
		}
		prev = class
	}
	return changes*10 >= len(v)*3
}

// quote returns v quoted for a diagnostic, or, when v looks like a secret,
// a masked form that shows only a well-known prefix and the length.
func quote(v string) string {
	if !looksSecret(v) {
		return strconv.Quote(v)
	}
	return masked(v)
}

// masked returns v's well-known prefix (if any), an ellipsis and v's length.
func masked(v string) string {
	prefix := ""
	for _, p := range secretPrefixes {
		if strings.HasPrefix(v, p) {
			prefix = p
			break
		}
	}
	return prefix + "…(" + strconv.Itoa(utf8.RuneCountInString(v)) + " chars, looks like a secret)"
}

// maskSecrets masks every word of msg that looks like a secret: the last
// line of defence for text quote did not see, such as a map key that is a
// secret and so part of a setting's path. A word is a run of letters,
// digits and - _ + / =.
func maskSecrets(msg string) string {
	isWord := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '+' || c == '/' || c == '='
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !isWord(msg[i]) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		j := i
		for j < len(msg) && isWord(msg[j]) {
			j++
		}
		if w := msg[i:j]; looksSecret(w) {
			b.WriteString(masked(w))
		} else {
			b.WriteString(w)
		}
		i = j
	}
	return b.String()
}

// quoteURL quotes a URL for a diagnostic with its credentials masked (see
// mask.URL), or masks it whole when it looks like a secret of another kind.
func quoteURL(raw string) string {
	if m := mask.URL(raw); m != raw {
		return strconv.Quote(m)
	}
	return quote(raw)
}

// BaseURL returns the backend's URL without its user information: the URL
// requests are sent to and the one the admin API shows. The user name and
// password of the URL are sent as HTTP basic authentication instead (see
// Backend.URL).
func (b *Backend) BaseURL() string {
	u, err := url.Parse(b.URL)
	if err != nil || u.User == nil {
		return b.URL
	}
	u.User = nil
	return u.String()
}

// hasUserinfo reports whether a URL carries a user name or password.
func hasUserinfo(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.User != nil
}
