package app

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

type countingWriter struct {
	mu     sync.Mutex
	writes int
	b      bytes.Buffer
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.b.Write(p)
}

func TestBufferedWriterBatches(t *testing.T) {
	out := &countingWriter{}
	w := newBufferedWriter(out)
	for i := 0; i < 100; i++ {
		w.Write([]byte("line\n"))
	}
	w.Flush()
	if out.writes != 1 || strings.Count(out.b.String(), "line\n") != 100 {
		t.Fatalf("got %d writes with %d lines, want 1 write with 100", out.writes, strings.Count(out.b.String(), "line\n"))
	}
	big := bytes.Repeat([]byte("x"), logBufferSize)
	w.Write(big)
	if out.writes != 2 {
		t.Fatalf("a full buffer is written at once: got %d writes, want 2", out.writes)
	}
	w.Write([]byte("last\n"))
	w.Close()
	if !strings.HasSuffix(out.b.String(), "last\n") {
		t.Fatal("Close did not flush")
	}
	w.Write([]byte("after\n"))
	if !strings.HasSuffix(out.b.String(), "after\n") {
		t.Fatal("writes after Close must go straight through")
	}
}

// recordingWriter keeps each write apart.
type recordingWriter struct{ writes [][]byte }

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestSharedLogWriter: with other processes on the same pipe, each write is
// whole lines of at most PIPE_BUF bytes (a longer line alone).
func TestSharedLogWriter(t *testing.T) {
	out := &recordingWriter{}
	w := newLogWriter(out, true)
	var want bytes.Buffer
	for i := range 300 {
		line := strings.Repeat("a", i%97) + "\n"
		if i == 150 {
			line = strings.Repeat("L", 3*pipeBuf) + "\n"
		}
		want.WriteString(line)
		w.Write([]byte(line))
	}
	w.Close()
	var got bytes.Buffer
	for i, p := range out.writes {
		got.Write(p)
		if !bytes.HasSuffix(p, []byte("\n")) {
			t.Fatalf("write %d does not end a line", i)
		}
		if len(p) > pipeBuf && bytes.Count(p, []byte("\n")) != 1 {
			t.Fatalf("write %d: %d bytes holding %d lines; a write over %d bytes must be one line", i, len(p), bytes.Count(p, []byte("\n")), pipeBuf)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("the writes do not add up to the lines written")
	}
	if len(out.writes) < 5 {
		t.Fatalf("got %d writes for %d bytes; want them cut at %d bytes", len(out.writes), want.Len(), pipeBuf)
	}
}
