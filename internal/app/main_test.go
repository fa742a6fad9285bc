package app_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// request, stream, prober and discovery loop must end with its router.
// Two fasthttp goroutines are not ours to end: the process-wide Date header
// updater, and each server's worker-pool cleaner, which notices Stop only
// after its idle-check sleep (up to 10 s).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
