package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// templateFuncs returns the templates' helpers.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"ms":         fmtMS,
		"num":        fmtNum,
		"clock":      func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"date":       func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"datetime":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"short":      func(s string) string { return s[:min(len(s), 12)] },
		"compact":    compact,
		"pretty":     pretty,
		"meta":       meta,
		"join":       strings.Join,
		"pathseg":    url.PathEscape, // a name as one segment of a URL path
		"spark":      spark,
		"splitLines": func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") },
		"lineClass": func(l string) string {
			switch {
			case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
				return "hdr"
			case strings.HasPrefix(l, "@@"):
				return "hunk"
			case strings.HasPrefix(l, "+"):
				return "add"
			case strings.HasPrefix(l, "-"):
				return "del"
			}
			return ""
		},
		"latencies": func(s []Sample) []float64 { return series(s, func(x Sample) float64 { return msOf(x.Latency) }) },
		"ttfts":     func(s []Sample) []float64 { return series(s, func(x Sample) float64 { return msOf(x.TTFT) }) },
		"inflights": func(s []Sample) []float64 { return series(s, func(x Sample) float64 { return float64(x.InFlight) }) },
		"errorRate": func(u Usage) string {
			if u.Requests == 0 {
				return "–"
			}
			return strconv.FormatFloat(100*float64(u.Errors)/float64(u.Requests), 'f', 1, 64) + "%"
		},
	}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMS formats a duration in milliseconds, "–" for none.
func fmtMS(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	v := msOf(d)
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 2, 64) + " s"
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}

// fmtNum formats a count with thousands separators.
func fmtNum(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// compact renders metadata values as compact JSON.
func compact(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// pretty renders a metadata value for people: a list joined by commas, a
// mapping as "key value" pairs, anything else as compact JSON.
func pretty(v any) string {
	switch v := v.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = compact(x)
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " " + compact(v[k])
		}
		return strings.Join(parts, " · ")
	}
	return compact(v)
}

// meta returns a model's metadata value under the first key it has.
func meta(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

func series(s []Sample, f func(Sample) float64) []float64 {
	out := make([]float64, len(s))
	for i, x := range s {
		out[i] = f(x)
	}
	return out
}

// Sparkline geometry, in SVG user units.
const (
	sparkW = 120
	sparkH = 28
)

// spark draws values (oldest first) as an SVG polyline scaled to its
// maximum, with an accessible label holding the last value. It writes only
// numbers and fixed text, so the result is safe HTML.
func spark(label string, values []float64) template.HTML {
	var b strings.Builder
	last := 0.0
	if len(values) > 0 {
		last = values[len(values)-1]
	}
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="%s, last %.1f">`,
		sparkW, sparkH, template.HTMLEscapeString(label), last)
	if len(values) > 1 {
		peak := 0.0
		for _, v := range values {
			peak = max(peak, v)
		}
		if peak == 0 {
			peak = 1
		}
		b.WriteString(`<polyline fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" points="`)
		for i, v := range values {
			x := float64(i) * sparkW / float64(len(values)-1)
			y := sparkH - 2 - v/peak*(sparkH-4)
			fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
		}
		b.WriteString(`"/>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
