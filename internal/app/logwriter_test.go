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
