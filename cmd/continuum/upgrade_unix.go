//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// upgradeSignal returns the subscription to SIGUSR2, the binary-upgrade
// signal of the multi-process mode (see app.Env.Upgrade).
func upgradeSignal() func() (<-chan os.Signal, func()) {
	return func() (<-chan os.Signal, func()) {
		usr2 := make(chan os.Signal, 1)
		signal.Notify(usr2, syscall.SIGUSR2)
		return usr2, func() { signal.Stop(usr2) }
	}
}
