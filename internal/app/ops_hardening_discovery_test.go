package app_test

// Hardening (operations): model discovery normalises a backend's list before
// comparing it, so a backend that reports its models unsorted or with
// duplicates does not rebuild the routing snapshot at every refresh.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// TestOpsHardeningDiscoveryUnsortedKeepsSnapshot: backend y reports
// [z, a, a]. Round robin over x and y must keep alternating across several
// refreshes; a rebuilt snapshot would restart the rotation at x every time.
func TestOpsHardeningDiscoveryUnsortedKeepsSnapshot(t *testing.T) {
	t.Parallel()
	const ttl = time.Minute
	e := start(t,
		withFakeClock(),
		withBackend("x", mock.Options{Models: []string{"a"}}),
		withBackend("y", mock.Options{Models: []string{"z", "a", "a"}}),
		withDiscovery("y"),
		withConfig(func(c *config.Config) {
			c.Cache.ModelCacheTTL = ttl
			c.SelectionStrategy = "RoundRobin"
		}),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Discovery started at the fake clock's start; each round ends by
	// arming the next refresh timer one TTL later.
	next := e.Clock.Now().Add(ttl)
	var got []string
	for round := 0; round < 5; round++ {
		if err := e.Clock.WaitForDeadline(ctx, next); err != nil {
			t.Fatalf("round %d: discovery did not arm its refresh timer: %v", round, err)
		}
		resp, body := e.Post("/v1/chat/completions", chatBody("a", false))
		if resp.StatusCode != 200 {
			t.Fatalf("round %d: got %d %s, want 200", round, resp.StatusCode, body)
		}
		got = append(got, resp.Header.Get("X-Continuum-Backend"))
		e.Clock.Advance(ttl)
		next = next.Add(ttl)
	}
	if err := e.Clock.WaitForDeadline(ctx, next); err != nil {
		t.Fatalf("the last discovery round did not finish: %v", err)
	}
	if want := "x y x y x"; strings.Join(got, " ") != want {
		t.Errorf("round robin across refreshes: got %q, want %q (a rebuilt snapshot restarts the rotation)", strings.Join(got, " "), want)
	}
	if n := strings.Count(e.Logs.String(), "msg=\"models discovered\""); n != 1 {
		t.Errorf("got %d \"models discovered\" lines over 5 refreshes, want 1 (the list never changed):\n%s", n, e.Logs.String())
	}
	if b := e.Backend("y"); strings.Join(b.Models, ",") != "a,z" {
		t.Errorf("backend y models: got %v, want [a z] (sorted, deduplicated)", b.Models)
	}
}
