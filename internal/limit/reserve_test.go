package limit

import (
	"context"
	"testing"

	"github.com/continuumhq/continuum/internal/clock"
)

func TestReservation(t *testing.T) {
	ctx := context.Background()
	tpm := Item{Key: "tpm", Scope: "tokens", Rate: slow, Burst: 1000}
	rpm := Item{Key: "rpm", Scope: "api_key", Rate: slow, Burst: 10, Cost: 1}
	// left reads the token bucket.
	left := func(s Store) int64 {
		t.Helper()
		read := tpm
		read.Cost = 0
		r, err := s.Take(ctx, []Item{read})
		if err != nil {
			t.Fatal(err)
		}
		return r.Remaining
	}
	cases := []struct {
		name     string
		estimate int64
		topUps   []int64
		actual   int64 // -1: Refund
		want     int64 // tokens left afterwards
	}{
		{"refund of the unused part", 100, nil, 60, 940},
		{"exact", 100, nil, 100, 900},
		{"overrun charged as debt", 100, nil, 300, 700},
		{"top-ups then reconcile", 100, []int64{256, 256}, 500, 500},
		{"refund before the first token restores exactly", 400, []int64{256}, -1, 1000},
		{"overrun past the bucket leaves debt", 900, nil, 1500, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewMemoryStore(MemoryOptions{Clock: clock.NewFake(start)})
			res, err := func() (*Reservation, error) {
				r, res, err := Reserve(ctx, s, []Item{rpm, tpm}, c.estimate)
				if err == nil && !res.Allowed {
					t.Fatalf("Reserve refused: %+v", res)
				}
				return r, err
			}()
			if err != nil {
				t.Fatal(err)
			}
			if got := left(s); got != 1000-c.estimate {
				t.Errorf("after Reserve: %d left, want %d", got, 1000-c.estimate)
			}
			for _, n := range c.topUps {
				if !res.TopUp(ctx, n) {
					t.Errorf("TopUp(%d) refused", n)
				}
			}
			if c.actual < 0 {
				err = res.Refund(ctx)
			} else {
				err = res.Reconcile(ctx, c.actual)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := left(s); got != c.want {
				t.Errorf("after reconcile: %d left, want %d", got, c.want)
			}
			// exactly once
			res.Reconcile(ctx, 0)
			res.Refund(ctx)
			if res.TopUp(ctx, 10) {
				t.Errorf("TopUp after Reconcile granted")
			}
			if got := left(s); got != c.want {
				t.Errorf("after a second reconcile: %d left, want %d (no change)", got, c.want)
			}
		})
	}
}

func TestReservationRefusedChargesNothing(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryOptions{Clock: clock.NewFake(start)})
	tpm := Item{Key: "tpm", Rate: slow, Burst: 1000}
	rpm := Item{Key: "rpm", Rate: slow, Burst: 10, Cost: 1}
	r, _, _ := Reserve(ctx, s, []Item{rpm, tpm}, 1000)
	if r == nil {
		t.Fatal("first Reserve refused")
	}
	r2, res, err := Reserve(ctx, s, []Item{rpm, tpm}, 10)
	if err != nil || r2 != nil || res.Allowed || res.Denied != 1 {
		t.Fatalf("second Reserve = %v, %+v, %v; want refused by the token item", r2, res, err)
	}
	rpm.Cost = 0
	if got, _ := s.Take(ctx, []Item{rpm}); got.Remaining != 9 {
		t.Errorf("request bucket %d left, want 9: a refused reservation charges nothing", got.Remaining)
	}
	// a refused top-up changes nothing; the overrun becomes debt at reconcile
	if r.TopUp(ctx, 256) {
		t.Errorf("TopUp on an empty bucket granted")
	}
	if err := r.Reconcile(ctx, 1256); err != nil {
		t.Fatal(err)
	}
	tpm.Cost = -255
	if got, _ := s.Take(ctx, []Item{tpm}); got.Remaining != 0 {
		t.Errorf("after refunding 255 of a 256 debt: %d left, want 0", got.Remaining)
	}
}
