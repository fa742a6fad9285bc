//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package server

import "net"

// watchConn cannot peek on this platform: a client that goes away is noticed
// at the next write instead.
func watchConn(net.Conn, func()) func() { return func() {} }
