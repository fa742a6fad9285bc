package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds nesting while validating, as encoding/json does.
const maxDepth = 10000

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Valid reports whether b is one well-formed JSON value (surrounding
// whitespace allowed). It agrees with encoding/json.Valid.
func Valid(b []byte) bool {
	s := scanner{b: b}
	s.ws()
	if s.value(0) != nil {
		return false
	}
	s.ws()
	return s.i == len(b)
}

// Member is one top-level member of a JSON object: its key (still escaped, as
// in the input) and the byte span of its value.
type Member struct {
	Key        []byte // raw key bytes between the quotes
	KeyEscaped bool   // whether Key contains escape sequences
	Start, End int    // value is b[Start:End]
}

// Members validates b as a JSON object and calls fn for each top-level
// member in order. It stops early, returning nil, if fn returns false. The
// whole document is validated only when fn never stops early.
func Members(b []byte, fn func(m Member) bool) error {
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		if s.i >= len(b) {
			return &SyntaxError{s.i, "empty body"}
		}
		return &SyntaxError{s.i, "expected a JSON object"}
	}
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		s.ws()
		ks, ke, esc, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(b) || b[s.i] != ':' {
			return s.errf("expected ':' after object key")
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(1); err != nil {
			return err
		}
		if !fn(Member{Key: b[ks+1 : ke-1], KeyEscaped: esc, Start: vs, End: s.i}) {
			return nil
		}
		s.ws()
		if s.i >= len(b) {
			return s.errf("unexpected end of object")
		}
		switch b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.end()
		default:
			return s.errf("expected ',' or '}' in object")
		}
	}
}

// Elements validates b as a JSON array and calls fn with the byte span of
// each element in order (the element is b[start:end]). It stops early,
// returning nil, if fn returns false.
func Elements(b []byte, fn func(start, end int) bool) error {
	s := scanner{b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '[' {
		return &SyntaxError{s.i, "expected a JSON array"}
	}
	s.i++
	s.ws()
	if s.i < len(b) && b[s.i] == ']' {
		s.i++
		return s.end()
	}
	for {
		s.ws()
		start := s.i
		if err := s.value(1); err != nil {
			return err
		}
		if !fn(start, s.i) {
			return nil
		}
		s.ws()
		if s.i >= len(b) {
			return s.errf("unexpected end of array")
		}
		switch b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return s.end()
		default:
			return s.errf("expected ',' or ']' in array")
		}
	}
}

// Unquote decodes a JSON string token (with its quotes).
func Unquote(tok []byte) (string, error) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return "", errors.New("not a JSON string")
	}
	return unquote(tok, bytes.IndexByte(tok, '\\') >= 0)
}

// KeyIs reports whether the member's key equals name (after unescaping).
func (m Member) KeyIs(name string) bool {
	if !m.KeyEscaped {
		return string(m.Key) == name
	}
	var k string
	if err := json.Unmarshal(append(append([]byte{'"'}, m.Key...), '"'), &k); err != nil {
		return false
	}
	return k == name
}

// MatchKey reports which of names the member's key matches the way Go's
// encoding/json matches an object key to a struct field: after unescaping,
// either exactly or under Unicode simple case folding (bytes.EqualFold, so
// "MODEL", "mod\u0065l" and "ſtream", with U+017F, all match). It returns the
// index of the first name matched, and whether the match is exact; -1 when
// none matches. Keys that are plain ASCII without escapes, as every real
// client sends them, are compared without allocating.
func (m Member) MatchKey(names []string) (index int, exact bool) {
	k := m.Key
	if !m.KeyEscaped && isASCII(k) {
		for i, n := range names {
			if len(k) == len(n) && asciiEqualFold(k, n) {
				return i, string(k) == n
			}
		}
		return -1, false
	}
	// Only U+017F and U+212A fold to ASCII letters; written as \uXXXX escapes
	// they take six bytes each. A longer key cannot match a name.
	longest := 0
	for _, n := range names {
		longest = max(longest, len(n))
	}
	if len(k) > 6*longest {
		return -1, false
	}
	var key string
	if err := json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key); err != nil {
		return -1, false
	}
	for i, n := range names {
		if strings.EqualFold(key, n) {
			return i, key == n
		}
	}
	return -1, false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiEqualFold compares a and b, of equal length and ASCII, ignoring case.
func asciiEqualFold(a []byte, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) errf(format string, args ...any) error {
	return &SyntaxError{Offset: s.i, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errf("unexpected data after the JSON value")
	}
	return nil
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) error {
	if depth > maxDepth {
		return s.errf("nesting too deep")
	}
	if s.i >= len(s.b) {
		return s.errf("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if _, _, _, err := s.str(); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return s.errf("expected ':' after object key")
			}
			s.i++
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.errf("unexpected end of object")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == '}' {
				s.i++
				return nil
			}
			return s.errf("expected ',' or '}' in object")
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.errf("unexpected end of array")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == ']' {
				s.i++
				return nil
			}
			return s.errf("expected ',' or ']' in array")
		}
	case c == '"':
		_, _, _, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return s.errf("unexpected character %q", c)
	}
}

func (s *scanner) lit(w string) error {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return s.errf("invalid literal")
	}
	s.i += len(w)
	return nil
}

func (s *scanner) number() error {
	b := s.b
	if b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(b) {
		return s.errf("invalid number")
	}
	if b[s.i] == '0' {
		s.i++
	} else if b[s.i] >= '1' && b[s.i] <= '9' {
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	} else {
		return s.errf("invalid number")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return s.errf("invalid number: no digits after '.'")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return s.errf("invalid number: no digits in exponent")
		}
	}
	return nil
}

// str scans a string starting at s.i (which must be '"') and returns the span
// including quotes and whether it contains escapes.
func (s *scanner) str() (start, end int, escaped bool, err error) {
	b := s.b
	if s.i >= len(b) || b[s.i] != '"' {
		return 0, 0, false, s.errf("expected a string")
	}
	start = s.i
	s.i++
	for s.i < len(b) {
		c := b[s.i]
		switch {
		case c == '"':
			s.i++
			return start, s.i, escaped, nil
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(b) {
				return 0, 0, false, s.errf("unexpected end of string")
			}
			switch b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(b)-s.i < 5 {
					return 0, 0, false, s.errf("invalid \\u escape")
				}
				for _, h := range b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return 0, 0, false, s.errf("invalid \\u escape")
					}
				}
				s.i += 5
			default:
				return 0, 0, false, s.errf("invalid escape")
			}
		case c < 0x20:
			return 0, 0, false, s.errf("control character in string")
		default:
			s.i++
		}
	}
	return 0, 0, false, s.errf("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// unquote decodes a JSON string token (with quotes). Strings without escapes
// and with valid UTF-8 are converted directly.
func unquote(tok []byte, escaped bool) (string, error) {
	if !escaped && utf8.Valid(tok) {
		return string(tok[1 : len(tok)-1]), nil
	}
	var v string
	if err := json.Unmarshal(tok, &v); err != nil {
		return "", err
	}
	return v, nil
}

// quote encodes s as a JSON string token.
func quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

var errNotBool = errors.New("not a boolean")

func parseBool(tok []byte) (bool, error) {
	switch string(tok) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, errNotBool
}
