//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package upstream

import "net"

// alive cannot peek on this platform; a closed connection is detected when
// it is used, and the request is sent again on a fresh one.
func alive(net.Conn) bool { return true }
