//go:build linux || darwin || freebsd || netbsd || openbsd

package upstream

import (
	"net"
	"syscall"
)

// alive reports whether an idle pooled connection is still usable: the peer
// has not closed it and has not sent anything unexpected. It peeks without
// blocking or consuming data.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	ok = true
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			// EAGAIN: nothing to read, the connection is idle and open.
			// Anything else is EOF, stray data or an error.
			ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
			return true
		}
	})
	return ok
}
