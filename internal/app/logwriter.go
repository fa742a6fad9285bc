package app

import (
	"bytes"
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
	// shared: other processes write to w too (the workers and the master of
	// a multi-process router share stderr): each write is then whole lines
	// of at most pipeBuf bytes, which a pipe never interleaves with other
	// writers' (a longer line is written alone).
	shared bool
}

// pipeBuf is PIPE_BUF on Linux: writes to a pipe up to this size are atomic.
const pipeBuf = 4096

func newBufferedWriter(w io.Writer) *bufferedWriter {
	return newLogWriter(w, false)
}

// newLogWriter returns a buffered log writer; shared is for a destination
// other processes write to as well.
func newLogWriter(w io.Writer, shared bool) *bufferedWriter {
	b := &bufferedWriter{w: w, buf: make([]byte, 0, logBufferSize), shared: shared}
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
	var err error
	if b.shared {
		err = writeLines(b.w, b.buf)
	} else {
		_, err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return err
}

// writeLines writes buf (whole lines) in writes of at most pipeBuf bytes,
// each ending at the end of a line.
func writeLines(w io.Writer, buf []byte) error {
	for len(buf) > 0 {
		n := len(buf)
		if n > pipeBuf {
			n = bytes.LastIndexByte(buf[:pipeBuf], '\n') + 1
			if n == 0 { // one line longer than pipeBuf
				n = bytes.IndexByte(buf, '\n') + 1
				if n == 0 {
					n = len(buf)
				}
			}
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// Close flushes and makes later writes go straight through.
func (b *bufferedWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.timer.Stop()
	b.closed = true
	return b.flushLocked()
}
