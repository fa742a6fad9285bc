package metrics

import (
	"strconv"
	"sync"
	"testing"
	"unsafe"
)

func TestLabelSetAdmit(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		values []string // admitted in this order
		want   []string // recorded label for each
		wantOK []bool
	}{
		{
			name:   "under the cap",
			max:    3,
			values: []string{"a", "b", "a", "c"},
			want:   []string{"a", "b", "a", "c"},
			wantOK: []bool{true, true, true, true},
		},
		{
			name:   "beyond the cap",
			max:    2,
			values: []string{"a", "b", "c", "a", "d", "b"},
			want:   []string{"a", "b", "other", "a", "other", "b"},
			wantOK: []bool{true, true, false, true, false, true},
		},
		{
			name:   "empty is none and takes no slot",
			max:    1,
			values: []string{"", "none", "a", "", "b"},
			want:   []string{"none", "none", "a", "none", "other"},
			wantOK: []bool{true, true, true, true, false},
		},
		{
			name:   "other passes through and takes no slot",
			max:    1,
			values: []string{"other", "a", "other"},
			want:   []string{"other", "a", "other"},
			wantOK: []bool{true, true, true},
		},
		{
			name:   "invalid UTF-8 is other and takes no slot",
			max:    1,
			values: []string{"\xff\xfe", "a", "\xff\xfe"},
			want:   []string{"other", "a", "other"},
			wantOK: []bool{false, true, false},
		},
		{
			name:   "a rejected value stays rejected",
			max:    1,
			values: []string{"a", "b", "b", "b"},
			want:   []string{"a", "other", "other", "other"},
			wantOK: []bool{true, false, false, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLabelSet(tt.max)
			for i, v := range tt.values {
				got, ok := s.admit(v)
				if got != tt.want[i] || ok != tt.wantOK[i] {
					t.Errorf("admit(%q) #%d = %q, %v; want %q, %v", v, i, got, ok, tt.want[i], tt.wantOK[i])
				}
			}
			if n := s.len(); n > tt.max {
				t.Errorf("got %d values admitted, want at most %d", n, tt.max)
			}
		})
	}
}

func TestLabelSetReturnsItsOwnCopy(t *testing.T) {
	s := newLabelSet(10)
	buf := []byte("model-a")
	// A string sharing buf's bytes, as a zero-copy request parser would pass.
	v := unsafe.String(&buf[0], len(buf))
	label, _ := s.admit(v)
	copy(buf, "XXXXXXX") // the caller reuses its buffer
	if label != "model-a" {
		t.Errorf("got label %q after the caller's buffer changed, want model-a", label)
	}
	again, _ := s.admit("model-a")
	if unsafe.StringData(again) != unsafe.StringData(label) {
		t.Errorf("got a different copy on the second admit, want the set's one copy")
	}
}

func TestLabelSetConcurrent(t *testing.T) {
	const (
		max        = 50
		goroutines = 8
		perG       = 200
	)
	s := newLabelSet(max)
	var wg sync.WaitGroup
	admitted := make([]int, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if _, ok := s.admit(strconv.Itoa(g*perG + i)); ok {
					admitted[g]++
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range admitted {
		total += n
	}
	if total != max {
		t.Errorf("got %d distinct values admitted, want %d", total, max)
	}
	if got := s.len(); got != max {
		t.Errorf("got len %d, want %d", got, max)
	}
}

func TestStatusLabel(t *testing.T) {
	tests := []struct {
		status int
		want   string
		wantOK bool
	}{
		{200, "200", true},
		{100, "100", true},
		{599, "599", true},
		{99, "other", false},
		{600, "other", false},
		{0, "other", false},
		{-1, "other", false},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			got, ok := statusLabel(tt.status)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("statusLabel(%d) = %q, %v; want %q, %v", tt.status, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
