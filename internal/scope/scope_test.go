package scope

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type recorder struct {
	n     atomic.Int32
	cause error
}

func (r *recorder) Cancel(cause error) { r.cause = cause; r.n.Add(1) }

var errWhy = errors.New("why")

func TestCancelReachesChildrenAndHooks(t *testing.T) {
	root := New(context.Background())
	child := New(root)
	h1, h2, h3 := new(recorder), new(recorder), new(recorder)
	for _, h := range []Hook{h1, h2, h3} { // three: one past the inline array
		if !child.Watch(h) {
			t.Fatal("Watch on a live scope: got false, want true")
		}
	}
	if child.Err() != nil || child.Cause() != nil {
		t.Fatalf("before Cancel: got Err %v, Cause %v; want nil, nil", child.Err(), child.Cause())
	}
	root.Cancel(errWhy)
	root.Cancel(errors.New("second")) // no effect
	for i, h := range []*recorder{h1, h2, h3} {
		if h.n.Load() != 1 || h.cause != errWhy {
			t.Errorf("hook %d: told %d times with %v; want once with %v", i, h.n.Load(), h.cause, errWhy)
		}
	}
	if got := Cause(child); got != errWhy {
		t.Errorf("child's Cause: got %v, want %v", got, errWhy)
	}
	if child.Err() != context.Canceled {
		t.Errorf("child's Err: got %v, want context.Canceled", child.Err())
	}
	select {
	case <-child.Done():
	default:
		t.Error("Done of an ended scope is not closed")
	}
	if child.Watch(new(recorder)) {
		t.Error("Watch on an ended scope: got true, want false")
	}
	if late := New(root); late.Cause() != errWhy {
		t.Errorf("a scope made from an ended one: got cause %v, want %v", late.Cause(), errWhy)
	}
}

func TestUnwatchAndRelease(t *testing.T) {
	root := New(context.Background())
	h := new(recorder)
	root.Watch(h)
	if !root.Unwatch(h) {
		t.Fatal("Unwatch of a registered hook: got false, want true")
	}
	if root.Unwatch(h) {
		t.Fatal("second Unwatch: got true, want false")
	}
	child := New(root)
	child.Release()
	root.Cancel(nil)
	if child.Err() != nil {
		t.Errorf("a released child ended with its parent: Err %v", child.Err())
	}
	if root.Cause() != context.Canceled {
		t.Errorf("Cancel(nil): got cause %v, want context.Canceled", root.Cause())
	}
	// A hook removed after the scope ended reports that it was told.
	r := New(context.Background())
	h2 := new(recorder)
	r.Watch(h2)
	r.Cancel(errWhy)
	if r.Unwatch(h2) || h2.n.Load() != 1 {
		t.Errorf("Unwatch after the end: got true or %d calls; want false and 1 call", h2.n.Load())
	}
}

func TestDoneBeforeCancel(t *testing.T) {
	s := New(context.Background())
	done := s.Done()
	if s.Done() != done {
		t.Fatal("Done returned two channels")
	}
	go s.Cancel(errWhy)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Done was not closed by Cancel")
	}
}

func TestStandardParent(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "v"))
	s := New(parent)
	if s.Value(ctxKey{}) != "v" {
		t.Errorf("Value: got %v, want the parent's", s.Value(ctxKey{}))
	}
	cancel(errWhy)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the scope did not end with its standard parent")
	}
	if s.Cause() != errWhy {
		t.Errorf("got cause %v, want %v", s.Cause(), errWhy)
	}

	dl, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	if s := New(dl); s.Err() != context.DeadlineExceeded {
		<-s.Done()
		if s.Err() != context.DeadlineExceeded {
			t.Errorf("Err under an expired deadline: got %v, want DeadlineExceeded", s.Err())
		}
	}
}

type ctxKey struct{}

func TestStandardChildren(t *testing.T) {
	s := New(context.Background())
	child, cancel := context.WithCancel(s)
	defer cancel()
	var ran sync.WaitGroup
	ran.Add(1)
	stop := context.AfterFunc(s, ran.Done)
	stopped := context.AfterFunc(s, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() {
		t.Fatal("stop before the end: got false, want true")
	}
	s.Cancel(errWhy)
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context.WithCancel child did not end with the scope")
	}
	ran.Wait()
	if stop() {
		t.Error("stop after the function ran: got true, want false")
	}
}

func TestAllocations(t *testing.T) {
	root := New(context.Background())
	h := new(recorder)
	n := testing.AllocsPerRun(100, func() {
		s := New(root)
		s.Watch(h)
		s.Unwatch(h)
		_ = s.Err()
		s.Cancel(errWhy)
		s.Release()
	})
	if n > 1 {
		t.Errorf("a scope made, watched, cancelled and released: got %v allocations, want 1", n)
	}
}

func BenchmarkScope(b *testing.B) {
	root := New(context.Background())
	h := new(recorder)
	b.ReportAllocs()
	for b.Loop() {
		s := New(root)
		s.Watch(h)
		s.Unwatch(h)
		s.Cancel(nil)
		s.Release()
	}
}

func BenchmarkStandard(b *testing.B) {
	root, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithCancelCause(root)
		stop := context.AfterFunc(ctx, func() {})
		stop()
		cancel(nil)
	}
}
