//go:build !unix

package main

import "os"

// upgradeSignal returns nil: there is no SIGUSR2 here, and no
// multi-process mode.
func upgradeSignal() func() (<-chan os.Signal, func()) { return nil }
