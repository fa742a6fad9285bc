package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Diagnostic is one problem (an error or a warning) found in a configuration.
type Diagnostic struct {
	// File is the file the problem is in; "" when unknown.
	File string
	// Line and Col locate the offending key or value, counting from 1;
	// 0 when unknown.
	Line, Col int
	// Path is the dotted path of the offending setting, such as
	// "backends[1].url"; "" for problems with the document as a whole.
	// It is for programs: Msg already names the setting where that helps.
	Path string
	// Msg is the complete human-readable message, without the location.
	Msg string
}

// String returns "file:line:col: msg", leaving out the parts of the location
// that are unknown.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		b.WriteByte(':')
	}
	if d.Line > 0 {
		b.WriteString(strconv.Itoa(d.Line))
		b.WriteByte(':')
		if d.Col > 0 {
			b.WriteString(strconv.Itoa(d.Col))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(d.Msg)
	return b.String()
}

// ErrorList is the error returned by Parse, Load and Validate: every problem
// found, sorted by file and line.
type ErrorList []Diagnostic

// Error returns one diagnostic per line.
func (e ErrorList) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// sortDiagnostics orders ds by file (in order of first appearance, so the
// main configuration file comes before files it refers to), then by line and
// column. Diagnostics at the same place keep their order.
func sortDiagnostics(ds []Diagnostic) {
	rank := map[string]int{}
	for _, d := range ds {
		if _, ok := rank[d.File]; !ok {
			rank[d.File] = len(rank)
		}
	}
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(rank[a.File], rank[b.File]),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
}

// suggest returns the candidate closest to word, or "" when none is close
// enough to be a likely typo: the edit distance (with transpositions) must be
// at most max(2, len(word)/3). Ties go to the candidate listed first. When no
// candidate is that close, the only candidate word is a prefix of (such as
// "bearer" for "bearer_token") is suggested.
func suggest(word string, candidates []string) string {
	word = strings.ToLower(word)
	best, bestDist := "", max(2, len(word)/3)+1
	var prefixOf []string
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if d := editDistance(word, lc); d < bestDist {
			best, bestDist = c, d
		}
		if len(word) >= 3 && strings.HasPrefix(lc, word) {
			prefixOf = append(prefixOf, c)
		}
	}
	if best == "" && len(prefixOf) == 1 {
		return prefixOf[0]
	}
	return best
}

// didYouMean returns ` (did you mean "x"?)` for the closest candidate, or
// the list of valid values when none is close.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return "; valid: " + strings.Join(candidates, ", ")
}

// editDistance is the optimal-string-alignment distance between a and b: the
// Levenshtein distance where swapping two adjacent characters costs 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: two back, previous and current.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
