package upstream

import (
	"bytes"
	"strings"
)

// hopByHop lists the header fields that apply to one connection only
// (RFC 9110 §7.6.1), as net/http/httputil strips them.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// routerOwned lists request fields the router sets or must not pass on:
// the client's credentials are for the router, not the backend; the router
// asks backends for identity encoding so it can read streams; and it sets
// its own request id, length and host.
var routerOwned = [...]string{
	"Host", "Content-Length", "Authorization", "X-Api-Key", "Api-Key",
	"Accept-Encoding", "Expect", "X-Request-Id", "Content-Type", "X-Forwarded-For",
	"OpenAI-Organization",
}

// Forwardable reports whether a client request header field may be passed
// on to a backend.
func Forwardable(name []byte) bool {
	for _, h := range hopByHop {
		if equalFold(name, h) {
			return false
		}
	}
	for _, h := range routerOwned {
		if equalFold(name, h) {
			return false
		}
	}
	return true
}

// responseOwned lists response fields the router sets itself.
var responseOwned = [...]string{"Content-Length", "Date", "Server", "X-Request-Id", "Content-Encoding"}

// ReturnableHeader reports whether a backend response header field may be
// passed on to the client.
func ReturnableHeader(name string) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(name, h) {
			return false
		}
	}
	for _, h := range responseOwned {
		if strings.EqualFold(name, h) {
			return false
		}
	}
	return true
}

// equalFold is strings.EqualFold for a byte slice and an ASCII string, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if c == d {
			continue
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v contains token (case-insensitive).
func hasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// listed reports whether name appears in a Connection header's token list.
func listed(conn []byte, name []byte) bool {
	for len(conn) > 0 {
		i := 0
		for i < len(conn) && conn[i] != ',' {
			i++
		}
		t := strings.TrimSpace(string(conn[:i]))
		if t != "" && equalFold(name, t) {
			return true
		}
		if i == len(conn) {
			break
		}
		conn = conn[i+1:]
	}
	return false
}

// nextField splits the first "Name: value" line off a raw header block
// (CRLF or LF terminated). ok is false for a line that is not a field.
func nextField(raw []byte) (name, value, rest []byte, ok bool) {
	line := raw
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		line, rest = raw[:i], raw[i+1:]
	}
	line = bytes.TrimRight(line, "\r")
	c := bytes.IndexByte(line, ':')
	if c <= 0 {
		return nil, nil, rest, false
	}
	return bytes.TrimSpace(line[:c]), bytes.TrimSpace(line[c+1:]), rest, true
}

// eachField calls fn for each field of a raw header block.
func eachField(raw []byte, fn func(name, value []byte)) {
	for len(raw) > 0 {
		name, value, rest, ok := nextField(raw)
		if ok {
			fn(name, value)
		}
		raw = rest
	}
}

// connectionTokens returns the value of the Connection field of a raw header block.
func connectionTokens(raw []byte) []byte {
	var v []byte
	for len(raw) > 0 {
		name, value, rest, ok := nextField(raw)
		if ok && equalFold(name, "Connection") {
			v = value
		}
		raw = rest
	}
	return v
}

// hasField reports whether h has a field named name.
func (h Header) hasField(name []byte) bool {
	for _, f := range h {
		if equalFold(name, f.Name) {
			return true
		}
	}
	return false
}
