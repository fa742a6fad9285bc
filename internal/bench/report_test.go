package bench_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/bench"
	"github.com/continuumhq/continuum/internal/mock"
)

// secretKey is the API key of some report cases; no report may show it.
const secretKey = "sk-report-secret"

// reportCases are results of different shapes for the writers to render.
func reportCases(t *testing.T) map[string]*bench.Result {
	t.Helper()
	_, flaky := startMock(t, mock.Options{ErrorStatus: 500, ErrorRate: 0.2, TokenDelay: 100 * time.Microsecond, RequireAPIKey: secretKey})
	_, failing := startMock(t, mock.Options{ErrorStatus: 429})
	_, slow := startMock(t, mock.Options{TTFT: 20 * time.Millisecond})
	return map[string]*bench.Result{
		"stream with errors": run(t, bench.Config{URL: flaky, Model: mock.DefaultModel, Requests: 100, Concurrency: 4, Stream: true, APIKey: secretKey}),
		"plain with errors":  run(t, bench.Config{URL: flaky, Model: mock.DefaultModel, Requests: 100, Concurrency: 4, APIKey: secretKey}),
		"every request fails": run(t, bench.Config{URL: failing, Model: mock.DefaultModel, Requests: 10,
			Stream: true}),
		"open loop with drops": run(t, bench.Config{URL: slow, Model: mock.DefaultModel, Rate: 500, Duration: 200 * time.Millisecond,
			MaxInFlight: 2, Poisson: true, Warmup: 100 * time.Millisecond}),
	}
}

func TestReports(t *testing.T) {
	t.Parallel()
	for name, res := range reportCases(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("html parses as XML", func(t *testing.T) { checkHTML(t, res) })
			t.Run("json round-trips", func(t *testing.T) { checkJSON(t, res) })
			t.Run("text is greppable", func(t *testing.T) { checkText(t, res) })
		})
	}
}

func checkHTML(t *testing.T, res *bench.Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := res.WriteHTML(&buf); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	page := buf.String()
	if strings.Contains(page, secretKey) {
		t.Error("the page shows the API key")
	}
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	counts := map[string]int{}
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed XML: %v\n%s", err, page)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			counts[e.Name.Local]++
			if e.Name.Local == "script" || e.Name.Local == "link" {
				t.Errorf("page has a <%s> element, want no script and no external asset", e.Name.Local)
			}
			for _, a := range e.Attr {
				if a.Name.Local == "src" || a.Name.Local == "href" {
					t.Errorf("<%s> has %s=%q, want no external reference", e.Name.Local, a.Name.Local, a.Value)
				}
			}
		case xml.CharData:
			text.Write(e)
		}
	}
	if got := counts["svg"]; got < 3 {
		t.Errorf("svg charts: got %d, want at least 3 (histogram, requests, latency)", got)
	}
	if got, want := counts["rect"] > 3, res.Totals.Succeeded > 0; got != want {
		t.Errorf("histogram bars present: got %t, want %t", got, want)
	}
	if counts["polyline"] == 0 && res.Totals.Succeeded+res.Totals.Failed > 0 {
		t.Error("no polyline: want the requests-per-second series drawn")
	}
	for _, want := range []string{
		strconv.FormatInt(res.Totals.Succeeded, 10),
		strconv.FormatInt(res.Totals.Failed, 10),
		res.Target,
		"p99.9",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("page text lacks %q", want)
		}
	}
	for kind := range res.Errors {
		if !strings.Contains(text.String(), kind) {
			t.Errorf("page text lacks the error kind %q", kind)
		}
	}
}

func checkJSON(t *testing.T, res *bench.Result) {
	t.Helper()
	var first bytes.Buffer
	if err := res.WriteJSON(&first); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var back bench.Result
	if err := json.Unmarshal(first.Bytes(), &back); err != nil {
		t.Fatalf("decode the JSON result: %v", err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Errorf("decoded result differs from the written one:\ngot  %+v\nwant %+v", back, *res)
	}
	var second bytes.Buffer
	if err := back.WriteJSON(&second); err != nil {
		t.Fatalf("WriteJSON of the decoded result: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("JSON differs after a round trip:\ngot  %s\nwant %s", second.Bytes(), first.Bytes())
	}
	var generic map[string]any
	if err := json.Unmarshal(first.Bytes(), &generic); err != nil {
		t.Fatalf("decode as a map: %v", err)
	}
	for _, key := range []string{"config", "totals", "latency", "service_time", "errors", "statuses", "series", "elapsed_ns"} {
		if _, ok := generic[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	if bytes.Contains(first.Bytes(), []byte(secretKey)) {
		t.Error("the JSON shows the API key")
	}
}

func checkText(t *testing.T, res *bench.Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := res.WriteText(&buf); err != nil {
		t.Fatalf("WriteText: %v", err)
	}
	out := buf.String()
	if strings.Contains(out, secretKey) {
		t.Error("the text report shows the API key")
	}
	wantLines := []string{
		`(?m)^succeeded +` + strconv.FormatInt(res.Totals.Succeeded, 10) + `$`,
		`(?m)^failed +` + strconv.FormatInt(res.Totals.Failed, 10) + `$`,
		`(?m)^dropped +` + strconv.FormatInt(res.Totals.Dropped, 10) + `$`,
		`(?m)^throughput +[0-9.]+ req/s$`,
		`(?m)^success_rate +[0-9.]+ %$`,
		`(?m)^latency +[0-9]+( +[0-9]+\.[0-9]{3}){7}$`,
		`(?m)^service_time +[0-9]+( +[0-9]+\.[0-9]{3}){7}$`,
	}
	if res.Config.Stream {
		wantLines = append(wantLines, `(?m)^ttft +[0-9]+( +[0-9]+\.[0-9]{3}){7}$`, `(?m)^itl +[0-9]+( +[0-9]+\.[0-9]{3}){7}$`,
			`(?m)^tokens_per_s +[0-9.]+ tok/s$`)
	}
	for kind, n := range res.Errors {
		wantLines = append(wantLines, `(?m)^error +`+regexp.QuoteMeta(kind)+` +`+strconv.FormatInt(n, 10)+`$`)
	}
	for status, n := range res.Statuses {
		wantLines = append(wantLines, `(?m)^status +`+strconv.Itoa(status)+` +`+strconv.FormatInt(n, 10)+`$`)
	}
	for _, re := range wantLines {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("text report lacks a line matching %s:\n%s", re, out)
		}
	}
}

func TestHTMLEscapesWhatItShows(t *testing.T) {
	t.Parallel()
	res := &bench.Result{
		Target: `http://h/v1/chat/completions?a=1&b=<2>`,
		Config: bench.Config{Model: `"quoted" & <tagged>`},
		Errors: map[string]int64{"http_500": 1}, Statuses: map[int]int64{500: 1},
	}
	var buf bytes.Buffer
	if err := res.WriteHTML(&buf); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	dec := xml.NewDecoder(&buf)
	dec.Strict = true
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			text.Write(cd)
		}
	}
	for _, want := range []string{res.Target, res.Config.Model} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("page text lacks %q", want)
		}
	}
}
