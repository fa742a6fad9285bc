package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/continuumhq/continuum/internal/openai"
)

// Authentication methods, as written in admin.auth.method.
const (
	// MethodBearer expects "Authorization: Bearer <Token>".
	MethodBearer = "bearer_token"
	// MethodBasic expects HTTP Basic authentication with Username and Password.
	MethodBasic = "basic"
	// MethodAPIKey expects "X-API-Key: <Token>".
	MethodAPIKey = "api_key"
	// MethodNone disables the admin API.
	MethodNone = "none"
)

// realm is the protection space named in WWW-Authenticate challenges.
const realm = `realm="continuum-admin"`

// Auth is the admin.auth block.
type Auth struct {
	// Method is MethodBearer, MethodBasic, MethodAPIKey or MethodNone. Any
	// other value, "" included, disables the admin API.
	Method string
	// Token is the bearer token (MethodBearer) or API key (MethodAPIKey).
	// Empty disables the admin API for those methods.
	Token string
	// Username is the basic-auth user name. Empty disables the admin API
	// for MethodBasic.
	Username string
	// Password is the basic-auth password. Empty disables the admin API for
	// MethodBasic.
	Password string
}

// disabledReason returns why a disabled configuration is disabled, worded for
// the operator, or "" when a is usable.
func (a Auth) disabledReason() string {
	const enable = "; to enable it, set admin.auth.method to bearer_token, basic or api_key " +
		"and give it a non-empty credential (admin.auth.token, or admin.auth.username and admin.auth.password)"
	switch a.Method {
	case MethodBearer, MethodAPIKey:
		if a.Token == "" {
			return "the admin API is disabled: admin.auth.method is " + a.Method + " but admin.auth.token is empty" + enable
		}
		return ""
	case MethodBasic:
		if a.Username == "" || a.Password == "" {
			return "the admin API is disabled: admin.auth.method is basic but admin.auth.username or admin.auth.password is empty" + enable
		}
		return ""
	case MethodNone:
		return "the admin API is disabled: admin.auth.method is none" + enable
	case "":
		return "the admin API is disabled: no admin authentication is configured" + enable
	default:
		return "the admin API is disabled: unknown admin.auth.method " + a.Method + enable
	}
}

// challenge returns the WWW-Authenticate value for the method.
func (a Auth) challenge() string {
	switch a.Method {
	case MethodBasic:
		return `Basic ` + realm + `, charset="UTF-8"`
	case MethodAPIKey:
		// No registered scheme exists for an API key header; this names it.
		return `ApiKey ` + realm + `, header="X-API-Key"`
	default:
		return `Bearer ` + realm
	}
}

// authenticate checks r's credentials against the current Auth. When they
// are missing, wrong, or the admin API is disabled, it writes the error
// response and returns false. It never logs a credential.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request) bool {
	var a Auth
	if h.auth != nil {
		a = h.auth()
	}
	if reason := a.disabledReason(); reason != "" {
		writeError(w, http.StatusForbidden, openai.NewError(openai.TypePermission, codeAdminDisabled, "", reason))
		return false
	}
	var present, valid bool
	switch a.Method {
	case MethodBearer:
		var token string
		token, present = bearerToken(r.Header.Get("Authorization"))
		valid = present && equal(token, a.Token)
	case MethodAPIKey:
		key := r.Header.Get("X-API-Key")
		present = key != ""
		valid = present && equal(key, a.Token)
	case MethodBasic:
		var user, pass string
		user, pass, present = r.BasicAuth()
		// Both comparisons always run, so timing does not tell which failed.
		userOK, passOK := equal(user, a.Username), equal(pass, a.Password)
		valid = present && userOK && passOK
	}
	if valid {
		return true
	}
	challenge := a.challenge()
	if present && a.Method == MethodBearer {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	var e openai.Error
	if present {
		h.log.Warn("admin: authentication failed", "method", a.Method, "remote", r.RemoteAddr, "path", r.URL.Path)
		e = openai.NewError(openai.TypeAuthentication, codeInvalidCredentials, "", "invalid admin credentials")
	} else {
		h.log.Debug("admin: credentials missing", "method", a.Method, "remote", r.RemoteAddr, "path", r.URL.Path)
		e = openai.NewError(openai.TypeAuthentication, codeMissingCredentials, "", missingMessage(a.Method))
	}
	writeError(w, http.StatusUnauthorized, e)
	return false
}

// missingMessage tells the caller how to send credentials for method.
func missingMessage(method string) string {
	switch method {
	case MethodBasic:
		return "admin credentials are required: use HTTP Basic authentication"
	case MethodAPIKey:
		return "admin credentials are required: send the header X-API-Key: <token>"
	default:
		return "admin credentials are required: send the header Authorization: Bearer <token>"
	}
}

// bearerToken returns the token of an "Authorization: Bearer <token>" value.
// The scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// equal compares got and want in constant time. Comparing SHA-256 digests
// rather than the strings themselves keeps the length of want from leaking.
func equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Authorized reports whether r carries a's credentials in its headers, as
// the Handler checks them: false when a disables the admin API. Other
// handlers behind the admin authentication (the dashboard) use it.
func Authorized(a Auth, r *http.Request) bool {
	if a.disabledReason() != "" {
		return false
	}
	switch a.Method {
	case MethodBearer:
		token, ok := bearerToken(r.Header.Get("Authorization"))
		return ok && equal(token, a.Token)
	case MethodAPIKey:
		key := r.Header.Get("X-API-Key")
		return key != "" && equal(key, a.Token)
	case MethodBasic:
		user, pass, ok := r.BasicAuth()
		userOK, passOK := equal(user, a.Username), equal(pass, a.Password)
		return ok && userOK && passOK
	}
	return false
}

// Secret returns the credential a login must match: the token, or for basic
// authentication "username:password"; "" when a disables the admin API.
func (a Auth) Secret() string {
	if a.disabledReason() != "" {
		return ""
	}
	if a.Method == MethodBasic {
		return a.Username + ":" + a.Password
	}
	return a.Token
}
