package limit

import (
	"testing"
	"time"
)

func TestFormatReset(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{time.Nanosecond, "1ms"},
		{999 * time.Microsecond, "1ms"},
		{time.Millisecond, "1ms"},
		{time.Millisecond + time.Nanosecond, "2ms"},
		{120 * time.Millisecond, "120ms"},
		{time.Second, "1s"},
		{1500 * time.Millisecond, "1.5s"},
		{6 * time.Minute, "6m0s"},
		{90*time.Second + 34*time.Millisecond, "1m30.034s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h2m3s"},
	}
	for _, c := range cases {
		if got := FormatReset(c.in); got != c.want {
			t.Errorf("FormatReset(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
