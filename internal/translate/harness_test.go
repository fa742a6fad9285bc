package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixedTime is the clock of every test.
var fixedTime = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

// testBackendOptions returns deterministic backend options: a fixed clock
// and counting ids.
func testBackendOptions() BackendOptions {
	n := 0
	return BackendOptions{
		Now: func() time.Time { return fixedTime },
		NewID: func(prefix string) string {
			n++
			return fmt.Sprintf("%stest%d", prefix, n)
		},
	}
}

// readFile returns a testdata file.
func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with the golden file testdata/name, or writes it
// with -update. JSON is compared after indenting both sides.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if strings.HasSuffix(name, ".json") {
		var b bytes.Buffer
		if err := json.Indent(&b, got, "", "  "); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
		}
		b.WriteByte('\n')
		got = b.Bytes()
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
	}
}

// readEvents reads every SSE event of b (copying them).
func readEvents(t *testing.T, b []byte) []openai.Event {
	t.Helper()
	r := openai.NewReader(bytes.NewReader(b), 0)
	var evs []openai.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		cp := openai.Event{Raw: bytes.Clone(ev.Raw), Data: bytes.Clone(ev.Data), Name: bytes.Clone(ev.Name)}
		if ev.Data != nil && cp.Data == nil {
			cp.Data = []byte{}
		}
		evs = append(evs, cp)
	}
}

// streamResult is what a translated stream produced.
type streamResult struct {
	out      []byte
	commit   int // index of the first event with Content, -1 if none
	complete bool
	failed   bool
	infos    []Info
}

// runBackendStream feeds a backend stream (SSE) through a decoder and
// renders the pivot chunks with enc, as the core would: chunks held until
// the commit point, an error before commit reported as failed with
// nothing written, an error after commit ending with enc.Fail, and End
// only when the decoder reports a complete answer.
func runBackendStream(t *testing.T, dec StreamDecoder, enc StreamEncoder, sse []byte) streamResult {
	t.Helper()
	res := streamResult{commit: -1}
	var chunks []*openai.ChatChunk
	flush := func() {
		for _, c := range chunks {
			res.out = enc.Chunk(res.out, c)
		}
		chunks = chunks[:0]
	}
	for i, ev := range readEvents(t, sse) {
		var info Info
		chunks, info = dec.Decode(ev, chunks)
		res.infos = append(res.infos, info)
		if info.Content && res.commit < 0 {
			res.commit = i
		}
		if info.Err != nil {
			res.failed = true
			if res.commit >= 0 {
				flush()
				res.out = enc.Fail(res.out, info.Err)
			}
			return res
		}
		if res.commit >= 0 {
			flush()
		}
		if info.Ping && res.commit >= 0 {
			res.out = enc.Ping(res.out)
		}
	}
	chunks, res.complete = dec.Finish(chunks)
	if res.commit < 0 && len(chunks) > 0 {
		res.commit = 0
	}
	flush()
	if res.complete {
		res.out = enc.End(res.out)
	} else {
		res.failed = true
		res.out = enc.Fail(res.out, &UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_error", UpstreamType: "api_error", Message: "the backend's stream ended before the answer was complete"})
	}
	return res
}

// runClientStream feeds an OpenAI chat stream (SSE) through
// NewOpenAIStreamDecoder and renders it with enc, as runBackendStream does.
func runClientStream(t *testing.T, enc StreamEncoder, sse []byte) streamResult {
	t.Helper()
	return runBackendStream(t, NewOpenAIStreamDecoder(), enc, sse)
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
