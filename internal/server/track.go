package server

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// tracker remembers the accepted connections so that a graceful shutdown
// can close those that never sent a request: fasthttp's shutdown closes
// idle keep-alive connections, but waits for a connection that was opened
// and never used (clients dial spare connections) until its read timeout.
type tracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// trackingListener wraps a listener so that its connections are tracked.
type trackingListener struct {
	net.Listener
	t *tracker
}

func (l trackingListener) Accept() (net.Conn, error) {
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

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	}
	return c.Conn.Close()
}

var errNoSyscallConn = errors.New("server: connection has no file descriptor")

// SyscallConn exposes the underlying connection's descriptor.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}
