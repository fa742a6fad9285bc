package cluster

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

func TestMain(m *testing.M) {
	redis.SetLogger(&logging.VoidLogger{}) // the restart test makes go-redis log failed dials
	os.Exit(m.Run())
}

func TestOpen(t *testing.T) {
	cases := []struct {
		url      string
		wantKind string // "client", "cluster", or "" for an error
		wantErr  string
	}{
		{"redis://localhost:6379/2", "client", ""},
		{"rediss://user:pw@redis.example:6380", "client", ""},
		{"unix:///run/redis.sock?db=1", "client", ""},
		{"redis+sentinel://s1:26379?addr=s2:26379&master_name=mymaster", "client", ""},
		{"rediss+sentinel://s1:26379?master_name=mymaster&password=pw", "client", ""},
		{"redis+sentinel://s1:26379", "", "master_name is missing"},
		{"redis+cluster://n1:6379?addr=n2:6379&addr=n3:6379", "cluster", ""},
		{"rediss+cluster://n1:6379", "cluster", ""},
		{"http://x", "", "unknown scheme"},
		{"memcached+cluster://x", "", "unknown scheme"},
		{"localhost:6379", "", "no scheme"},
		{"redis://u:secret@h:1?nope=1", "", "redis://****@h:1"},
		{"redis+sentinel://s1:26379?password=secret", "", "redis+sentinel://s1:26379?password=****"},
		{"", "", "empty"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			rdb, err := Open(Options{URL: c.url, PoolSize: 7})
			if c.wantKind == "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Open(%q) error = %v, want one containing %q", c.url, err, c.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", c.url, err)
			}
			defer rdb.Close()
			switch c := rdb.(type) {
			case *redis.Client:
				o := c.Options()
				if o.MaxRetries != 0 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled || o.PoolSize != 7 {
					t.Errorf("options: MaxRetries %d (-1 is stored as 0), DialerRetries %d, ContextTimeoutEnabled %t, PoolSize %d",
						o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, o.PoolSize)
				}
			case *redis.ClusterClient:
				o := c.Options()
				if o.MaxRetries != -1 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled || o.PoolSize != 7 {
					t.Errorf("cluster options: MaxRetries %d, DialerRetries %d, ContextTimeoutEnabled %t, PoolSize %d",
						o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, o.PoolSize)
				}
			}
			if kind := map[bool]string{true: "cluster", false: "client"}[isCluster(rdb)]; kind != c.wantKind {
				t.Errorf("Open(%q) is a %s client, want %s", c.url, kind, c.wantKind)
			}
		})
	}
}

func isCluster(c redis.UniversalClient) bool { _, ok := c.(*redis.ClusterClient); return ok }

// open returns a client for srv as Open builds it.
func open(t *testing.T, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	rdb, err := Open(Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestHeartbeatCount(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	var hbs []*Heartbeat
	for _, id := range []string{"a", "b", "c"} {
		h, err := NewHeartbeat(open(t, srv), "", id, HeartbeatOptions{TTL: 400 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if h.Count() != 1 {
			t.Errorf("Count before the first beat = %d, want 1", h.Count())
		}
		hbs = append(hbs, h)
	}
	for i, h := range hbs {
		if err := h.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		if got := h.Count(); got != i+1 {
			t.Errorf("after %d beats: Count = %d, want %d", i+1, got, i+1)
		}
	}
	if err := hbs[2].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	hbs[0].Beat(ctx)
	if got := hbs[0].Count(); got != 2 {
		t.Errorf("after one left: Count = %d, want 2", got)
	}
	// b stops beating (a crash): it stops counting within its TTL
	time.Sleep(450 * time.Millisecond)
	hbs[0].Beat(ctx)
	if got := hbs[0].Count(); got != 1 {
		t.Errorf("after b's TTL: Count = %d, want 1", got)
	}
	if _, err := NewHeartbeat(nil, "", "", HeartbeatOptions{}); err == nil {
		t.Errorf("an empty replica id was accepted")
	}
}

func TestHeartbeatRun(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(time.Time{})
	other, _ := NewHeartbeat(open(t, srv), "", "other", HeartbeatOptions{TTL: time.Minute})
	h, _ := NewHeartbeat(open(t, srv), "", "me", HeartbeatOptions{TTL: 3 * time.Second, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx, func(err error) { t.Error(err) }); close(done) }()
	waitFor(t, func() bool { return h.Count() == 1 && clk.Pending() == 1 }) // the first beat is done
	other.Beat(context.Background())
	clk.Advance(time.Second) // the refresh every TTL/3
	waitFor(t, func() bool { return h.Count() == 2 })
	cancel()
	<-done
	other.Beat(context.Background())
	if got := other.Count(); got != 1 {
		t.Errorf("after Run ended: Count = %d, want 1 (a clean stop leaves)", got)
	}
}

// waitFor polls cond for up to 2 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCooldownPropagation(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(time.Now()) // Redis prunes on its own clock: keep the fake time real
	a := NewCooldowns(open(t, srv), "", CooldownOptions{Clock: clk})
	b := NewCooldowns(open(t, srv), "", CooldownOptions{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, func() bool { return clk.Pending() == 1 }) // b is polling

	until := clk.Now().Add(30 * time.Second).Truncate(time.Millisecond)
	sent := time.Now()
	if err := a.Set(ctx, "vllm-a", until); err != nil {
		t.Fatal(err)
	}
	if got := a.Until("vllm-a"); !got.Equal(until) {
		t.Errorf("a.Until = %v, want %v at once", got, until)
	}
	waitFor(t, func() bool { return b.Until("vllm-a").Equal(until) })
	lag := time.Since(sent)
	t.Logf("cooldown reached the other replica in %v", lag)
	if lag > time.Second {
		t.Errorf("cooldown took %v to propagate, want under 1s", lag)
	}
	// a shorter cooldown never shortens a longer one
	a.Set(ctx, "vllm-a", until.Add(-10*time.Second))
	if got := a.Until("vllm-a"); !got.Equal(until) {
		t.Errorf("a shorter Set changed the cooldown to %v", got)
	}
	// a change whose notification is lost arrives with the next poll
	later := until.Add(time.Minute)
	srv.Client().ZAdd(ctx, "continuum:cooldowns", redis.Z{Score: float64(later.UnixMilli()), Member: "vllm-b"})
	clk.Advance(DefaultCooldownPoll)
	waitFor(t, func() bool { return b.Until("vllm-b").Equal(later) })
	// an ended cooldown reads as none
	clk.Advance(time.Hour)
	if got := b.Until("vllm-a"); !got.IsZero() {
		t.Errorf("ended cooldown: Until = %v, want zero", got)
	}
}

func TestConfigBus(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(time.Time{})
	type applied struct {
		version string
		data    string
		at      time.Time
	}
	var mu sync.Mutex
	got := make([][]applied, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range got {
		bus := NewConfigBus(open(t, srv), "", ConfigBusOptions{Clock: clk})
		wg.Add(1)
		go func() {
			defer wg.Done()
			bus.Run(ctx, func(v string, d []byte) {
				mu.Lock()
				got[i] = append(got[i], applied{v, string(d), time.Now()})
				mu.Unlock()
			})
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, func() bool { return clk.Pending() == 3 })
	count := func(i int) int { mu.Lock(); defer mu.Unlock(); return len(got[i]) }
	all := func(n int) func() bool {
		return func() bool { return count(0) == n && count(1) == n && count(2) == n }
	}

	pub := NewConfigBus(open(t, srv), "", ConfigBusOptions{Clock: clk})
	sent := time.Now()
	if err := pub.Publish(ctx, "v1", []byte("a: 1\nb: 2\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, all(1))
	var worst time.Duration
	mu.Lock()
	for i := range got {
		if a := got[i][0]; a.version != "v1" || a.data != "a: 1\nb: 2\n" {
			t.Errorf("replica %d applied %+v", i, a)
		}
		worst = max(worst, got[i][0].at.Sub(sent))
	}
	mu.Unlock()
	t.Logf("publish reached all 3 replicas within %v", worst)
	if worst > time.Second {
		t.Errorf("delivery took %v, want under 1s", worst)
	}

	// the same version again is not applied twice
	pub.Publish(ctx, "v1", []byte("a: 1\nb: 2\n"))
	clk.Advance(DefaultConfigPoll)
	time.Sleep(50 * time.Millisecond)
	if !all(1)() {
		t.Errorf("v1 applied twice")
	}

	// a change whose announcement is lost arrives with the next poll
	srv.Client().Set(ctx, "continuum:config", "v2\nc: 3", 0)
	waitFor(t, func() bool { return clk.Pending() == 3 })
	clk.Advance(DefaultConfigPoll)
	waitFor(t, all(2))

	// after a Redis restart the subscribers re-subscribe and re-read
	srv.Kill()
	srv.Restart()
	restarted := time.Now()
	if err := pub.Publish(ctx, "v3", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !all(3)() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !all(3)() {
		t.Fatalf("v3 not applied everywhere 10s after a Redis restart")
	}
	t.Logf("after a Redis restart, v3 applied everywhere within %v", time.Since(restarted))
	if err := pub.Publish(ctx, "bad\nversion", nil); err == nil {
		t.Errorf("a version with a newline was accepted")
	}
}
