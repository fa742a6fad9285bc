//go:build !linux

package master

import (
	"context"
	"errors"
	"runtime"
)

// Supported reports whether this system can run workers.
const Supported = false

// Run refuses: the multi-process mode needs Linux, whose SO_REUSEPORT
// spreads connections across the workers' sockets.
func Run(context.Context, Config) error {
	return errors.New("server.workers > 1 needs Linux (SO_REUSEPORT connection balancing); this is " + runtime.GOOS + ": set server.workers to 1")
}
