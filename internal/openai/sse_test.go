package openai

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type gotEvent struct {
	raw, data, name string
	hasData         bool
}

func readAll(t *testing.T, r *Reader) ([]gotEvent, error) {
	t.Helper()
	var out []gotEvent
	for {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, gotEvent{string(ev.Raw), string(ev.Data), string(ev.Name), ev.Data != nil})
	}
}

func TestReaderEvents(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []gotEvent
	}{
		{"lf", "data: a\n\ndata: b\n\n", []gotEvent{{"data: a\n\n", "a", "", true}, {"data: b\n\n", "b", "", true}}},
		{"crlf", "data: a\r\n\r\ndata:b\r\n\r\n", []gotEvent{{"data: a\r\n\r\n", "a", "", true}, {"data:b\r\n\r\n", "b", "", true}}},
		{"cr", "data: a\r\rdata: b\r\r", []gotEvent{{"data: a\r\r", "a", "", true}, {"data: b\r\r", "b", "", true}}},
		{"multi-line data", "data: a\ndata: b\ndata:  c\n\n", []gotEvent{{"data: a\ndata: b\ndata:  c\n\n", "a\nb\n c", "", true}}},
		{"comment only", ": keep-alive\n\ndata: x\n\n", []gotEvent{{": keep-alive\n\n", "", "", false}, {"data: x\n\n", "x", "", true}}},
		{"event name and id", "event: error\nid: 7\ndata: {}\n\n", []gotEvent{{"event: error\nid: 7\ndata: {}\n\n", "{}", "error", true}}},
		{"leading blank lines", "\n\ndata: a\n\n", []gotEvent{{"\n\ndata: a\n\n", "a", "", true}}},
		{"empty data", "data\n\n", []gotEvent{{"data\n\n", "", "", true}}},
		{"no final blank line", "data: a\n\ndata: [DONE]\n", []gotEvent{{"data: a\n\n", "a", "", true}, {"data: [DONE]\n", "[DONE]", "", true}}},
		{"no final newline", "data: [DONE]", []gotEvent{{"data: [DONE]", "[DONE]", "", true}}},
		{"trailing blank lines", "data: a\n\n\n\n", []gotEvent{{"data: a\n\n", "a", "", true}}},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			name := tt.name
			if split {
				name += "/one-byte-reads"
			}
			t.Run(name, func(t *testing.T) {
				var src io.Reader = strings.NewReader(tt.in)
				if split {
					src = iotest.OneByteReader(src)
				}
				got, err := readAll(t, NewReader(src, 0))
				if err != io.EOF {
					t.Fatalf("got error %v, want io.EOF", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d: got %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

func TestReaderRelaysBytesUnchanged(t *testing.T) {
	in := ": hi\r\n\r\nevent: x\ndata: 1\r\n\r\ndata: 2\r\rdata: [DONE]\n\n"
	got, err := readAll(t, NewReader(iotest.HalfReader(strings.NewReader(in)), 0))
	if err != io.EOF {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range got {
		b.WriteString(e.raw)
	}
	if b.String() != in {
		t.Fatalf("concatenated raw events: got %q, want %q", b.String(), in)
	}
}

func TestReaderErrorAfterCompleteEvents(t *testing.T) {
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n\ndata: partial"), iotest.ErrReader(boom))
	r := NewReader(src, 0)
	got, err := readAll(t, r)
	if !errors.Is(err, boom) {
		t.Fatalf("got error %v, want %v", err, boom)
	}
	if len(got) != 2 || got[1].data != "b" {
		t.Fatalf("got events %+v, want a and b before the error", got)
	}
}

func TestReaderLimit(t *testing.T) {
	in := "data: " + strings.Repeat("x", 5000) + "\n\n"
	_, err := NewReader(strings.NewReader(in), 1024).Next()
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("got %v, want ErrEventTooLarge", err)
	}
	ev, err := NewReader(strings.NewReader(in), 8192).Next()
	if err != nil || len(ev.Data) != 5000 {
		t.Fatalf("got %d bytes, %v; want 5000 bytes under a larger limit", len(ev.Data), err)
	}
}

func TestReaderReady(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n\ndata: b\n\ndata: c"), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Fatal("Ready after the first of two buffered events: got false, want true")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.Ready() {
		t.Fatal("Ready with only a partial event buffered: got true, want false")
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "data: a\r\n\r\n: c\r\rdata: [DONE]", "event: error\ndata: {}\n\n\n", "\r\r\r\n\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const limit = 256
		src := &chunkReader{b: in, n: int(chunk%16) + 1}
		r := NewReader(src, limit)
		var raw bytes.Buffer
		for i := 0; ; i++ {
			ev, err := r.Next()
			if err != nil {
				if err == io.EOF {
					// Every byte that is not a trailing blank line was relayed exactly.
					if !bytes.HasPrefix(in, raw.Bytes()) || !blank(in[raw.Len():]) {
						t.Fatalf("relayed %q of %q", raw.Bytes(), in)
					}
				} else if !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev.Raw) > limit+2 {
				t.Fatalf("event of %d bytes exceeds the limit", len(ev.Raw))
			}
			raw.Write(ev.Raw)
			if cap(r.buf) > 2*limit+4096 {
				t.Fatalf("buffer grew to %d bytes", cap(r.buf))
			}
			if i > len(in)+1 {
				t.Fatal("no progress")
			}
		}
	})
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(c.n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestReaderReadyThenNext: Ready looks for a complete event without
// consuming it; the Next that follows returns that event alone, not merged
// with the one after it.
func TestReaderReadyThenNext(t *testing.T) {
	for _, sep := range []string{"\n", "\r\n", "\r"} {
		s := "data: a" + sep + sep + "data: b" + sep + sep + ": keep-alive" + sep + sep + "data: c" + sep + sep
		r := NewReader(io.NopCloser(strings.NewReader(s)), 0)
		var got []string
		for {
			for range 3 {
				r.Ready()
			}
			ev, err := r.Next()
			if err != nil {
				break
			}
			got = append(got, string(ev.Data))
		}
		if want := []string{"a", "b", "", "c"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("separator %q: got events %q, want %q", sep, got, want)
		}
	}
}
