//go:build linux || darwin || freebsd || netbsd || openbsd

package server

import (
	"net"
	"syscall"
	"time"
)

var aLongTimeAgo = time.Unix(1, 0)

// watchConn calls onClose as soon as the client closes c (or resets it)
// while a request is being served. It peeks without consuming bytes, so a
// pipelined next request is left for the listener; seeing one ends the watch.
// stop ends the watch and must be called before the listener reads from c
// again; it is safe to call more than once.
func watchConn(c net.Conn, onClose func()) (stop func()) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	// The listener's read deadline for this request would end the watch early.
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
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
					onClose() // reset or orderly close
				}
				return true // closed, or the next request is already here
			}
		})
	}()
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		_ = c.SetReadDeadline(aLongTimeAgo)
		<-done
		_ = c.SetReadDeadline(time.Time{})
	}
}
