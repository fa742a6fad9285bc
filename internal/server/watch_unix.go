//go:build linux || darwin || freebsd || netbsd || openbsd

package server

import (
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/continuumhq/continuum/internal/scope"
)

var aLongTimeAgo = time.Unix(1, 0)

// watchDelay is how long a request runs before its connection is watched
// (a client that leaves is noticed at most this late).
// Answers faster than this never pay for a watch; a client that leaves a
// longer request (every LLM call) is noticed at once from then on.
const watchDelay = 10 * time.Millisecond

// watcher cancels a request as soon as its client closes the connection
// (or resets it) while the request is being served, even before the first
// byte of the answer is written. It peeks without consuming bytes, so a
// pipelined next request is left for the listener; seeing one ends the watch.
// Watchers are pooled: a request served faster than watchDelay allocates
// nothing and makes no system call for it.
type watcher struct {
	timer  *time.Timer   // starts the watch after watchDelay
	exited chan struct{} // receives when the watch goroutine ends

	mu       sync.Mutex
	conn     net.Conn
	scope    *scope.Scope // ended when the client goes
	stopped  bool
	watching bool
}

type watchPool struct{ p sync.Pool }

// watch starts watching c for the request whose scope is sc.
// The returned watcher's stop must be called before the listener reads from
// c again.
func (wp *watchPool) watch(c net.Conn, sc *scope.Scope) *watcher {
	w, _ := wp.p.Get().(*watcher)
	if w == nil {
		w = &watcher{exited: make(chan struct{}, 1)}
		w.timer = time.AfterFunc(time.Hour, w.run)
		w.timer.Stop()
	}
	w.conn, w.scope, w.stopped, w.watching = c, sc, false, false
	w.timer.Reset(watchDelay)
	return w
}

// run is the watch goroutine, started by the timer.
func (w *watcher) run() {
	defer func() { w.exited <- struct{}{} }()
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	sc, ok := w.conn.(syscall.Conn)
	if !ok {
		w.mu.Unlock()
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		w.mu.Unlock()
		return
	}
	w.watching = true
	// The listener's read deadline for this request would end the watch early.
	_ = w.conn.SetReadDeadline(time.Time{})
	w.mu.Unlock()
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
				return false // nothing yet: wait until readable
			case err != nil || n == 0:
				w.scope.Cancel(errClientGone) // reset or orderly close
			}
			return true // closed, or the next request is already here
		}
	})
}

// stop ends the watch and returns the watcher to the pool. It is safe to
// call once per watch.
func (wp *watchPool) stop(w *watcher) {
	if w.timer.Stop() {
		wp.put(w) // the watch never started
		return
	}
	w.mu.Lock()
	w.stopped = true
	watching := w.watching
	if watching {
		_ = w.conn.SetReadDeadline(aLongTimeAgo) // wake the peek
	}
	w.mu.Unlock()
	<-w.exited
	if watching {
		_ = w.conn.SetReadDeadline(time.Time{})
	}
	wp.put(w)
}

func (wp *watchPool) put(w *watcher) {
	w.conn, w.scope = nil, nil
	wp.p.Put(w)
}

// unread reports whether the client has sent bytes that are waiting in the
// kernel, unread.
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	pending := false
	_ = rc.Control(func(fd uintptr) {
		for {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			pending = err == nil && n > 0
			return
		}
	})
	return pending
}
