// Package clock abstracts time so that breakers, backoff, health checks and
// stream timeouts can be driven by a fake clock in tests.
//
// Production code receives a Clock (Real() unless a test injects a *Fake) and
// never calls time.Now, time.After or time.AfterFunc directly for logic whose
// behaviour depends on elapsed time.
package clock

import "time"

// Clock tells the time and schedules work.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that delivers the time on its channel after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d. The returned Timer's
	// channel is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable timer created by a Clock.
type Timer interface {
	// C returns the channel on which the time is delivered; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call stopped
	// the timer (false if it had already fired or been stopped).
	Stop() bool
	// Reset changes the timer to fire after d. It reports whether the timer was active.
	Reset(d time.Duration) bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
