package limit

import (
	"context"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// slow is a rate at which nothing refills during a test: a thousandth of a
// unit per second.
const slow = 0.001

// take is one Take call and the decision it should return.
type take struct {
	items         []Item
	wantAllowed   bool
	wantDenied    int
	wantIndex     int
	wantRemaining int64
}

func it(key string, burst, cost int64) Item {
	return Item{Key: key, Scope: "test", Rate: slow, Burst: burst, Cost: cost}
}

func debt(key string, burst, cost int64) Item {
	i := it(key, burst, cost)
	i.Debt = true
	return i
}

// semantics is the behaviour every Store shares, with no time passing.
var semantics = []struct {
	name  string
	takes []take
}{
	{"burst then refuse", []take{
		{[]Item{it("a", 3, 1)}, true, -1, 0, 2},
		{[]Item{it("a", 3, 1)}, true, -1, 0, 1},
		{[]Item{it("a", 3, 1)}, true, -1, 0, 0},
		{[]Item{it("a", 3, 1)}, false, 0, 0, 0},
	}},
	{"a refused team item takes nothing from the key item", []take{
		{[]Item{it("key", 10, 1), it("team", 2, 1)}, true, -1, 1, 1},
		{[]Item{it("key", 10, 1), it("team", 2, 1)}, true, -1, 1, 0},
		{[]Item{it("key", 10, 1), it("team", 2, 1)}, false, 1, 1, 0},
		{[]Item{it("key", 10, 1), it("team", 2, 1)}, false, 1, 1, 0},
		{[]Item{it("key", 10, 0)}, true, -1, 0, 8},
	}},
	{"refund restores exactly, never beyond full", []take{
		{[]Item{it("t", 10, 7)}, true, -1, 0, 3},
		{[]Item{it("t", 10, -4)}, true, -1, 0, 7},
		{[]Item{it("t", 10, -100)}, true, -1, 0, 10},
		{[]Item{it("t", 10, 10)}, true, -1, 0, 0},
	}},
	{"debt is carried into the next requests", []take{
		{[]Item{it("d", 10, 10)}, true, -1, 0, 0},
		{[]Item{debt("d", 10, 5)}, true, -1, 0, 0},
		{[]Item{it("d", 10, -4)}, true, -1, 0, 0},
		{[]Item{it("d", 10, 1)}, false, 0, 0, 0},
		{[]Item{it("d", 10, -2)}, true, -1, 0, 1},
		{[]Item{it("d", 10, 1)}, true, -1, 0, 0},
		{[]Item{it("d", 10, 1)}, false, 0, 0, 0},
	}},
	{"a cost above the burst passes on a full bucket only", []take{
		{[]Item{it("big", 5, 8)}, true, -1, 0, 0},
		{[]Item{it("big", 5, 1)}, false, 0, 0, 0},
		{[]Item{it("big", 5, -3)}, true, -1, 0, 0},
		{[]Item{it("big", 5, -6)}, true, -1, 0, 5},
		{[]Item{it("big", 5, 6)}, true, -1, 0, 0},
	}},
	{"one bucket twice in a batch", []take{
		{[]Item{it("dup", 3, 2), it("dup", 3, 2)}, false, 1, 1, 1},
		{[]Item{it("dup", 3, 1), it("dup", 3, 2)}, true, -1, 1, 0},
	}},
	{"unlimited items are skipped", []take{
		{[]Item{{Key: "free", Cost: 1}, it("u", 1, 1)}, true, -1, 1, 0},
		{[]Item{{Key: "free", Cost: 1}, it("u", 1, 1)}, false, 1, 1, 0},
		{[]Item{{Key: "free", Rate: -1, Cost: 1}}, true, -1, -1, 0},
	}},
	{"the tightest item is described", []take{
		{[]Item{it("big-b", 100, 10), it("small-b", 4, 1)}, true, -1, 1, 3},
		{[]Item{it("big-b", 100, 60), it("small-b", 4, 1)}, true, -1, 0, 30},
	}},
}

func TestStoreSemantics(t *testing.T) {
	stores := map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store {
			return NewMemoryStore(MemoryOptions{Clock: clock.NewFake(start)})
		},
		"redis": func(t *testing.T) Store {
			srv := redistest.Start(t)
			return NewRedisStore(srv.Client(), RedisOptions{Timeout: time.Second})
		},
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			for _, c := range semantics {
				t.Run(c.name, func(t *testing.T) {
					for i, tk := range c.takes {
						r, err := s.Take(context.Background(), tk.items)
						if err != nil {
							t.Fatalf("take %d: %v", i, err)
						}
						if r.Allowed != tk.wantAllowed || r.Denied != tk.wantDenied || r.Index != tk.wantIndex || r.Remaining != tk.wantRemaining {
							t.Errorf("take %d: got allowed=%t denied=%d index=%d remaining=%d, want %t %d %d %d",
								i, r.Allowed, r.Denied, r.Index, r.Remaining, tk.wantAllowed, tk.wantDenied, tk.wantIndex, tk.wantRemaining)
						}
						if !r.Allowed && r.RetryAfter < time.Millisecond {
							t.Errorf("take %d: RetryAfter = %v, want at least 1ms", i, r.RetryAfter)
						}
					}
				})
			}
		})
	}
}

// TestRedisKeysExpire checks that a bucket's key lives until the bucket is
// full again, and that a refunded bucket's key is deleted.
func TestRedisKeysExpire(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := NewRedisStore(rdb, RedisOptions{KeyPrefix: "p:"})
	ctx := context.Background()
	// 10 per second, burst 10: after 4 the bucket is full again in 400ms.
	if _, err := s.Take(ctx, []Item{{Key: "x", Rate: 10, Burst: 10, Cost: 4}}); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, "p:{rl}:x").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 300*time.Millisecond || ttl > 400*time.Millisecond {
		t.Errorf("PTTL = %v, want about 400ms", ttl)
	}
	if _, err := s.Take(ctx, []Item{{Key: "x", Rate: 10, Burst: 10, Cost: -4}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, "p:{rl}:x").Result(); n != 0 {
		t.Errorf("key of a full bucket still exists")
	}
}

// TestRedisNoScript checks the EVAL fallback after SCRIPT FLUSH.
func TestRedisNoScript(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := NewRedisStore(rdb, RedisOptions{})
	ctx := context.Background()
	items := []Item{it("ns", 5, 1)}
	for i := range 3 {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		r, err := s.Take(ctx, items)
		if err != nil {
			t.Fatalf("take %d after SCRIPT FLUSH: %v", i, err)
		}
		if want := int64(4 - i); r.Remaining != want {
			t.Errorf("take %d: remaining %d, want %d", i, r.Remaining, want)
		}
	}
	exists, err := rdb.ScriptExists(ctx, s.sha).Result()
	if err != nil || !exists[0] {
		t.Errorf("script not cached after the EVAL fallback: %v %v", exists, err)
	}
}

var _ redis.Scripter = (*redis.Client)(nil)
