package bench

import (
	"fmt"
	"io"
	"time"
)

// startProgress starts writing the progress line to cfg.Progress every
// ProgressInterval and returns the function that stops it, after writing a
// last line. Without cfg.Progress it does nothing.
func (r *runner) startProgress() (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	p := &progress{r: r, w: w, lastAt: r.start}
	timer := r.clk.NewTimer(r.cfg.ProgressInterval)
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-quit:
				return
			case <-timer.C():
			}
			p.write(false)
			timer.Reset(r.cfg.ProgressInterval)
		}
	}()
	return func() {
		timer.Stop()
		close(quit)
		<-exited
		p.write(true)
	}
}

// progress writes the live progress line. Only one goroutine uses it at a
// time.
type progress struct {
	r        *runner
	w        io.Writer
	lastDone int64
	lastAt   time.Time
}

// write writes one update: elapsed time, requests sent, successes, errors,
// drops, requests in flight and the completion rate since the last update
// (since the start, on the final line).
// On a terminal the line replaces the previous one; the final one ends it.
func (p *progress) write(final bool) {
	r := p.r
	now := r.clk.Now()
	live := &r.live
	succeeded, failed := live.succeeded.Load(), live.failed.Load()
	done := succeeded + failed
	rate := 0.0
	since, base := p.lastAt, p.lastDone
	if final {
		since, base = r.start, 0 // the final line shows the mean rate
	}
	if d := now.Sub(since); d > 0 {
		rate = float64(done-base) / d.Seconds()
	}
	p.lastDone, p.lastAt = done, now
	phase := ""
	switch {
	case final:
		phase = "  done"
	case now.Before(r.measureStart):
		phase = "  warm-up"
	}
	line := fmt.Sprintf("[%7.1fs] requests %d  ok %d  errors %d  dropped %d  in-flight %d  rate %.1f req/s%s",
		now.Sub(r.start).Seconds(), live.sent.Load(), succeeded, failed, live.dropped.Load(), live.inFlight.Load(), rate, phase)
	switch {
	case !r.cfg.ProgressTTY:
		line += "\n"
	case final:
		line = "\r\x1b[2K" + line + "\n"
	default:
		line = "\r\x1b[2K" + line
	}
	_, _ = io.WriteString(p.w, line) // progress is best effort
}
