// Package textdiff computes line diffs of small texts, such as two versions
// of a configuration file, in the unified format of diff -u.
//
// It finds a longest common subsequence of lines by dynamic programming:
// quadratic in time and memory, which is nothing for configuration files (a
// few hundred lines) and keeps the code short enough to check by eye. Texts
// longer than MaxLines lines in total are compared as whole blocks instead.
package textdiff

import (
	"fmt"
	"strings"
)

// MaxLines bounds the lines Unified compares line by line (both texts
// together); beyond it the texts are shown as one removed and one added
// block.
const MaxLines = 20000

// context is how many unchanged lines surround each change.
const context = 3

// op is one line of an edit script.
type op struct {
	kind byte // ' ', '-' or '+'
	text string
	a, b int // line numbers (0-based) in the old and new text
}

// Unified returns the unified diff of a (labelled from) and b (labelled to),
// with three lines of context; "" when they are equal.
func Unified(from, to, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := lines(a), lines(b)
	ops := script(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", from, to)
	for i := 0; i < len(ops); {
		// Find the next change.
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(i-context, 0)
		end := i
		// Extend the hunk while changes are within 2*context lines.
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		stop := min(end+context+1, len(ops))
		hunk := ops[start:stop]
		aStart, bStart, aLen, bLen := hunk[0].a, hunk[0].b, 0, 0
		for _, o := range hunk {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", span(aStart, aLen), span(bStart, bLen))
		for _, o := range hunk {
			out.WriteByte(o.kind)
			out.WriteString(o.text)
			out.WriteByte('\n')
		}
		i = stop
	}
	return out.String()
}

// span formats a hunk range as diff -u does: "start,len", 1-based, with the
// start of an empty range being the line before it.
func span(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// script returns the edit script turning a into b.
func script(a, b []string) []op {
	n, m := len(a), len(b)
	var ops []op
	if n+m > MaxLines {
		for i, l := range a {
			ops = append(ops, op{'-', l, i, 0})
		}
		for j, l := range b {
			ops = append(ops, op{'+', l, n, j})
		}
		return ops
	}
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			// Removals come before additions, as in diff -u.
			ops = append(ops, op{'-', a[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', b[j], i, j})
			j++
		}
	}
	return ops
}
