package resilience

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		name   string
		v      string
		want   time.Duration
		wantOK bool
	}{
		{"seconds", "120", 120 * time.Second, true},
		{"zero seconds", "0", 0, true},
		{"leading zeros", "007", 7 * time.Second, true},
		{"surrounding spaces", " 60 ", time.Minute, true},
		{"IMF date in the future", "Wed, 01 Jan 2025 00:02:00 GMT", 2 * time.Minute, true},
		{"IMF date in the past", "Tue, 31 Dec 2024 23:00:00 GMT", 0, true},
		{"IMF date now", "Wed, 01 Jan 2025 00:00:00 GMT", 0, true},
		{"RFC 850 date", "Wednesday, 01-Jan-25 00:01:00 GMT", time.Minute, true},
		{"asctime date", "Wed Jan  1 00:00:30 2025", 30 * time.Second, true},
		{"huge seconds saturate", "99999999999999999999999", maxDuration, true},
		{"seconds just beyond a Duration saturate", "9223372037", maxDuration, true},
		{"largest whole seconds", "9223372036", 9223372036 * time.Second, true},
		{"word", "soon", 0, false},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"plus sign", "+5", 0, false},
		{"digits then letters", "12abc", 0, false},
		{"empty", "", 0, false},
		{"only spaces", "   ", 0, false},
		{"date without zone", "Wed, 01 Jan 2025 00:02:00", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.v, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q): got %v, %v; want %v, %v", tt.v, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
