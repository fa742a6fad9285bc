package config

import (
	"errors"
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s with values from lookup
// and $$ with a literal $. A $ followed by anything else is kept as is.
// The default is itself expanded and is used when VAR is unset or empty.
// unset lists, in order, the variables referenced without a default that
// are not set; they expand to "". Errors do not quote s, which may be a
// secret: the caller adds it where it may.
func expand(s string, lookup func(string) (string, bool)) (out string, unset []string, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", nil, errors.New(`unterminated "${"`)
			}
			name, def, hasDef := strings.Cut(s[i+2:end], ":-")
			if !validVarName(name) {
				return "", nil, fmt.Errorf("invalid environment variable name %s", quote(name))
			}
			v, ok := lookup(name)
			switch {
			case ok && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				dv, u, err := expand(def, lookup)
				if err != nil {
					return "", nil, err
				}
				unset = append(unset, u...)
				b.WriteString(dv)
			default:
				unset = append(unset, name)
			}
			i = end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), unset, nil
}

// closingBrace returns the index of the "}" that closes a "${" whose body
// starts at from, counting nested braces; -1 if there is none.
func closingBrace(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// validVarName reports whether name is a shell-style variable name.
func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
