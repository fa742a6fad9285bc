package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WriteHTML writes r as one self-contained XHTML-compatible page (it parses
// as XML): the summary table, a latency histogram on a logarithmic axis with
// the p50, p90 and p99 marked, the successes, errors and drops of every
// second, and the mean latency of every second, drawn as inline SVG with no
// script and no external asset.
func (r *Result) WriteHTML(w io.Writer) error {
	page := htmlPage{
		Title:   "continuum bench: " + r.Target,
		Summary: r.summaryRows(),
		Dists:   r.distRows(),
		Latency: latencyChart("Latency of successful requests (from intended send)", "latency", &r.Latency),
		Series:  seriesChart(r.fullSeconds()),
		Mean:    meanLatencyChart(r.fullSeconds()),
	}
	for _, kind := range slices.Sorted(maps.Keys(r.Errors)) {
		page.Errors = append(page.Errors, [2]string{kind, strconv.FormatInt(r.Errors[kind], 10)})
	}
	for _, status := range slices.Sorted(maps.Keys(r.Statuses)) {
		page.Statuses = append(page.Statuses, [2]string{strconv.Itoa(status), strconv.FormatInt(r.Statuses[status], 10)})
	}
	if r.TTFT != nil && r.TTFT.Count > 0 {
		page.TTFT = latencyChart("Time to first token of successful streams", "time to first token", r.TTFT)
	}
	var buf bytes.Buffer
	if err := pageTemplate().Execute(&buf, page); err != nil {
		return fmt.Errorf("render html result: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write html result: %w", err)
	}
	return nil
}

type htmlPage struct {
	Title            string
	Summary          [][2]string
	Dists            [][]string
	Errors, Statuses [][2]string
	Latency, TTFT    *chart
	Series, Mean     *chart
}

// fullSeconds returns the time series without its last second when that
// one is partial (Elapsed ends inside it), so that the charts do not show
// a drop that is only a shorter second. A one-second series is kept.
func (r *Result) fullSeconds() []Second {
	s := r.Series
	if n := len(s); n > 1 && time.Duration(n)*time.Second > r.Elapsed {
		s = s[:n-1]
	}
	return s
}

// summaryRows returns the totals as label/value pairs.
func (r *Result) summaryRows() [][2]string {
	t := &r.Totals
	rows := [][2]string{
		{"target", r.Target},
		{"model", r.Config.Model},
		{"mode", r.describeMode()},
		{"stream", strconv.FormatBool(r.Config.Stream)},
		{"start", r.Start.Format(time.RFC3339)},
		{"elapsed", fmt.Sprintf("%.3f s", r.Elapsed.Seconds())},
		{"requests", strconv.FormatInt(t.Requests, 10)},
		{"succeeded", strconv.FormatInt(t.Succeeded, 10)},
		{"failed", strconv.FormatInt(t.Failed, 10)},
		{"dropped", strconv.FormatInt(t.Dropped, 10)},
		{"cancelled", strconv.FormatInt(t.Cancelled, 10)},
		{"warm-up requests", strconv.FormatInt(t.Warmup, 10)},
		{"success rate", fmt.Sprintf("%.2f %%", 100*t.SuccessRate)},
		{"throughput", fmt.Sprintf("%.2f req/s", t.Throughput)},
		{"send rate", fmt.Sprintf("%.2f req/s", t.SendRate)},
		{"output tokens", strconv.FormatInt(t.OutputTokens, 10)},
		{"output tokens/s", fmt.Sprintf("%.2f", t.OutputTokensPerSecond)},
	}
	if r.Interrupted {
		rows = append(rows, [2]string{"interrupted", "true"})
	}
	return rows
}

// distRows returns the percentile table, one row per distribution.
func (r *Result) distRows() [][]string {
	row := func(name string, d *Distribution) []string {
		return []string{name, strconv.FormatInt(d.Count, 10), ms(d.Mean), ms(d.Quantile(0.5)), ms(d.Quantile(0.9)),
			ms(d.Quantile(0.99)), ms(d.Quantile(0.999)), ms(d.Min), ms(d.Max)}
	}
	rows := [][]string{row("latency", &r.Latency), row("service time", &r.ServiceTime)}
	if r.TTFT != nil {
		rows = append(rows, row("time to first token", r.TTFT))
	}
	if r.ITL != nil {
		rows = append(rows, row("inter-token latency", r.ITL))
	}
	return rows
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 760
	chartHeight = 280
	plotLeft    = 64
	plotRight   = 16
	plotTop     = 16
	plotBottom  = 44
	plotWidth   = chartWidth - plotLeft - plotRight
	plotHeight  = chartHeight - plotTop - plotBottom
)

// chart is one SVG chart with its coordinates computed.
type chart struct {
	Title   string
	XLabel  string
	YLabel  string
	Empty   string // shown instead of data when there is none
	Bars    []bar
	Lines   []line
	XTicks  []tick
	YTicks  []tick
	Markers []marker
	Points  []point
	Legend  []legend
}

type legend struct {
	Class, Label string
	X            float64
}

type bar struct {
	X, Y, W, H float64
	Title      string
}

type line struct {
	Class, Label, Points string
}

type tick struct {
	Pos   float64
	Label string
}

// marker is a labelled vertical line; its label sits at height Y, on the
// side given by Anchor ("start": right of the line, "end": left of it).
type marker struct {
	X, Y   float64
	Label  string
	Anchor string
}

type point struct {
	X, Y  float64
	Class string
}

// yTicks returns ticks at 0, half and all of top for a y axis.
func yTicks(top float64, label func(float64) string) []tick {
	ts := make([]tick, 0, 3)
	for _, f := range []float64{0, 0.5, 1} {
		ts = append(ts, tick{Pos: plotTop + plotHeight*(1-f), Label: label(top * f)})
	}
	return ts
}

// latencyChart draws d's buckets as bars on a log-scaled x axis.
func latencyChart(title, xLabel string, d *Distribution) *chart {
	c := &chart{Title: title, XLabel: xLabel + " (log scale)", YLabel: "requests"}
	if d.Count == 0 || len(d.Buckets) == 0 {
		c.Empty = "no successful requests"
		return c
	}
	lo := math.Log10(float64(max(d.Buckets[0].Lower, 1)))
	hi := math.Log10(float64(max(d.Buckets[len(d.Buckets)-1].Upper, 2)))
	if hi <= lo {
		hi = lo + 1
	}
	x := func(v time.Duration) float64 {
		return plotLeft + plotWidth*(math.Log10(float64(max(v, 1)))-lo)/(hi-lo)
	}
	var top int64
	for _, b := range d.Buckets {
		top = max(top, b.Count)
	}
	for _, b := range d.Buckets {
		if b.Count == 0 {
			continue
		}
		h := plotHeight * float64(b.Count) / float64(top)
		x0, x1 := x(b.Lower), x(b.Upper)
		c.Bars = append(c.Bars, bar{X: x0, Y: plotTop + plotHeight - h, W: max(x1-x0-1, 1), H: h,
			Title: fmt.Sprintf("%s to %s: %d", formatDuration(b.Lower), formatDuration(b.Upper), b.Count)})
	}
	for _, v := range logTicks(lo, hi) {
		c.XTicks = append(c.XTicks, tick{Pos: x(v), Label: formatDuration(v)})
	}
	for i, p := range []struct {
		q    float64
		name string
	}{{0.5, "p50"}, {0.9, "p90"}, {0.99, "p99"}} {
		v := d.Quantile(p.q)
		m := marker{X: x(v), Y: plotTop + 12 + 14*float64(i), Label: p.name + " " + formatDuration(v), Anchor: "start"}
		if m.X > plotLeft+plotWidth/2 {
			m.Anchor = "end" // keep the label inside the plot
		}
		c.Markers = append(c.Markers, m)
	}
	c.YTicks = yTicks(float64(top), func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) })
	return c
}

// logTicks returns the values to label on a log axis from 10^lo to 10^hi
// ns: the powers of ten, or 1-2-5 steps, or every digit, whichever first
// gives at least three, and the two ends when none does.
func logTicks(lo, hi float64) []time.Duration {
	for _, steps := range [][]float64{{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		var ts []time.Duration
		for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
			for _, m := range steps {
				v := m * math.Pow(10, k)
				if l := math.Log10(v); l >= lo && l <= hi {
					ts = append(ts, time.Duration(v))
				}
			}
		}
		if len(ts) >= 3 {
			return ts
		}
	}
	return []time.Duration{time.Duration(math.Pow(10, lo)), time.Duration(math.Pow(10, hi))}
}

// seriesChart draws successes, errors and drops per second.
func seriesChart(series []Second) *chart {
	c := &chart{Title: "Requests per second", XLabel: "seconds", YLabel: "requests/s"}
	if len(series) == 0 {
		c.Empty = "no data"
		return c
	}
	var top int64 = 1
	dropped := false
	for _, s := range series {
		top = max(top, s.Succeeded, s.Failed, s.Dropped)
		dropped = dropped || s.Dropped > 0
	}
	y := func(v int64) float64 { return plotTop + plotHeight*(1-float64(v)/float64(top)) }
	c.addSeries(series, "ok", "succeeded", func(s Second) float64 { return y(s.Succeeded) })
	c.addSeries(series, "err", "errors", func(s Second) float64 { return y(s.Failed) })
	if dropped {
		c.addSeries(series, "drop", "dropped", func(s Second) float64 { return y(s.Dropped) })
	}
	for i, l := range c.Lines {
		c.Legend = append(c.Legend, legend{Class: "key-" + l.Class, Label: l.Label, X: plotLeft + 16 + 90*float64(i)})
	}
	c.XTicks = seriesTicks(len(series))
	c.YTicks = yTicks(float64(top), func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) })
	return c
}

// meanLatencyChart draws the mean latency of every second.
func meanLatencyChart(series []Second) *chart {
	c := &chart{Title: "Mean latency per second", XLabel: "seconds", YLabel: "ms"}
	var top time.Duration
	for _, s := range series {
		top = max(top, s.MeanLatency)
	}
	if top == 0 {
		c.Empty = "no successful requests"
		return c
	}
	y := func(s Second) float64 { return plotTop + plotHeight*(1-float64(s.MeanLatency)/float64(top)) }
	c.addSeries(series, "lat", "mean latency", y)
	c.XTicks = seriesTicks(len(series))
	c.YTicks = yTicks(float64(top), func(v float64) string { return ms(time.Duration(v)) })
	return c
}

// seriesX returns the x coordinate of the middle of second i of n.
func seriesX(i, n int) float64 { return plotLeft + plotWidth*(float64(i)+0.5)/float64(n) }

// maxDots is the longest series whose points are also drawn as dots, so
// that short runs (one or two seconds) show something.
const maxDots = 60

// addSeries adds one line through the value y of every second, with dots
// on short series.
func (c *chart) addSeries(series []Second, class, label string, y func(Second) float64) {
	var b strings.Builder
	for i, s := range series {
		if i > 0 {
			b.WriteByte(' ')
		}
		x, y := seriesX(i, len(series)), y(s)
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
		if len(series) <= maxDots {
			c.Points = append(c.Points, point{X: x, Y: y, Class: "dot-" + class})
		}
	}
	c.Lines = append(c.Lines, line{Class: class, Label: label, Points: b.String()})
}

// seriesTicks labels about ten seconds of an n-second axis.
func seriesTicks(n int) []tick {
	step := max(1, int(math.Ceil(float64(n)/10)))
	var ts []tick
	for i := 0; i < n; i += step {
		ts = append(ts, tick{Pos: seriesX(i, n), Label: strconv.Itoa(i)})
	}
	return ts
}

// formatDuration formats d compactly with a unit suited to its size.
func formatDuration(d time.Duration) string {
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'g', 3, 64) + unit }
	switch {
	case d < time.Microsecond:
		return f(float64(d), "ns")
	case d < time.Millisecond:
		return f(float64(d)/1e3, "µs")
	case d < time.Second:
		return f(float64(d)/1e6, "ms")
	}
	return f(d.Seconds(), "s")
}

func pageTemplate() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"f":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"add": func(a, b float64) float64 { return a + b },
	}).Parse(pageHTML))
}

// pageHTML is the page template. It must stay well-formed XML: every element
// closed, attributes quoted, no HTML-only entities. The chart coordinates
// written in it are those of the chart geometry constants.
const pageHTML = `<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222; }
h1 { font-size: 1.3em; word-break: break-all; }
h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child { text-align: left; }
svg { display: block; margin: 0.5em 0; }
svg text { font-size: 11px; fill: #444; }
.frame { fill: none; stroke: #999; }
.grid { stroke: #e4e4e4; }
.bar { fill: #4a7bd0; }
.marker { stroke: #c0392b; stroke-dasharray: 4 3; }
.ok, .err, .drop, .lat { fill: none; stroke-width: 1.8; }
.ok { stroke: #2e8b57; }
.err { stroke: #c0392b; }
.drop { stroke: #e67e22; }
.lat { stroke: #4a7bd0; }
.dot-ok { fill: #2e8b57; }
.dot-err { fill: #c0392b; }
.dot-drop { fill: #e67e22; }
.dot-lat { fill: #4a7bd0; }
svg text.key-ok { fill: #2e8b57; }
svg text.key-err { fill: #c0392b; }
svg text.key-drop { fill: #e67e22; }
svg text.empty { font-size: 14px; fill: #888; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<h2>Summary</h2>
<table id="summary">
{{range .Summary}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
<h2>Latency (ms)</h2>
<table id="percentiles">
<tr><th>metric</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>min</th><th>max</th></tr>
{{range .Dists}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{if .Errors}}<h2>Errors</h2>
<table id="errors">
{{range .Errors}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
{{end}}{{if .Statuses}}<h2>HTTP statuses</h2>
<table id="statuses">
{{range .Statuses}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</table>
{{end}}{{template "chart" .Latency}}{{if .TTFT}}{{template "chart" .TTFT}}{{end}}{{template "chart" .Series}}{{template "chart" .Mean}}</body>
</html>
{{define "chart"}}<h2>{{.Title}}</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="760" height="280" viewBox="0 0 760 280" role="img">
<title>{{.Title}}</title>
{{if .Empty}}<text class="empty" x="380" y="140" text-anchor="middle">{{.Empty}}</text>
{{else}}{{range .YTicks}}<line class="grid" x1="64" x2="744" y1="{{f .Pos}}" y2="{{f .Pos}}"/><text x="58" y="{{f (add .Pos 4)}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Bars}}<rect class="bar" x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Lines}}<polyline class="{{.Class}}" points="{{.Points}}"/>
{{end}}{{range .Points}}<circle class="{{.Class}}" cx="{{f .X}}" cy="{{f .Y}}" r="2.5"/>
{{end}}{{range .Markers}}<line class="marker" x1="{{f .X}}" x2="{{f .X}}" y1="16" y2="236"/><text x="{{f .X}}" dx="{{if eq .Anchor "end"}}-3{{else}}3{{end}}" y="{{f .Y}}" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{f .Pos}}" y="252" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .Legend}}<text class="{{.Class}}" x="{{f .X}}" y="30">{{.Label}}</text>
{{end}}{{end}}<rect class="frame" x="64" y="16" width="680" height="220"/>
<text x="404" y="274" text-anchor="middle">{{.XLabel}}</text>
<text x="14" y="126" text-anchor="middle" transform="rotate(-90 14 126)">{{.YLabel}}</text>
</svg>
{{end}}`
