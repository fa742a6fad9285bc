package config

import (
	"strings"
	"unicode"
)

// pathNameProblem says why s cannot name a backend or an API key, or ""
// when it can. Names are path segments of the admin API and the dashboard
// (/admin/backends/{name}, /admin/keys/{id}): a name with a slash or a
// backslash, a control character, or "." or "..", could be created but
// never managed.
func pathNameProblem(s string) string {
	switch {
	case s == "." || s == "..":
		return "must not be . or .."
	case strings.ContainsAny(s, `/\`):
		return `must not contain / or \`
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}
