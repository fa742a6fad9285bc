package app

import (
	"io"
	"sync"
	"time"
)

// logFlushDelay is how long a log line may wait in the buffer.
const logFlushDelay = 100 * time.Millisecond

// logBufferSize makes a write as soon as this much is buffered.
const logBufferSize = 64 << 10

// bufferedWriter batches log lines: one access line per request would
// otherwise cost one write system call per request, a fifth of the router's
// CPU at high request rates. Lines wait at most logFlushDelay; Close flushes.
type bufferedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	timer  *time.Timer
	armed  bool
	closed bool
}

func newBufferedWriter(w io.Writer) *bufferedWriter {
	b := &bufferedWriter{w: w, buf: make([]byte, 0, logBufferSize)}
	b.timer = time.AfterFunc(time.Hour, b.Flush)
	b.timer.Stop()
	return b
}

// Write buffers p (a whole log line, as slog writes them).
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBufferSize {
		return len(p), b.flushLocked()
	}
	if !b.armed {
		b.armed = true
		b.timer.Reset(logFlushDelay)
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (b *bufferedWriter) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.flushLocked()
}

func (b *bufferedWriter) flushLocked() error {
	b.armed = false
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// Close flushes and makes later writes go straight through.
func (b *bufferedWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer.Stop()
	b.closed = true
	return b.flushLocked()
}
