package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/scope"
)

// http1 is a pooled HTTP/1.1 client for one host. Unlike net/http's
// Transport it starts no goroutine per connection: the request is written
// and the response read on the caller's goroutine, and cancellation is wired
// by setting a past deadline on the connection when the context ends (a
// scope.Hook on the request path, context.AfterFunc for other contexts).
type http1 struct {
	addr   string
	opts   Options
	dialer net.Dialer

	mu      sync.Mutex
	idle    []*conn1 // LIFO: the most recently used connection is reused first
	retired bool     // connections are closed after use instead of pooled
}

func newHTTP1(addr string, opts Options) *http1 {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "80")
	}
	return &http1{addr: addr, opts: opts, dialer: net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}}
}

// conn1 is one pooled connection.
type conn1 struct {
	nc        net.Conn
	br        *bufio.Reader
	wb        []byte
	idleSince time.Time
}

const (
	readBufSize    = 16 << 10
	maxHeaderBytes = 64 << 10
	inlineBody     = 32 << 10 // bodies up to this size are copied into the write buffer: one write
)

// aLongTimeAgo is a deadline in the past that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

func (t *http1) roundTrip(ctx context.Context, req *Request, auth Header) (*Response, error) {
	fresh := false
	for {
		c, reused, err := t.get(ctx, fresh)
		if err != nil {
			return nil, err
		}
		resp, unsent, err := t.exchange(ctx, c, req, auth, reused)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// Writing to a reused connection the backend had already closed
		// failed before the whole request went out: the backend cannot
		// have acted on it (its Content-Length is not complete), so send
		// it again, once, on a new connection. A request written whole is
		// never sent again here: that is the caller's retry, counted as one.
		if unsent && !fresh && ctx.Err() == nil {
			fresh = true
			continue
		}
		return nil, err
	}
}

// exchange writes the request and reads the response head on c. unsent
// reports that writing failed on a reused connection before the whole
// request was written.
func (t *http1) exchange(ctx context.Context, c *conn1, req *Request, auth Header, reused bool) (*Response, bool, error) {
	stop := watchConn(ctx, c)
	c.wb = appendRequest(c.wb[:0], t.addr, req, auth)
	var err error
	if len(req.Body) <= inlineBody {
		c.wb = append(c.wb, req.Body...)
		_, err = c.nc.Write(c.wb)
	} else {
		bufs := net.Buffers{c.wb, req.Body}
		_, err = bufs.WriteTo(c.nc)
	}
	if err != nil {
		stop.end()
		return nil, reused, wrap(ctx, KindWrite, err)
	}
	if _, err := c.br.Peek(1); err != nil {
		stop.end()
		if ctx.Err() != nil {
			return nil, false, scope.Cause(ctx)
		}
		return nil, false, &Error{Kind: KindRead, Err: err, Stale: reused}
	}
	resp, keep, err := readHead(c.br)
	if err != nil {
		stop.end()
		if _, ok := err.(*protocolError); ok {
			return nil, false, &Error{Kind: KindProtocol, Err: err}
		}
		return nil, false, wrap(ctx, KindRead, err)
	}
	b := &body1{t: t, c: c, ctx: ctx, stop: stop, keep: keep}
	method := req.Method
	switch {
	case method == "HEAD" || resp.Status == 204 || resp.Status == 304 || resp.Status < 200:
		b.mode = modeFixed
	case chunked(resp.Header):
		b.mode = modeChunked
	default:
		if cl := resp.Header.Get("Content-Length"); cl != "" {
			n, perr := strconv.ParseInt(cl, 10, 64)
			if perr != nil || n < 0 {
				b.finish(false)
				return nil, false, &Error{Kind: KindProtocol, Err: fmt.Errorf("bad Content-Length %q", cl)}
			}
			b.mode, b.remaining = modeFixed, n
		} else {
			b.mode, b.keep = modeClose, false
		}
	}
	if b.mode == modeFixed && b.remaining == 0 {
		b.finish(true)
	}
	resp.Body = b
	return resp, false, nil
}

// Cancel makes the connection's blocked I/O return at once: c is the
// scope.Hook of the request using it.
func (c *conn1) Cancel(error) { _ = c.nc.SetDeadline(aLongTimeAgo) }

// connWatch ends c's I/O when the request's context ends.
type connWatch struct {
	sc   *scope.Scope
	c    *conn1
	stop func() bool
}

// watchConn starts watching ctx for c: a *scope.Scope calls c's Cancel
// (no allocation); any other context through context.AfterFunc.
func watchConn(ctx context.Context, c *conn1) connWatch {
	if sc, ok := ctx.(*scope.Scope); ok {
		if !sc.Watch(c) {
			c.Cancel(nil) // ended already
		}
		return connWatch{sc: sc, c: c}
	}
	return connWatch{stop: context.AfterFunc(ctx, func() { c.Cancel(nil) })}
}

// end stops the watch. It reports false when the context ended first: the
// connection's deadline was, or is being, moved to the past, and it must
// not be reused.
func (w connWatch) end() bool {
	if w.sc != nil {
		return w.sc.Unwatch(w.c)
	}
	return w.stop()
}

// wrap turns an I/O error into the context's cause when the context ended,
// and into an *Error of the given kind otherwise.
func wrap(ctx context.Context, kind ErrorKind, err error) error {
	if ctx.Err() != nil {
		return scope.Cause(ctx)
	}
	return &Error{Kind: kind, Err: err}
}

// get returns a pooled connection, or a new one when there is none or
// fresh is set; reused reports a pooled one.
func (t *http1) get(ctx context.Context, fresh bool) (*conn1, bool, error) {
	now := t.opts.Now()
	for !fresh {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		c := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		idle := now.Sub(c.idleSince)
		// A connection used within the last second is almost surely open; a
		// longer-idle one is checked (the backend may have closed it), and a
		// closed one that slips through is retried on a new connection.
		if idle < t.opts.IdleTimeout && (idle < time.Second || alive(c.nc)) {
			return c, true, nil
		}
		c.nc.Close()
	}
	nc, err := t.dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, false, wrap(ctx, KindConnect, err)
	}
	return &conn1{nc: nc, br: bufio.NewReaderSize(nc, readBufSize), wb: make([]byte, 0, 1024)}, false, nil
}

func (t *http1) put(c *conn1) {
	c.idleSince = t.opts.Now()
	t.mu.Lock()
	if t.retired {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	if len(t.idle) >= t.opts.MaxIdle {
		old := t.idle[0]
		copy(t.idle, t.idle[1:])
		t.idle[len(t.idle)-1] = c
		t.mu.Unlock()
		old.nc.Close()
		return
	}
	t.idle = append(t.idle, c)
	t.mu.Unlock()
}

func (t *http1) retire() {
	t.mu.Lock()
	t.retired = true
	t.mu.Unlock()
	t.closeIdle()
}

func (t *http1) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

// appendRequest appends the request line and header block.
func appendRequest(b []byte, host string, req *Request, auth Header) []byte {
	method := req.Method
	if method == "" {
		method = "POST"
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, req.Path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	if len(req.Body) > 0 || method == "POST" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(req.Body)), 10)
		b = append(b, "\r\n"...)
	}
	for _, f := range auth {
		b = appendField(b, f.Name, f.Value)
	}
	for _, f := range req.Header {
		b = appendField(b, f.Name, f.Value)
	}
	return append(appendForwarded(b, req), "\r\n"...)
}

// appendForwarded appends the client's header lines that may be passed on.
func appendForwarded(b []byte, req *Request) []byte {
	raw := req.Forward
	if len(raw) == 0 {
		return b
	}
	conn := connectionTokens(raw)
	for len(raw) > 0 {
		name, value, rest, ok := nextField(raw)
		raw = rest
		if !ok || !Forwardable(name) || listed(conn, name) || req.Header.hasField(name) || bytes.IndexByte(value, 0) >= 0 {
			continue
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, value...)
		b = append(b, "\r\n"...)
	}
	return b
}

func appendField(b []byte, name, value string) []byte {
	if !validField(name) || !validField(value) {
		return b
	}
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func validField(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' || s[i] == 0 {
			return false
		}
	}
	return true
}

type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "malformed HTTP response: " + e.msg }

// readHead reads a response's status line and header block, skipping 1xx
// informational responses. keep reports whether the connection may be
// reused once the body has been read.
func readHead(br *bufio.Reader) (*Response, bool, error) {
	for {
		resp, keep, err := readOneHead(br)
		if err != nil {
			return nil, false, err
		}
		if resp.Status >= 200 || resp.Status == 101 {
			return resp, keep, nil
		}
	}
}

func readOneHead(br *bufio.Reader) (*Response, bool, error) {
	total := 0
	line, err := readLine(br, &total)
	if err != nil {
		return nil, false, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return nil, false, &protocolError{fmt.Sprintf("bad status line %q", truncate(line))}
	}
	http11 := line[7] == '1'
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 || status > 999 || (len(line) > 12 && line[12] != ' ') {
		return nil, false, &protocolError{fmt.Sprintf("bad status line %q", truncate(line))}
	}
	resp := &Response{Status: status}
	keep := http11
	// Collect the header block, then make one string of it and slice the
	// fields out of it: two allocations however many fields there are.
	var block [2048]byte
	buf := block[:0]
	var spans [32][4]int
	fields := spans[:0]
	for {
		line, err := readLine(br, &total)
		if err != nil {
			return nil, false, err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, false, &protocolError{"obsolete header line folding"}
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, false, &protocolError{fmt.Sprintf("bad header line %q", truncate(line))}
		}
		value := bytes.TrimSpace(line[colon+1:])
		if equalFold(line[:colon], "Connection") {
			if hasToken(string(value), "close") {
				keep = false
			} else if hasToken(string(value), "keep-alive") {
				keep = true
			}
		}
		start := len(buf)
		buf = append(buf, line[:colon]...)
		mid := len(buf)
		buf = append(buf, value...)
		fields = append(fields, [4]int{start, mid, mid, len(buf)})
	}
	all := string(buf)
	resp.Header = make(Header, len(fields))
	for i, f := range fields {
		resp.Header[i] = Field{all[f[0]:f[1]], all[f[2]:f[3]]}
	}
	return resp, keep, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// readLine reads one CRLF- or LF-terminated line without its terminator,
// counting bytes against maxHeaderBytes.
func readLine(br *bufio.Reader, total *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*total += len(line)
	if err == bufio.ErrBufferFull || *total > maxHeaderBytes {
		return nil, &protocolError{"response header too large"}
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func chunked(h Header) bool {
	for _, f := range h {
		if equalFold([]byte(f.Name), "Transfer-Encoding") && hasToken(f.Value, "chunked") {
			return true
		}
	}
	return false
}

type bodyMode int

const (
	modeFixed   bodyMode = iota // Content-Length bytes
	modeChunked                 // chunked transfer coding
	modeClose                   // until the connection closes
)

// body1 reads a response body from a pooled connection and returns the
// connection to the pool once the body was read completely.
type body1 struct {
	t         *http1
	c         *conn1
	ctx       context.Context
	stop      connWatch
	mode      bodyMode
	remaining int64 // fixed: bytes left; chunked: bytes left in the current chunk
	started   bool  // chunked: a chunk header was read
	keep      bool
	done      bool
	err       error
}

func (b *body1) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch b.mode {
	case modeFixed:
		if b.remaining == 0 {
			err = io.EOF
			break
		}
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		} else if err == nil && b.remaining == 0 {
			err = io.EOF
		}
	case modeChunked:
		n, err = b.readChunked(p)
	case modeClose:
		n, err = b.c.br.Read(p)
	}
	if err == io.EOF {
		b.err = io.EOF
		b.finish(b.mode != modeClose)
		return n, io.EOF
	}
	if err != nil {
		b.err = wrap(b.ctx, KindRead, err)
		b.finish(false)
		return n, b.err
	}
	return n, nil
}

func (b *body1) readChunked(p []byte) (int, error) {
	br := b.c.br
	if b.remaining == 0 {
		if b.started {
			if err := expectCRLF(br); err != nil {
				return 0, err
			}
		}
		size, err := readChunkSize(br)
		if err != nil {
			return 0, err
		}
		b.started = true
		if size == 0 {
			// Trailer fields, then the blank line that ends the body.
			total := 0
			for {
				line, err := readLine(br, &total)
				if err != nil {
					return 0, unexpected(err)
				}
				if len(line) == 0 {
					return 0, io.EOF
				}
			}
		}
		b.remaining = size
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := br.Read(p)
	b.remaining -= int64(n)
	return n, unexpected(err)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func expectCRLF(br *bufio.Reader) error {
	c, err := br.ReadByte()
	if err == nil && c == '\r' {
		c, err = br.ReadByte()
	}
	if err != nil {
		return unexpected(err)
	}
	if c != '\n' {
		return &protocolError{"missing CRLF after chunk"}
	}
	return nil
}

func readChunkSize(br *bufio.Reader) (int64, error) {
	total := 0
	line, err := readLine(br, &total)
	if err != nil {
		return 0, unexpected(err)
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 16 {
		return 0, &protocolError{"bad chunk size"}
	}
	n, err := strconv.ParseInt(string(line), 16, 64)
	if err != nil || n < 0 {
		return 0, &protocolError{"bad chunk size"}
	}
	return n, nil
}

// finish releases the connection: back to the pool when the body ended
// cleanly and the connection may be reused, closed otherwise.
func (b *body1) finish(ok bool) {
	if b.done {
		return
	}
	b.done = true
	stopped := b.stop.end()
	if ok && b.keep && stopped && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

// Close releases the connection; a body not read to its end closes it.
func (b *body1) Close() error {
	if b.err == nil {
		b.err = errors.New("upstream: read on closed body")
	}
	b.finish(false)
	return nil
}
