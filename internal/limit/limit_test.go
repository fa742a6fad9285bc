package limit

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
	ip3 = netip.MustParseAddr("192.0.2.3")
	ip4 = netip.MustParseAddr("192.0.2.4")
	// noIP is the zero address: no client bucket applies.
	noIP netip.Addr
)

func newLimiter(t *testing.T, cfg Config) (*Limiter, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	return New(cfg, clk), clk
}

// call is one Allow call, an optional clock advance before it, and the
// decision it should return.
type call struct {
	advance time.Duration
	key     string
	keySpec Spec
	ip      netip.Addr
	want    Decision
}

func run(t *testing.T, l *Limiter, clk *clock.Fake, calls []call) {
	t.Helper()
	for i, c := range calls {
		clk.Advance(c.advance)
		if got := l.Allow(c.key, c.keySpec, c.ip); got != c.want {
			t.Errorf("call %d Allow(%q, %+v, %v) = %+v, want %+v", i, c.key, c.keySpec, c.ip, got, c.want)
		}
	}
}

func allowed(scope string, limit, remaining int, reset time.Duration) Decision {
	return Decision{Allowed: true, Scope: scope, Limit: limit, Remaining: remaining, Reset: reset}
}

func denied(scope string, limit int, reset, retryAfter time.Duration) Decision {
	return Decision{Scope: scope, Limit: limit, Reset: reset, RetryAfter: retryAfter}
}

func TestAllowDecisions(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name  string
		cfg   Config
		calls []call
	}{
		{"no limits", Config{}, []call{
			{key: "k", ip: ip1, want: Decision{Allowed: true}},
			{key: "k", keySpec: Spec{}, ip: noIP, want: Decision{Allowed: true}},
		}},
		{"global burst, refill and retry", Config{Global: Spec{RatePerSecond: 2, Burst: 4}}, []call{
			{ip: ip1, want: allowed(ScopeGlobal, 4, 3, 500*ms)},
			{ip: ip2, want: allowed(ScopeGlobal, 4, 2, 1000*ms)},
			{key: "k", want: allowed(ScopeGlobal, 4, 1, 1500*ms)},
			{want: allowed(ScopeGlobal, 4, 0, 2000*ms)},
			{want: denied(ScopeGlobal, 4, 2000*ms, 500*ms)},
			{advance: 250 * ms, want: denied(ScopeGlobal, 4, 1750*ms, 250*ms)},
			{advance: 249 * ms, want: denied(ScopeGlobal, 4, 1501*ms, 1*ms)},
			{advance: 1 * ms, want: allowed(ScopeGlobal, 4, 0, 2000*ms)},
			{advance: 10 * time.Second, want: allowed(ScopeGlobal, 4, 3, 500*ms)},
		}},
		{"retry after is at least a millisecond", Config{Global: Spec{RatePerSecond: 1000, Burst: 1}}, []call{
			{want: allowed(ScopeGlobal, 1, 0, 1*ms)},
			{advance: 999_999, want: denied(ScopeGlobal, 1, 1, 1*ms)},
		}},
		{"fractional rate", Config{PerClient: Spec{RatePerSecond: 0.5}}, []call{
			{ip: ip1, want: allowed(ScopeClient, 1, 0, 2*time.Second)},
			{advance: time.Second, ip: ip1, want: denied(ScopeClient, 1, time.Second, time.Second)},
			{advance: time.Second, ip: ip1, want: allowed(ScopeClient, 1, 0, 2*time.Second)},
		}},
		{"per key default", Config{PerKey: Spec{RatePerSecond: 1, Burst: 2}}, []call{
			{key: "a", want: allowed(ScopeAPIKey, 2, 1, time.Second)},
			{key: "a", want: allowed(ScopeAPIKey, 2, 0, 2*time.Second)},
			{key: "a", want: denied(ScopeAPIKey, 2, 2*time.Second, time.Second)},
			{key: "b", want: allowed(ScopeAPIKey, 2, 1, time.Second)},
			{key: "", ip: ip1, want: Decision{Allowed: true}},
		}},
		{"key spec overrides per key", Config{PerKey: Spec{RatePerSecond: 1, Burst: 1}}, []call{
			{key: "big", keySpec: Spec{RatePerSecond: 5}, want: allowed(ScopeAPIKey, 5, 4, 200*ms)},
			{key: "small", keySpec: Spec{}, want: allowed(ScopeAPIKey, 1, 0, time.Second)},
			{key: "burst only", keySpec: Spec{Burst: 9}, want: allowed(ScopeAPIKey, 1, 0, time.Second)},
		}},
		{"key spec without a per-key default", Config{}, []call{
			{key: "own", keySpec: Spec{RatePerSecond: 1, Burst: 1}, want: allowed(ScopeAPIKey, 1, 0, time.Second)},
			{key: "own", keySpec: Spec{RatePerSecond: 1, Burst: 1}, want: denied(ScopeAPIKey, 1, time.Second, time.Second)},
			{key: "none", want: Decision{Allowed: true}},
		}},
		{"client limit applies to keyed requests too", Config{PerClient: Spec{RatePerSecond: 1, Burst: 1}}, []call{
			{key: "a", ip: ip1, want: allowed(ScopeClient, 1, 0, time.Second)},
			{key: "b", ip: ip1, want: denied(ScopeClient, 1, time.Second, time.Second)},
			{key: "a", ip: ip2, want: allowed(ScopeClient, 1, 0, time.Second)},
			{key: "a", ip: noIP, want: Decision{Allowed: true}},
		}},
		{"ipv4-mapped address shares the ipv4 bucket", Config{PerClient: Spec{RatePerSecond: 1, Burst: 1}}, []call{
			{ip: ip1, want: allowed(ScopeClient, 1, 0, time.Second)},
			{ip: netip.MustParseAddr("::ffff:192.0.2.1"), want: denied(ScopeClient, 1, time.Second, time.Second)},
		}},
		{"most restrictive bucket is reported", Config{
			Global:    Spec{RatePerSecond: 10, Burst: 10},
			PerKey:    Spec{RatePerSecond: 1, Burst: 3},
			PerClient: Spec{RatePerSecond: 1, Burst: 2},
		}, []call{
			{key: "a", ip: ip1, want: allowed(ScopeClient, 2, 1, time.Second)},
			{key: "a", ip: ip2, want: allowed(ScopeAPIKey, 3, 1, 2*time.Second)},
			{key: "b", ip: ip3, want: allowed(ScopeClient, 2, 1, time.Second)},
		}},
		{"tie goes to the earlier bucket", Config{
			Global:    Spec{RatePerSecond: 1, Burst: 2},
			PerKey:    Spec{RatePerSecond: 1, Burst: 2},
			PerClient: Spec{RatePerSecond: 1, Burst: 2},
		}, []call{
			{key: "a", ip: ip1, want: allowed(ScopeGlobal, 2, 1, time.Second)},
		}},
		{"global decides before key and client", Config{
			Global:    Spec{RatePerSecond: 1, Burst: 1},
			PerKey:    Spec{RatePerSecond: 1, Burst: 1},
			PerClient: Spec{RatePerSecond: 1, Burst: 1},
		}, []call{
			{key: "a", ip: ip1, want: allowed(ScopeGlobal, 1, 0, time.Second)},
			{key: "a", ip: ip1, want: denied(ScopeGlobal, 1, time.Second, time.Second)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, clk := newLimiter(t, c.cfg)
			run(t, l, clk, c.calls)
		})
	}
}

// TestDeniedTakesNoToken checks that a request denied by one bucket leaves
// every other bucket untouched.
func TestDeniedTakesNoToken(t *testing.T) {
	l, clk := newLimiter(t, Config{
		Global:    Spec{RatePerSecond: 1, Burst: 10},
		PerKey:    Spec{RatePerSecond: 1, Burst: 1},
		PerClient: Spec{RatePerSecond: 1, Burst: 2},
	})
	run(t, l, clk, []call{
		// global 9, key a 0, ip1 1.
		{key: "a", ip: ip1, want: allowed(ScopeAPIKey, 1, 0, time.Second)},
		// Denied by key a: global and ip1 keep their tokens.
		{key: "a", ip: ip1, want: denied(ScopeAPIKey, 1, time.Second, time.Second)},
		{key: "a", ip: ip1, want: denied(ScopeAPIKey, 1, time.Second, time.Second)},
		// global 8, ip1 0: ip1 still had its second token.
		{ip: ip1, want: allowed(ScopeClient, 2, 0, 2*time.Second)},
		// Denied by ip1: key b's bucket is created full and keeps its token.
		{key: "b", ip: ip1, want: denied(ScopeClient, 2, 2*time.Second, time.Second)},
		// global 7, key b 0, ip2 1: key b still had its token, and global
		// went from 8 to 7 only.
		{key: "b", ip: ip2, want: allowed(ScopeAPIKey, 1, 0, time.Second)},
		{ip: ip3, want: allowed(ScopeClient, 2, 1, time.Second)},
		{want: allowed(ScopeGlobal, 10, 5, 5*time.Second)},
	})
}

func TestWhitelistAndBypass(t *testing.T) {
	cfg := Config{
		Global:     Spec{RatePerSecond: 1, Burst: 1},
		PerKey:     Spec{RatePerSecond: 1, Burst: 1},
		PerClient:  Spec{RatePerSecond: 1, Burst: 1},
		Whitelist:  []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("2001:db8::/32"), {}},
		BypassKeys: []string{"ops"},
	}
	open := Decision{Allowed: true}
	cases := []struct {
		name string
		key  string
		ip   netip.Addr
	}{
		{"whitelisted ipv4 in an unmasked prefix", "", netip.MustParseAddr("10.200.0.1")},
		{"whitelisted ipv4-mapped", "", netip.MustParseAddr("::ffff:10.0.0.9")},
		{"whitelisted ipv6", "a", netip.MustParseAddr("2001:db8::7")},
		{"whitelisted ipv6 with zone", "a", netip.MustParseAddr("2001:db8::7%eth0")},
		{"bypass key", "ops", ip1},
		{"bypass key without address", "ops", noIP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, clk := newLimiter(t, cfg)
			calls := make([]call, 5)
			for i := range calls {
				calls[i] = call{key: c.key, ip: c.ip, want: open}
			}
			// No token was taken from the global bucket.
			calls = append(calls, call{key: "other", ip: ip2, want: allowed(ScopeGlobal, 1, 0, time.Second)})
			run(t, l, clk, calls)
			if got := l.Tracked(); got != 2 {
				t.Errorf("Tracked() = %d, want 2 (key other and ip2; the bypassed requests made no buckets)", got)
			}
		})
	}
}

func TestReconfigure(t *testing.T) {
	base := Config{
		Global:    Spec{RatePerSecond: 1, Burst: 5},
		PerKey:    Spec{RatePerSecond: 1, Burst: 5},
		PerClient: Spec{RatePerSecond: 1, Burst: 5},
	}
	with := func(f func(*Config)) Config {
		c := base
		f(&c)
		return c
	}
	cases := []struct {
		name string
		next Config
		// The decision of one more request for key a from ip1, after three
		// were taken from every bucket (2 tokens left in each).
		want Decision
	}{
		{"unchanged keeps tokens", base, allowed(ScopeGlobal, 5, 1, 4*time.Second)},
		{"other fields changed keeps tokens", with(func(c *Config) { c.BypassKeys = []string{"x"} }), allowed(ScopeGlobal, 5, 1, 4*time.Second)},
		{"larger global burst keeps tokens", with(func(c *Config) { c.Global.Burst = 10 }), allowed(ScopeGlobal, 10, 1, 9*time.Second)},
		{"smaller key burst caps tokens", with(func(c *Config) { c.PerKey.Burst = 1 }), allowed(ScopeAPIKey, 1, 0, time.Second)},
		{"faster client rate keeps tokens", with(func(c *Config) { c.PerClient.RatePerSecond = 4 }), allowed(ScopeGlobal, 5, 1, 4*time.Second)},
		{"global removed", with(func(c *Config) { c.Global = Spec{} }), allowed(ScopeAPIKey, 5, 1, 4*time.Second)},
		{"client removed forgets clients", with(func(c *Config) { c.PerClient = Spec{}; c.Global = Spec{} }), allowed(ScopeAPIKey, 5, 1, 4*time.Second)},
		{"key limit removed", with(func(c *Config) { c.PerKey = Spec{}; c.Global = Spec{} }), allowed(ScopeClient, 5, 1, 4*time.Second)},
		{"whitelisted now", with(func(c *Config) { c.Whitelist = []netip.Prefix{netip.PrefixFrom(ip1, 32)} }), Decision{Allowed: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, _ := newLimiter(t, base)
			for range 3 {
				l.Allow("a", Spec{}, ip1)
			}
			l.Reconfigure(c.next)
			if got := l.Allow("a", Spec{}, ip1); got != c.want {
				t.Errorf("Allow after Reconfigure = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestReconfigureGlobalOffAndOnStartsFull(t *testing.T) {
	cfg := Config{Global: Spec{RatePerSecond: 1, Burst: 3}}
	l, clk := newLimiter(t, cfg)
	for range 3 {
		l.Allow("", Spec{}, noIP)
	}
	l.Reconfigure(Config{})
	l.Reconfigure(cfg)
	run(t, l, clk, []call{{want: allowed(ScopeGlobal, 3, 2, time.Second)}})
}

func TestReconfigureForgetsClientsAndTrims(t *testing.T) {
	l, _ := newLimiter(t, Config{PerKey: Spec{RatePerSecond: 1}, PerClient: Spec{RatePerSecond: 1}})
	for i := range 10 {
		l.Allow(fmt.Sprintf("key-%d", i), Spec{}, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	if got := l.Tracked(); got != 20 {
		t.Fatalf("Tracked() = %d, want 20", got)
	}
	l.Reconfigure(Config{PerKey: Spec{RatePerSecond: 1}, MaxTracked: 4})
	if got := l.Tracked(); got != 4 {
		t.Fatalf("Tracked() after forgetting clients and a bound of 4 = %d, want 4", got)
	}
	// The four most recently used keys (6..9) are kept: key-9 has no token
	// left, key-5 starts again full.
	if got := l.Allow("key-9", Spec{}, noIP); got.Allowed {
		t.Errorf("key-9 Allow = %+v, want denied (its bucket was kept)", got)
	}
	if got := l.Allow("key-5", Spec{}, noIP); !got.Allowed {
		t.Errorf("key-5 Allow = %+v, want allowed (its bucket was forgotten)", got)
	}
}

func TestLRUEviction(t *testing.T) {
	l, clk := newLimiter(t, Config{PerClient: Spec{RatePerSecond: 1, Burst: 1}, MaxTracked: 3})
	full := allowed(ScopeClient, 1, 0, time.Second)
	empty := denied(ScopeClient, 1, time.Second, time.Second)
	run(t, l, clk, []call{
		{ip: ip1, want: full},
		{ip: ip2, want: full},
		{ip: ip3, want: full},
		{ip: ip1, want: empty}, // ip1 is now the most recently used
		{ip: ip4, want: full},  // evicts ip2, the least recently used
		{ip: ip1, want: empty}, // still tracked
		{ip: ip3, want: empty}, // still tracked
		{ip: ip2, want: full},  // forgotten, starts full again; evicts ip4
		{ip: ip4, want: full},  // forgotten too; evicts ip1
		{ip: ip1, want: full},
	})
	if got := l.Tracked(); got != 3 {
		t.Errorf("Tracked() = %d, want 3", got)
	}
}

func TestLRUMixesKeysAndClients(t *testing.T) {
	l, _ := newLimiter(t, Config{PerKey: Spec{RatePerSecond: 1}, PerClient: Spec{RatePerSecond: 1}, MaxTracked: 1})
	for i := range 5 {
		l.Allow(fmt.Sprintf("key-%d", i), Spec{}, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
		if got := l.Tracked(); got != 1 {
			t.Fatalf("call %d: Tracked() = %d, want 1", i, got)
		}
		if got := l.nfree; got > maxFree {
			t.Fatalf("call %d: %d entries kept for reuse, want at most %d", i, got, maxFree)
		}
	}
}

func TestTrackedBoundUnderFlood(t *testing.T) {
	const (
		bound = 1000
		flood = 1_000_000
	)
	l, clk := newLimiter(t, Config{
		PerKey:     Spec{RatePerSecond: 1},
		PerClient:  Spec{RatePerSecond: 1, Burst: 1},
		MaxTracked: bound,
	})
	var addr [16]byte
	addr[0] = 0x20
	for i := range flood {
		addr[12], addr[13], addr[14], addr[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		key := ""
		if i%1000 == 0 {
			key = fmt.Sprintf("key-%d", i)
		}
		if d := l.Allow(key, Spec{}, netip.AddrFrom16(addr)); !d.Allowed {
			t.Fatalf("request %d from a new address was denied: %+v", i, d)
		}
		if n := len(l.keys) + len(l.clients); n > bound {
			t.Fatalf("after %d requests %d entries are tracked, want at most %d", i+1, n, bound)
		}
		if i%100_000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	if got := l.Tracked(); got != bound {
		t.Errorf("Tracked() = %d, want %d", got, bound)
	}
	n := 0
	for e := l.lru.next; e != &l.lru; e = e.next {
		n++
	}
	if n != bound {
		t.Errorf("recency list holds %d entries, want %d", n, bound)
	}
}

func TestAllowParallel(t *testing.T) {
	const (
		workers = 8
		calls   = 500
		burst   = 1000
	)
	l, _ := newLimiter(t, Config{
		Global:     Spec{RatePerSecond: 1, Burst: burst},
		PerKey:     Spec{RatePerSecond: 1, Burst: burst},
		PerClient:  Spec{RatePerSecond: 1, Burst: burst},
		MaxTracked: 16,
	})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
	)
	for w := range workers {
		wg.Go(func() {
			n := 0
			for i := range calls {
				ip := netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 4)})
				if l.Allow(fmt.Sprintf("key-%d", i%3), Spec{}, ip).Allowed {
					n++
				}
				if i%100 == 0 {
					l.Reconfigure(Config{
						Global:     Spec{RatePerSecond: 1, Burst: burst},
						PerKey:     Spec{RatePerSecond: 1, Burst: burst},
						PerClient:  Spec{RatePerSecond: 1, Burst: burst},
						MaxTracked: 16,
					})
				}
			}
			mu.Lock()
			granted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	// The clock never moves, so the global bucket grants exactly its burst.
	if granted != burst {
		t.Errorf("granted %d of %d requests, want exactly the global burst %d", granted, workers*calls, burst)
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	l, clk := newLimiter(t, Config{
		Global:    Spec{RatePerSecond: 1e9},
		PerKey:    Spec{RatePerSecond: 1e9},
		PerClient: Spec{RatePerSecond: 1e9},
	})
	l.Allow("key", Spec{}, ip1)
	n := testing.AllocsPerRun(1000, func() {
		clk.Advance(time.Microsecond)
		l.Allow("key", Spec{}, ip1)
	})
	if n != 0 {
		t.Errorf("Allow allocates %v times per call for an existing key and client, want 0", n)
	}
}

func TestNewNilClockUsesRealClock(t *testing.T) {
	l := New(Config{Global: Spec{RatePerSecond: 1, Burst: 1}}, nil)
	if d := l.Allow("", Spec{}, noIP); !d.Allowed {
		t.Errorf("first Allow = %+v, want allowed", d)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(Config{
		Global:    Spec{RatePerSecond: 1e9},
		PerKey:    Spec{RatePerSecond: 1e9},
		PerClient: Spec{RatePerSecond: 1e9},
	}, clock.Real())
	l.Allow("key-1", Spec{}, ip1)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("key-1", Spec{}, ip1)
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(Config{
		Global:    Spec{RatePerSecond: 1e9},
		PerKey:    Spec{RatePerSecond: 1e9},
		PerClient: Spec{RatePerSecond: 1e9},
	}, clock.Real())
	l.Allow("key-1", Spec{}, ip1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("key-1", Spec{}, ip1)
		}
	})
}

func ExampleLimiter_Allow() {
	clk := clock.NewFake(time.Time{})
	l := New(Config{PerKey: Spec{RatePerSecond: 0.5, Burst: 2}}, clk)
	for range 3 {
		d := l.Allow("team-a", Spec{}, netip.MustParseAddr("192.0.2.10"))
		fmt.Println(d.Allowed, d.Scope, d.Limit, d.Remaining, FormatReset(d.Reset), d.RetryAfter)
	}
	// Output:
	// true api_key 2 1 2s 0s
	// true api_key 2 0 4s 0s
	// false api_key 2 0 4s 2s
}
