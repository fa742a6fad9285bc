package openai

import (
	"bytes"
	"errors"
	"io"
)

// ErrEventTooLarge is returned by Reader.Next when one event exceeds the
// reader's size limit.
var ErrEventTooLarge = errors.New("sse: event exceeds size limit")

// DefaultMaxEvent is the event size limit used when NewReader gets 0.
const DefaultMaxEvent = 4 << 20

// Event is one server-sent event exactly as it arrived.
type Event struct {
	// Raw holds the event's bytes, including the blank line that ended it
	// and any blank lines before it. Relaying Raw relays the event unchanged.
	Raw []byte
	// Data is the event's data: its data lines joined with "\n". It is nil
	// when the event has no data line (a comment, for example).
	Data []byte
	// Name is the value of the event's "event:" field, nil when absent.
	Name []byte
}

// IsDone reports whether the event is OpenAI's end-of-stream marker "[DONE]".
func (e Event) IsDone() bool { return bytes.Equal(bytes.TrimSpace(e.Data), doneMarker) }

var doneMarker = []byte("[DONE]")

// Reader reads server-sent events from a stream without copying the common
// case: the slices in an Event point into the Reader's buffer and are valid
// until the next call to Next. Lines may end in LF, CRLF or CR. Memory is
// bounded by the size limit.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	scan int   // offset from r of the first line not yet scanned for the end of the event
	seen bool  // a non-blank line was seen in buf[r:r+scan]
	max  int   // size limit of one event
	err  error // sticky read error, reported once the buffer is drained
	data []byte
}

// NewReader returns a Reader on rd that rejects events larger than max
// bytes (DefaultMaxEvent if max <= 0).
func NewReader(rd io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxEvent
	}
	return &Reader{rd: rd, max: max, buf: make([]byte, 4096)}
}

// Reset makes the Reader read from rd, keeping its buffer.
func (r *Reader) Reset(rd io.Reader) {
	r.rd, r.r, r.w, r.scan, r.seen, r.err = rd, 0, 0, 0, false, nil
}

// Ready reports whether a complete event is already buffered, so that Next
// will return it without reading. Relays use it to flush once per burst.
func (r *Reader) Ready() bool { return r.findEnd() >= 0 }

// Next returns the next event. At the end of the stream it returns io.EOF;
// if the stream ends inside an event, that last event is returned first (a
// server that omits the final blank line still has its event relayed). A
// read error other than io.EOF is returned after the complete events before
// it.
func (r *Reader) Next() (Event, error) {
	for {
		if end := r.findEnd(); end >= 0 {
			if end-r.r > r.max {
				// One read can bring more than the limit into the
				// buffer: the limit holds for what was read at once too.
				return Event{}, ErrEventTooLarge
			}
			return r.take(end), nil
		}
		if r.err != nil {
			if r.err == io.EOF && (r.seen || !blank(r.buf[r.r+r.scan:r.w])) {
				// The stream ended without a closing blank line: dispatch
				// what is there.
				if r.w-r.r > r.max {
					return Event{}, ErrEventTooLarge
				}
				return r.take(r.w), nil
			}
			err := r.err
			if err == io.EOF && r.r < r.w {
				r.r = r.w // trailing blank lines only
			}
			return Event{}, err
		}
		if r.w-r.r >= r.max {
			return Event{}, ErrEventTooLarge
		}
		r.fill()
	}
}

func (r *Reader) fill() {
	if r.r > 0 && (r.w == len(r.buf) || r.r == r.w) {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.w = n
		r.r = 0
	}
	if r.w == len(r.buf) {
		size := 2 * len(r.buf)
		if size > r.max+1 {
			size = r.max + 1
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.err = err
	} else if n == 0 {
		r.err = io.ErrNoProgress
	}
}

// findEnd returns the absolute offset just past the blank line that ends the
// next event, or -1 if no complete event is buffered.
func (r *Reader) findEnd() int {
	b := r.buf[:r.w]
	p := r.r + r.scan
	for p < len(b) {
		i := bytes.IndexAny(b[p:], "\r\n")
		if i < 0 {
			return -1
		}
		lineEnd := p + i
		next := lineEnd + 1
		if b[lineEnd] == '\r' {
			if next == len(b) && r.err == nil {
				return -1 // a LF may follow
			}
			if next < len(b) && b[next] == '\n' {
				next++
			}
		}
		blank := lineEnd == p
		if blank && r.seen {
			// Stay on the blank line: a second call (Ready, then Next)
			// finds the same end instead of scanning into the next event.
			r.scan = lineEnd - r.r
			return next
		}
		p = next
		r.scan = p - r.r
		if !blank {
			r.seen = true
		}
	}
	return -1
}

// take parses buf[r.r:end] as one event and consumes it.
func (r *Reader) take(end int) Event {
	raw := r.buf[r.r:end]
	ev := Event{Raw: raw}
	dataLines := 0
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexAny(rest, "\r\n")
		line := rest
		if i >= 0 {
			line = rest[:i]
			n := i + 1
			if rest[i] == '\r' && n < len(rest) && rest[n] == '\n' {
				n++
			}
			rest = rest[n:]
		} else {
			rest = nil
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		name, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			name, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(name) {
		case "data":
			dataLines++
			switch dataLines {
			case 1:
				ev.Data = value
			case 2:
				r.data = append(append(append(r.data[:0], ev.Data...), '\n'), value...)
				ev.Data = r.data
			default:
				r.data = append(append(r.data, '\n'), value...)
				ev.Data = r.data
			}
			if ev.Data == nil {
				ev.Data = []byte{}
			}
		case "event":
			ev.Name = value
		}
	}
	r.r = end
	r.scan = 0
	r.seen = false
	return ev
}

// blank reports whether b holds only line terminators.
func blank(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
