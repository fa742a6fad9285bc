package auth

import "bytes"

// Header names Credential reads, in order of precedence.
const (
	HeaderAuthorization = "Authorization" // "Bearer <key>", scheme case-insensitive
	HeaderXAPIKey       = "X-Api-Key"     // "<key>"
	HeaderAPIKey        = "Api-Key"       // "<key>", as Azure OpenAI clients send it
)

// Credential extracts the API key from request headers: "Authorization:
// Bearer <key>" (the scheme in any case), else "X-Api-Key: <key>", else
// "Api-Key: <key>" (Azure style). Surrounding spaces and tabs are trimmed. A
// header that is absent, empty or (for Authorization) not a Bearer
// credential is skipped. Credential returns nil when no key is found.
//
// get looks a header up by name and returns its value, nil when absent; with
// fasthttp it is ctx.Request.Header.Peek. The result aliases the value get
// returned; Credential does not allocate.
func Credential(get func(name string) []byte) []byte {
	if key := bearer(get(HeaderAuthorization)); len(key) > 0 {
		return key
	}
	if key := trim(get(HeaderXAPIKey)); len(key) > 0 {
		return key
	}
	if key := trim(get(HeaderAPIKey)); len(key) > 0 {
		return key
	}
	return nil
}

// bearer returns the token of a "Bearer <token>" value, nil otherwise.
func bearer(v []byte) []byte {
	const scheme = "bearer"
	v = trim(v)
	if len(v) <= len(scheme) || !bytes.EqualFold(v[:len(scheme)], []byte(scheme)) {
		return nil
	}
	if c := v[len(scheme)]; c != ' ' && c != '\t' {
		return nil
	}
	return trim(v[len(scheme)+1:])
}

func trim(v []byte) []byte { return bytes.Trim(v, " \t") }
