package cache

import (
	"bytes"
	"context"
	"encoding/hex"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/redistest"
)

func sampleEntry() *Entry {
	return &Entry{
		Status:    200,
		Header:    []exchange.Field{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Request-Id", Value: ""}},
		Body:      []byte(`{"id":"c1","choices":[{"message":{"content":"héllo"}}]}`),
		Backend:   "vllm-a",
		Routed:    "llama",
		ErrorKind: "",
	}
}

// errorLog collects a store's OnError calls.
type errorLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *errorLog) add(op string, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

func TestEntryEncoding(t *testing.T) {
	for _, e := range []*Entry{
		sampleEntry(),
		{Status: 504, ErrorKind: "timeout"},
		{Status: 200, Body: []byte{0, 0xff, 0xC1}},
	} {
		got, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", e, err)
		}
		if len(got.Body) == 0 && len(e.Body) == 0 {
			got.Body = e.Body
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip: got %+v, want %+v", got, e)
		}
	}
	full := encodeEntry(sampleEntry())
	bodyStart := len(full) - len(sampleEntry().Body)
	for n := range bodyStart { // every cut before the body is unreadable
		if _, err := decodeEntry(full[:n]); err == nil {
			t.Errorf("a value cut to %d of %d bytes decoded", n, len(full))
		}
	}
	for _, bad := range [][]byte{nil, []byte("plain text"), {entryMagic, 0x80}, {entryMagic, 99, 0, 0, 0, 0}} {
		if _, err := decodeEntry(bad); err == nil {
			t.Errorf("decodeEntry(%q) succeeded", bad)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(sampleEntry()))
	f.Add([]byte{entryMagic, 0xc8, 0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatalf("a decoded entry does not survive encoding: %v", err)
		}
		if again.Status != e.Status || !bytes.Equal(again.Body, e.Body) || len(again.Header) != len(e.Header) {
			t.Fatalf("re-encoding changed the entry: %+v -> %+v", e, again)
		}
	})
}

func TestRedisSharedBetweenReplicas(t *testing.T) {
	srv := redistest.Start(t)
	a := NewRedis(srv.Client(), RedisOptions{KeyPrefix: "t:", MaxEntry: 1 << 20})
	b := NewRedis(srv.Client(), RedisOptions{KeyPrefix: "t:", MaxEntry: 1 << 20})
	ctx := context.Background()
	k := KeyOf(exchange.ChatCompletions, []byte(`{"temperature":0}`), "llama")
	if _, ok := b.Get(ctx, k); ok {
		t.Fatal("an empty store had an answer")
	}
	a.Put(ctx, k, sampleEntry(), time.Minute)
	a.Wait()
	got, ok := b.Get(ctx, k)
	if !ok {
		t.Fatal("the answer kept by one replica is not found by another")
	}
	if !reflect.DeepEqual(got, sampleEntry()) {
		t.Errorf("got %+v, want %+v", got, sampleEntry())
	}
	if other, ok := b.Get(ctx, KeyOf(exchange.ChatCompletions, []byte(`{"temperature":0}`), "qwen")); ok {
		t.Errorf("another key found %+v", other)
	}
	ttl := srv.Client().PTTL(ctx, "t:answer:"+hexKey(k)).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Errorf("the answer's TTL in redis is %s, want in (0, 1m]", ttl)
	}
}

func hexKey(k Key) string { return hex.EncodeToString(k[:]) }

func TestRedisKeepsOnlyWhatFits(t *testing.T) {
	srv := redistest.Start(t)
	e := sampleEntry()
	r := NewRedis(srv.Client(), RedisOptions{MaxEntry: e.Size() - 1})
	ctx := context.Background()
	k := KeyOf(exchange.Embeddings, []byte("x"))
	r.Put(ctx, k, e, time.Minute)
	r.Wait()
	if _, ok := r.Get(ctx, k); ok {
		t.Error("an answer larger than max_bytes was kept")
	}
	r.SetMaxEntry(e.Size())
	r.Put(ctx, k, e, time.Microsecond) // under Redis's resolution
	r.Wait()
	if _, ok := r.Get(ctx, k); ok {
		t.Error("an answer with a TTL under a millisecond was kept")
	}
	r.Put(ctx, k, e, time.Minute)
	r.Wait()
	if _, ok := r.Get(ctx, k); !ok {
		t.Error("an answer of exactly max_bytes was not kept")
	}
}

func TestRedisUnreadableValueIsAMiss(t *testing.T) {
	srv := redistest.Start(t)
	var errs errorLog
	r := NewRedis(srv.Client(), RedisOptions{MaxEntry: 1 << 20, OnError: errs.add})
	ctx := context.Background()
	k := KeyOf(exchange.Embeddings, []byte("x"))
	if err := srv.Client().Set(ctx, "answer:"+hexKey(k), "not an answer", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if e, ok := r.Get(ctx, k); ok {
		t.Fatalf("an unreadable value answered: %+v", e)
	}
	if errs.count() != 1 {
		t.Errorf("errors reported: %v, want one get", errs.ops)
	}
	// An unreadable value is not Redis failing: the next call asks again.
	r.Put(ctx, k, sampleEntry(), time.Minute)
	r.Wait()
	if _, ok := r.Get(ctx, k); !ok {
		t.Error("the answer written over an unreadable value is not found")
	}
}

// TestRedisOutageIsAMissAndOneProbe: with Redis down a Get is a miss and a
// Put is dropped, Redis is not asked again during the cooldown, then one
// call probes it, and answers are kept again once it is back.
func TestRedisOutageIsAMissAndOneProbe(t *testing.T) {
	srv := redistest.Start(t)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	var errs errorLog
	r := NewRedis(srv.Client(), RedisOptions{MaxEntry: 1 << 20, Clock: clk, Cooldown: time.Second, Timeout: time.Second, OnError: errs.add})
	ctx := context.Background()
	k := KeyOf(exchange.Embeddings, []byte("x"))
	r.Put(ctx, k, sampleEntry(), time.Minute)
	r.Wait()

	srv.Kill()
	if _, ok := r.Get(ctx, k); ok {
		t.Fatal("an answer came from a dead Redis")
	}
	if errs.count() != 1 {
		t.Fatalf("errors after the first get: %v, want 1", errs.ops)
	}
	for range 10 { // the cooldown: Redis is not asked
		r.Get(ctx, k)
		r.Put(ctx, k, sampleEntry(), time.Minute)
	}
	r.Wait()
	if errs.count() != 1 {
		t.Fatalf("Redis was asked during the cooldown: errors %v", errs.ops)
	}
	clk.Advance(time.Second)
	r.Get(ctx, k) // the probe, still failing
	r.Get(ctx, k) // skipped: a new cooldown
	if errs.count() != 2 {
		t.Fatalf("errors after the cooldown: %v, want exactly one probe", errs.ops)
	}

	srv.Restart() // without persistence: empty
	clk.Advance(time.Second)
	if _, ok := r.Get(ctx, k); ok {
		t.Fatal("a restarted Redis without persistence had the answer")
	}
	r.Put(ctx, k, sampleEntry(), time.Minute)
	r.Wait()
	if _, ok := r.Get(ctx, k); !ok {
		t.Fatal("answers are not kept once Redis is back")
	}
	if errs.count() != 2 {
		t.Errorf("errors after recovery: %v", errs.ops)
	}
}

func TestRedisCallerLeavingIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	var errs errorLog
	r := NewRedis(srv.Client(), RedisOptions{MaxEntry: 1 << 20, OnError: errs.add})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := KeyOf(exchange.Embeddings, []byte("x"))
	if _, ok := r.Get(ctx, k); ok {
		t.Fatal("a cancelled get answered")
	}
	if errs.count() != 0 || !r.available() {
		t.Errorf("a caller that left counted as Redis failing: %v", errs.ops)
	}
}
