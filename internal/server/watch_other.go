//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package server

import (
	"net"

	"github.com/continuumhq/continuum/internal/scope"
)

// On this platform a connection cannot be peeked at: a client that goes
// away is noticed at the next write instead.
type watcher struct{}

type watchPool struct{}

func (*watchPool) watch(net.Conn, *scope.Scope) *watcher { return nil }
func (*watchPool) stop(*watcher)                         {}

// unread cannot tell on this platform; it reports false.
func unread(net.Conn) bool { return false }
