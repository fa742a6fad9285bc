package resilience

import "testing"

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Success, "success"},
		{Failure, "failure"},
		{Capacity, "capacity"},
		{Ignored, "ignored"},
		{Outcome(9), "Outcome(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status        int
		hasRetryAfter bool
		want          Outcome
	}{
		{200, false, Success},
		{201, false, Success},
		{204, true, Success},
		{429, false, Capacity},
		{429, true, Capacity},
		{503, true, Capacity},
		{503, false, Failure},
		{500, false, Failure},
		{500, true, Failure},
		{502, false, Failure},
		{504, false, Failure},
		{599, false, Failure},
		{408, false, Failure},
		{400, false, Ignored},
		{401, false, Ignored},
		{403, false, Ignored},
		{404, false, Ignored},
		{413, false, Ignored},
		{422, false, Ignored},
		{499, false, Ignored},
		{100, false, Failure},
		{302, false, Failure},
		{0, false, Failure},
		{600, false, Failure},
	}
	for _, tt := range tests {
		name := tt.want.String()
		if tt.hasRetryAfter {
			name += "/retry-after"
		}
		t.Run(name, func(t *testing.T) {
			if got := ClassifyStatus(tt.status, tt.hasRetryAfter); got != tt.want {
				t.Errorf("ClassifyStatus(%d, %v): got %v, want %v", tt.status, tt.hasRetryAfter, got, tt.want)
			}
		})
	}
}
