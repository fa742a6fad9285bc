package resilience

import (
	"net/http"
	"strings"
	"time"
)

// ParseRetryAfter parses a Retry-After header value (RFC 9110 §10.2.3):
// either delta-seconds ("120") or an HTTP-date (IMF-fixdate, and the
// obsolete RFC 850 and asctime forms that http.ParseTime also accepts). It
// returns the delay from now, 0 when the date is already past, and
// ok=false when v is empty or malformed ("soon", "-5", "1.5", "+5"); callers
// then use their default. A delay too large for a time.Duration saturates at
// the largest one: callers cap it to what they are willing to wait.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		return parseDeltaSeconds(v), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDeltaSeconds converts a string of ASCII digits to seconds, saturating
// at the largest time.Duration.
func parseDeltaSeconds(s string) time.Duration {
	const limit = int64(maxDuration / time.Second)
	var secs int64
	for i := 0; i < len(s); i++ {
		secs = secs*10 + int64(s[i]-'0')
		if secs > limit {
			return maxDuration
		}
	}
	return time.Duration(secs) * time.Second
}
