package server

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// tracker remembers the accepted connections so that a graceful shutdown
// can close those that never sent a request: fasthttp's shutdown closes
// idle keep-alive connections, but waits for a connection that was opened
// and never used (clients dial spare connections) until its read timeout.
type tracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	// waiters are closed once no connection is left.
	waiters []chan struct{}
}

// empty returns a channel closed once no tracked connection is open.
func (t *tracker) empty() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := make(chan struct{})
	if len(t.conns) == 0 {
		close(ch)
	} else {
		t.waiters = append(t.waiters, ch)
	}
	return ch
}

// trackingListener wraps a listener so that its connections are tracked.
// Closing it twice is not an error (Handover closes it, then Shutdown).
type trackingListener struct {
	net.Listener
	t      *tracker
	closed sync.Once
}

// Close closes the listener once; later calls return nil.
func (l *trackingListener) Close() error {
	err := error(nil)
	l.closed.Do(func() { err = l.Listener.Close() })
	return err
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: l.t}
	l.t.mu.Lock()
	if l.t.conns == nil {
		l.t.conns = map[*trackedConn]struct{}{}
	}
	l.t.conns[tc] = struct{}{}
	l.t.mu.Unlock()
	return tc, nil
}

// closeUnused closes the connections that have not sent a byte.
func (t *tracker) closeUnused() {
	t.mu.Lock()
	var unused []*trackedConn
	for c := range t.conns {
		if !c.used.Load() {
			unused = append(unused, c)
		}
	}
	t.mu.Unlock()
	for _, c := range unused {
		c.Close()
	}
}

// closeAll closes every connection still open.
func (t *tracker) closeAll() {
	t.mu.Lock()
	all := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

// trackedConn is an accepted connection. It keeps the raw file descriptor
// reachable (SyscallConn) for the disconnect watcher.
type trackedConn struct {
	net.Conn
	t      *tracker
	used   atomic.Bool
	closed atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

// Close closes the connection. When the client sent bytes the listener did
// not read (a request refused before its body was read: 413, 431), closing
// at once would send a TCP reset, which can destroy the answer before the
// client reads it. So, as net/http does, the connection is half-closed first
// (the client sees the answer end) and the rest is read and dropped, for at
// most lingerTimeout and lingerBytes.
func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		if len(c.t.conns) == 0 {
			for _, w := range c.t.waiters {
				close(w)
			}
			c.t.waiters = nil
		}
		c.t.mu.Unlock()
		if c.used.Load() && unread(c.Conn) {
			c.linger()
		}
	}
	return c.Conn.Close()
}

// Bounds of the lingering close.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 1 << 20
)

func (c *trackedConn) linger() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
}

var errNoSyscallConn = errors.New("server: connection has no file descriptor")

// SyscallConn exposes the underlying connection's descriptor.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}
