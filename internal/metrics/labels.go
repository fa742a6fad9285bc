package metrics

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Reserved label values.
const (
	// labelNone stands for an empty value: a request that was not routed has
	// model "none", one that no backend served has backend "none".
	labelNone = "none"
	// labelOther stands for every value beyond a label's cap, for a status
	// outside 100..599, and for a value that is not valid UTF-8.
	labelOther = "other"
)

// labelSet bounds the cardinality of one label: it admits at most max
// distinct values, and every later new value reads "other". It is safe for
// concurrent use; a value already admitted costs one read-locked map lookup.
//
// The reserved values "none" (also given for "") and "other" pass through
// without taking a slot.
type labelSet struct {
	max int

	mu   sync.RWMutex
	seen map[string]string // value → its own copy, returned to callers
}

// newLabelSet returns a labelSet that admits max distinct values.
func newLabelSet(max int) *labelSet {
	return &labelSet{max: max, seen: make(map[string]string)}
}

// value returns the label value recorded for v.
func (s *labelSet) value(v string) string {
	label, _ := s.admit(v)
	return label
}

// admit returns the label value recorded for v, and whether that value is v
// itself (or "none" for an empty v). It is false when v was replaced by
// "other" because the cap was reached or v is not valid UTF-8.
//
// The label returned is the set's own copy of v, never v itself, so a caller
// may pass a string whose bytes it later reuses.
func (s *labelSet) admit(v string) (label string, admitted bool) {
	switch v {
	case "", labelNone:
		return labelNone, true
	case labelOther:
		return labelOther, true
	}
	s.mu.RLock()
	label, ok := s.seen[v]
	s.mu.RUnlock()
	if ok {
		return label, true
	}
	return s.admitSlow(v)
}

func (s *labelSet) admitSlow(v string) (string, bool) {
	if !utf8.ValidString(v) {
		// Prometheus rejects such label values (WithLabelValues panics).
		return labelOther, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if label, ok := s.seen[v]; ok {
		return label, true
	}
	if len(s.seen) >= s.max {
		return labelOther, false
	}
	// Clone so that the set neither pins a larger buffer v points into nor
	// sees its bytes change if the caller reuses that buffer.
	label := strings.Clone(v)
	s.seen[label] = label
	return label, true
}

// len returns the number of distinct values admitted so far.
func (s *labelSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.seen)
}

// statusLabel returns the label value for an HTTP status: the number for
// 100..599, "other" (and ok false) for anything else.
func statusLabel(status int) (label string, ok bool) {
	if status < 100 || status > 599 {
		return labelOther, false
	}
	return strconv.Itoa(status), true
}
