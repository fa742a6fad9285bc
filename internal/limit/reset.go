package limit

import "time"

// FormatReset formats a duration as OpenAI does in the
// x-ratelimit-reset-requests header: Go duration syntax at millisecond
// precision ("1s", "6m0s", "120ms", "1m30.034s"). It rounds up to the next
// millisecond, so a client that waits that long finds the bucket refilled;
// zero and negative durations are "0s".
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return d.String()
}
