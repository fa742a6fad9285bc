package limit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// client returns a client with the settings of SCALEOUT §4 (those of
// cluster.Open): no retries, one dial attempt, context deadlines honoured.
func client(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr(),
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           time.Second,
		ContextTimeoutEnabled: true,
		PoolSize:              16,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisNow reads the Redis clock.
func redisNow(t testing.TB, c *redis.Client) time.Time {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// flood runs workers goroutines per store, each calling fn in a loop until
// stop closes; fn's index is the store's.
func flood(stores, workers int, stop <-chan struct{}, fn func(store int, rng *rand.Rand)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for s := range stores {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(s), uint64(w)))
				for {
					select {
					case <-stop:
						return
					default:
					}
					fn(s, rng)
				}
			}()
		}
	}
	return &wg
}

// TestRedisGCRAExact floods one limit from 3 stores (3 clients, 3 goroutines
// each) and checks that it admitted B + R·T ± 1 % over the run, T measured on
// the Redis clock; and that every refusal by the shared team item took
// nothing from the store's own key item.
func TestRedisGCRAExact(t *testing.T) {
	srv := redistest.Start(t)
	const (
		rate  = 1000.0
		burst = 500
		run   = 2 * time.Second
	)
	stores := make([]*RedisStore, 3)
	for i := range stores {
		stores[i] = NewRedisStore(client(t, srv), RedisOptions{Timeout: time.Second})
	}
	var admitted [3]atomic.Int64
	var errs atomic.Int64
	admin := srv.Client()
	t0 := redisNow(t, admin)
	stop := make(chan struct{})
	wg := flood(3, 3, stop, func(s int, _ *rand.Rand) {
		r, err := stores[s].Take(context.Background(), []Item{
			{Key: fmt.Sprintf("key:%d", s), Scope: "api_key", Rate: 1e-3, Burst: 1e9, Cost: 1},
			{Key: "team:a", Scope: "team", Rate: rate, Burst: burst, Cost: 1},
		})
		switch {
		case err != nil:
			errs.Add(1)
		case r.Allowed:
			admitted[s].Add(1)
		}
	})
	time.Sleep(run)
	close(stop)
	wg.Wait()
	t1 := redisNow(t, admin)
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d errors", n)
	}
	var total int64
	for s := range stores {
		n := admitted[s].Load()
		total += n
		r, err := stores[s].Take(context.Background(), []Item{{Key: fmt.Sprintf("key:%d", s), Rate: 1e-3, Burst: 1e9}})
		if err != nil {
			t.Fatal(err)
		}
		if used := 1e9 - r.Remaining; used != n {
			t.Errorf("store %d: key item charged %d, admitted %d: refusals must charge nothing", s, used, n)
		}
	}
	elapsed := t1.Sub(t0).Seconds()
	want := burst + rate*elapsed
	diff := (float64(total) - want) / want
	t.Logf("admitted %d over %.3fs (Redis TIME); B + R·T = %.0f; error %+.2f%%", total, elapsed, want, 100*diff)
	if math.Abs(diff) > 0.01 {
		t.Errorf("admitted %d, want B + R·T = %.0f ± 1%%", total, want)
	}
}

// TestRedisTPMReservations runs 3 stores × 4 workers reserving an estimate,
// topping up in 256-token blocks when the output outgrows it, and
// reconciling to the actual usage (some under, some over the estimate). The
// tokens used must be B + R·T ± 2 %.
func TestRedisTPMReservations(t *testing.T) {
	srv := redistest.Start(t)
	const (
		rate  = 40_000.0 // tokens per second
		burst = 40_000
		run   = 3 * time.Second
	)
	stores := make([]*RedisStore, 3)
	for i := range stores {
		stores[i] = NewRedisStore(client(t, srv), RedisOptions{Timeout: time.Second})
	}
	admin := srv.Client()
	var used, reservations, refused, errs atomic.Int64
	t0 := redisNow(t, admin)
	stop := make(chan struct{})
	items := []Item{
		{Key: "rpm:k", Scope: "api_key", Rate: 1e6, Burst: 1e6, Cost: 1},
		{Key: "tpm:k", Scope: "tokens", Rate: rate, Burst: burst},
	}
	wg := flood(3, 4, stop, func(s int, rng *rand.Rand) {
		ctx := context.Background()
		prompt, maxOut := 100+rng.Int64N(400), int64(600)
		res, r, err := Reserve(ctx, stores[s], items, prompt+maxOut)
		if err != nil {
			errs.Add(1)
			return
		}
		if res == nil {
			refused.Add(1)
			time.Sleep(r.RetryAfter / 4)
			return
		}
		reservations.Add(1)
		// the output: usually within max_tokens, sometimes beyond it
		// (a max_tokens the backend ignored), topped up by 256-token blocks
		actual := prompt + rng.Int64N(800)
		for res.Reserved() < actual && res.TopUp(ctx, 256) {
		}
		if err := res.Reconcile(ctx, actual); err != nil {
			errs.Add(1)
		}
		used.Add(actual)
	})
	time.Sleep(run)
	close(stop)
	wg.Wait()
	t1 := redisNow(t, admin)
	if n := errs.Load(); n > 0 {
		t.Fatalf("%d errors", n)
	}
	elapsed := t1.Sub(t0).Seconds()
	want := burst + rate*elapsed
	got := float64(used.Load())
	diff := (got - want) / want
	t.Logf("%d reservations (%d refused), %d tokens used over %.3fs; B + R·T = %.0f; error %+.2f%%",
		reservations.Load(), refused.Load(), used.Load(), elapsed, want, 100*diff)
	if math.Abs(diff) > 0.02 {
		t.Errorf("tokens used %.0f, want B + R·T = %.0f ± 2%%", got, want)
	}
}

// counting wraps a Store and counts its calls in flight.
type counting struct {
	Store
	calls, inFlight, peak atomic.Int64
}

func (c *counting) Take(ctx context.Context, items []Item) (Result, error) {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	defer c.inFlight.Add(-1)
	return c.Store.Take(ctx, items)
}

// TestRedisOutageLocalPolicy kills Redis under load from 3 replicas with the
// local policy: no Take fails, and during the outage the replicas together
// admit B + R·T ± 5 %. After the restart decisions come from Redis again
// within a second.
func TestRedisOutageLocalPolicy(t *testing.T) {
	srv := redistest.Start(t)
	const (
		rate  = 600.0
		burst = 60
	)
	type replica struct {
		r      *Resilient
		local  atomic.Int64 // admitted by the local policy
		redis  atomic.Int64 // the last Redis decision, UnixNano
		errors atomic.Int64
	}
	reps := make([]*replica, 3)
	for i := range reps {
		rp := &replica{}
		rp.r = NewResilient(NewRedisStore(client(t, srv), RedisOptions{Timeout: 50 * time.Millisecond}), ResilientOptions{
			Replicas: func() int { return 3 },
			OpenFor:  200 * time.Millisecond,
		})
		reps[i] = rp
	}
	var outage atomic.Bool
	stop := make(chan struct{})
	wg := flood(3, 2, stop, func(s int, _ *rand.Rand) {
		rp := reps[s]
		res, err := rp.r.Take(context.Background(), []Item{{Key: "global", Scope: "global", Rate: rate, Burst: burst, Cost: 1}})
		switch {
		case err != nil:
			rp.errors.Add(1)
		case res.Source == SourceRedis:
			rp.redis.Store(time.Now().UnixNano())
		case res.Allowed && res.Source == SourceLocal && outage.Load():
			rp.local.Add(1)
		}
		time.Sleep(200 * time.Microsecond) // about 10k checks/s offered in all
	})
	time.Sleep(500 * time.Millisecond)
	srv.Kill()
	outage.Store(true)
	killed := time.Now()
	time.Sleep(2 * time.Second)
	outage.Store(false)
	ended := time.Now()
	srv.Restart()
	restarted := time.Now()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	var local int64
	for i, rp := range reps {
		if n := rp.errors.Load(); n > 0 {
			t.Errorf("replica %d: %d errors", i, n)
		}
		local += rp.local.Load()
		if last := time.Unix(0, rp.redis.Load()); last.Before(restarted) {
			t.Errorf("replica %d: no Redis decision in the second after the restart", i)
		}
	}
	elapsed := ended.Sub(killed).Seconds()
	want := burst + rate*elapsed
	diff := (float64(local) - want) / want
	t.Logf("outage %.3fs: admitted %d locally; B + R·T = %.0f; error %+.2f%%", elapsed, local, want, 100*diff)
	if math.Abs(diff) > 0.05 {
		t.Errorf("admitted %d during the outage, want %.0f ± 5%%", local, want)
	}
}

// TestRedisPaused pauses Redis (SIGSTOP): every check returns within the
// deadline (plus scheduling slack), and while Redis hangs at most one check
// at a time waits on it: the breaker's probe.
func TestRedisPaused(t *testing.T) {
	srv := redistest.Start(t)
	const (
		timeout = 50 * time.Millisecond
		openFor = 300 * time.Millisecond
	)
	inner := &counting{Store: NewRedisStore(client(t, srv), RedisOptions{Timeout: timeout})}
	var probes atomic.Int64
	r := NewResilient(inner, ResilientOptions{OpenFor: openFor, Hooks: Hooks{Breaker: func(from, to BreakerState) {
		if to == BreakerHalfOpen {
			probes.Add(1)
		}
	}}})
	items := []Item{{Key: "k", Rate: 1000, Burst: 1000, Cost: 1}}
	var slowest atomic.Int64
	var errs atomic.Int64
	stop := make(chan struct{})
	wg := flood(1, 4, stop, func(int, *rand.Rand) {
		start := time.Now()
		if _, err := r.Take(context.Background(), items); err != nil {
			errs.Add(1)
		}
		d := int64(time.Since(start))
		for s := slowest.Load(); d > s && !slowest.CompareAndSwap(s, d); s = slowest.Load() {
		}
		time.Sleep(time.Millisecond)
	})
	time.Sleep(200 * time.Millisecond)
	srv.Pause()
	time.Sleep(150 * time.Millisecond) // the checks in flight time out, the breaker opens
	calls, _ := inner.calls.Load(), inner.peak.Swap(0)
	time.Sleep(1200 * time.Millisecond)
	peak, probed := inner.peak.Load(), inner.calls.Load()-calls
	srv.Resume()
	time.Sleep(openFor + 200*time.Millisecond)
	close(stop)
	wg.Wait()
	if n := errs.Load(); n > 0 {
		t.Errorf("%d errors", n)
	}
	t.Logf("slowest check %v; %d probes (%d half-open transitions) in 1.2s paused; at most %d in flight",
		time.Duration(slowest.Load()), probed, probes.Load(), peak)
	if d := time.Duration(slowest.Load()); d > timeout+100*time.Millisecond {
		t.Errorf("slowest check %v, want within the %v deadline (+100ms slack)", d, timeout)
	}
	if peak > 1 {
		t.Errorf("%d checks waited on the paused Redis at once, want 1 (the probe)", peak)
	}
	// one probe per OpenFor + deadline: 1.2s / 350ms ≈ 3–4
	if probed < 2 || probed > 5 {
		t.Errorf("%d probes while paused for 1.2s, want about 3", probed)
	}
	if r.State() != BreakerClosed {
		t.Errorf("breaker %v after Redis resumed, want closed", r.State())
	}
}

// BenchmarkRedisTake measures one Take of three items (key, model, global)
// against a local redis-server, and reports the median.
func BenchmarkRedisTake(b *testing.B) {
	srv := redistest.Start(b)
	s := NewRedisStore(client(b, srv), RedisOptions{})
	items := []Item{
		{Key: "key:bench", Scope: "api_key", Rate: 1e9, Burst: 1e9, Cost: 1},
		{Key: "model:llama", Scope: "model", Rate: 1e9, Burst: 1e9, Cost: 1},
		{Key: "global", Scope: "global", Rate: 1e9, Burst: 1e9, Cost: 1},
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := s.Take(ctx, items); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// TestRedisRespec: a bucket whose rate or burst changed (a reload) keeps
// its tokens up to the new burst, as MemoryStore does: a raised limit frees
// a client at once instead of making it wait out the old rate, and a
// lowered one grants no burst beyond the new one.
func TestRedisRespec(t *testing.T) {
	srv := redistest.Start(t)
	s := NewRedisStore(client(t, srv), RedisOptions{Timeout: time.Second})
	ctx := context.Background()
	take := func(rate float64, burst int64) Result {
		t.Helper()
		res, err := s.Take(ctx, []Item{{Key: "client:a", Rate: rate, Burst: burst, Cost: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// 0.1 per second, burst 2: the third request waits ~10 s.
	for i := range 2 {
		if res := take(0.1, 2); !res.Allowed {
			t.Fatalf("request %d under the old limit refused", i)
		}
	}
	if res := take(0.1, 2); res.Allowed || res.RetryAfter < 9*time.Second {
		t.Fatalf("third request under the old limit: allowed %v, retry after %v; want refused for ~10s", res.Allowed, res.RetryAfter)
	}
	// Raised to 100 per second, burst 100: the empty bucket refills at the
	// new rate, one request every 10 ms, not after the old 10 s.
	res := take(100, 100)
	if !res.Allowed && res.RetryAfter > 20*time.Millisecond {
		t.Fatalf("after raising the limit: refused for %v, want at most one new interval (10ms)", res.RetryAfter)
	}

	// A nearly full bucket lowered to burst 2 keeps only 2 tokens.
	for range 3 {
		if _, err := s.Take(ctx, []Item{{Key: "client:b", Rate: 1000, Burst: 1000, Cost: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	allowed := 0
	for range 5 {
		r, err := s.Take(ctx, []Item{{Key: "client:b", Rate: 0.01, Burst: 2, Cost: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("after lowering a nearly full bucket to burst 2: %d of 5 allowed, want 2", allowed)
	}
}
