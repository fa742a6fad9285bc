// Package mask hides the credentials a URL may carry before it is shown in
// an answer, a page, a log line or a diagnostic. It is the one place that
// knows where a URL keeps them: the user information (user:password@) and
// query parameters such as password=, token= or key= (Redis sentinel URLs,
// Gemini-style API keys, signed URLs).
package mask

import (
	"net/url"
	"strings"
)

// Value replaces every hidden credential.
const Value = "****"

// URL returns raw with its credentials replaced by Value: the whole user
// information, if any, and the value of every query (or fragment)
// parameter whose name is a credential's (see SecretParam). Everything
// else is kept as written, percent-encoding included.
//
// URL works on text that does not parse as a URL, since a malformed
// password is a common reason for that: the user information then ends at
// the last "@", and a parameter is any name=value that follows a "?", "&",
// ";" or "#".
func URL(raw string) string {
	s, rest := userinfo(raw)
	return s + params(rest)
}

// userinfo returns raw split after its masked user information, or "" and
// raw when it has none.
func userinfo(raw string) (head, rest string) {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	at := -1
	if _, err := url.Parse(raw); err == nil {
		// A well-formed URL: the user information is in the authority,
		// which ends at the first "/", "?" or "#"; an "@" after it (in a
		// query value, say) is not a delimiter.
		auth := raw[start:]
		if end := strings.IndexAny(auth, "/?#"); end >= 0 {
			auth = auth[:end]
		}
		if i := strings.LastIndex(auth, "@"); i >= 0 {
			at = start + i
		}
	} else if i := strings.LastIndex(raw, "@"); i >= start {
		at = i
	}
	if at < 0 {
		return "", raw
	}
	return raw[:start] + Value, raw[at:]
}

// params masks the value of every credential parameter in s: a name=value
// pair that follows "?", "&", ";" or "#", up to the next "&", ";" or "#".
func params(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		b.WriteByte(c)
		i++
		if c != '?' && c != '&' && c != ';' && c != '#' {
			continue
		}
		end := i + strings.IndexAny(s[i:], "&;#")
		if end < i {
			end = len(s)
		}
		name, _, ok := strings.Cut(s[i:end], "=")
		if !ok || !SecretParam(name) || len(name)+1 == end-i {
			continue // not a pair, not a secret or an empty value: kept
		}
		b.WriteString(name + "=" + Value)
		i = end
	}
	return b.String()
}

// SecretParam reports whether a query parameter named name (percent-encoded
// or not, in any case) holds a credential: password, sentinel_password,
// pass, pwd, token, access_token, key, api_key, apikey, secret, sig,
// signature and the like, and any name that ends in _password, _token,
// _secret or _key. User names are not secret.
func SecretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	name = strings.ToLower(strings.TrimSpace(name))
	switch name {
	case "password", "passwd", "pass", "pwd", "sentinel_password",
		"token", "access_token", "refresh_token", "id_token", "auth",
		"key", "api_key", "apikey", "api-key", "secret", "client_secret", "sig", "signature",
		"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential":
		return true
	}
	for _, suffix := range []string{"_password", "_token", "_secret", "_key", "-token", "-key"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
