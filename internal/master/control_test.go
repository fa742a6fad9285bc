package master

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

func TestControl(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", ControlSocket(dir))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, 2, true)
	h.sup.Start()
	w0, w1 := h.started(), h.started()
	reloads := make(chan struct{}, 4)
	c := newControl(ln, h.sup, nil, func() { reloads <- struct{}{} })
	c.log = h.sup.log
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { c.serve(ctx); close(served) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})

	dial := func(index, pid int) (*Link, []string, chan Message) {
		t.Helper()
		l, drained, err := Dial(ctx, dir, index, pid)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		got := make(chan Message, 8)
		go func() { _ = l.Serve(ctx, func(m Message) { got <- m }) }()
		return l, drained, got
	}
	expect := func(ch chan Message, want Message) {
		t.Helper()
		select {
		case m := <-ch:
			if m.Op != want.Op || m.Backend != want.Backend {
				t.Fatalf("got %+v, want %+v", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %+v received", want)
		}
	}

	l0, drained, got0 := dial(0, w0.pid)
	if len(drained) != 0 {
		t.Fatalf("drained at start: %v", drained)
	}
	l1, _, got1 := dial(1, w1.pid)

	// ready reaches the supervisor.
	if err := l0.Send(Message{Op: OpReady}); err != nil {
		t.Fatal(err)
	}
	if err := l1.Send(Message{Op: OpReady}); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	if err := h.sup.WaitReady(rctx); err != nil {
		t.Fatalf("workers not ready after their ready messages: %v", err)
	}

	// drain from worker 0 reaches worker 1 only.
	if err := l0.Send(Message{Op: OpDrain, Backend: "b x"}); err != nil {
		t.Fatal(err)
	}
	expect(got1, Message{Op: OpDrain, Backend: "b x"})
	// reload from worker 1 reaches worker 0 and the master.
	if err := l1.Send(Message{Op: OpReload}); err != nil {
		t.Fatal(err)
	}
	expect(got0, Message{Op: OpReload})
	select {
	case <-reloads:
	case <-time.After(5 * time.Second):
		t.Fatal("the master was not told about the reload")
	}
	select {
	case m := <-got1:
		t.Fatalf("the sender got its own message back: %+v", m)
	case m := <-got0:
		t.Fatalf("worker 0 got an extra message: %+v", m)
	default:
	}

	// A restarted worker 1 is told what is drained.
	l1.Close()
	_, drained, got1 = dial(1, w1.pid+1000)
	if !slices.Equal(drained, []string{"b x"}) {
		t.Fatalf("drained for a new worker: got %v, want [b x]", drained)
	}
	if err := l0.Send(Message{Op: OpUndrain, Backend: "b x"}); err != nil {
		t.Fatal(err)
	}
	expect(got1, Message{Op: OpUndrain, Backend: "b x"}) // forwarded after the master forgot it
	if _, drained, _ = dial(1, w1.pid+2000); len(drained) != 0 {
		t.Fatalf("drained after undrain: got %v, want none", drained)
	}
}
