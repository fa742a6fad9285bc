package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeTimersFireInOrder(t *testing.T) {
	f := NewFake(time.Time{})
	start := f.Now()
	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	fired := make(chan struct{})
	f.AfterFunc(1500*time.Millisecond, func() { close(fired) })

	if got := f.Pending(); got != 3 {
		t.Fatalf("pending: got %d, want 3", got)
	}
	f.Advance(time.Second)
	select {
	case got := <-early.C():
		if want := start.Add(time.Second); !got.Equal(want) {
			t.Fatalf("early fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("early timer did not fire at 1s")
	}
	select {
	case <-late.C():
		t.Fatal("late timer fired at 1s")
	default:
	}
	f.Advance(time.Second)
	<-fired
	<-late.C()
	if got := f.Pending(); got != 0 {
		t.Fatalf("pending after all fired: got %d, want 0", got)
	}
}

func TestFakeStopAndReset(t *testing.T) {
	f := NewFake(time.Time{})
	tm := f.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop on active timer: got false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop: got true, want false")
	}
	f.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	tm.Reset(time.Second)
	tm.Reset(3 * time.Second)
	if got := f.Pending(); got != 1 {
		t.Fatalf("pending after two resets: got %d, want 1", got)
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
		t.Fatal("timer fired at the superseded deadline")
	default:
	}
	f.Advance(2 * time.Second)
	<-tm.C()
}

func TestFakeWaitForTimers(t *testing.T) {
	f := NewFake(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { f.NewTimer(time.Minute) }()
	if err := f.WaitForTimers(ctx, 1); err != nil {
		t.Fatalf("WaitForTimers: %v", err)
	}
	if d, ok := f.NextDeadline(); !ok || d.Sub(f.Now()) != time.Minute {
		t.Fatalf("NextDeadline: got %v %v, want now+1m", d, ok)
	}
}

func TestFakeWaitForDeadline(t *testing.T) {
	f := NewFake(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		f.NewTimer(time.Second)
		f.NewTimer(2 * time.Second)
	}()
	if err := f.WaitForDeadline(ctx, f.Now().Add(2*time.Second)); err != nil {
		t.Fatalf("WaitForDeadline: %v", err)
	}
}
