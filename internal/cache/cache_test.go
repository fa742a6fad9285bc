package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
)

func TestDeterministic(t *testing.T) {
	tests := []struct {
		name string
		api  exchange.API
		body string
		want bool
	}{
		{"temperature 0", exchange.ChatCompletions, `{"model":"m","temperature":0,"messages":[]}`, true},
		{"temperature 0.0", exchange.Completions, `{"model":"m","temperature":0.0}`, true},
		{"temperature -0e3", exchange.Responses, `{"model":"m","temperature":-0e3}`, true},
		{"messages API", exchange.Messages, `{"model":"m","temperature":0,"max_tokens":9}`, true},
		{"one choice", exchange.ChatCompletions, `{"temperature":0,"n":1}`, true},
		{"n null", exchange.ChatCompletions, `{"temperature":0,"n":null}`, true},
		{"tools are part of the key", exchange.ChatCompletions, `{"temperature":0,"tools":[{"type":"function","function":{"name":"f"}}]}`, true},
		{"embeddings", exchange.Embeddings, `{"model":"e","input":"x"}`, true},
		{"no temperature (the backend's default)", exchange.ChatCompletions, `{"model":"m"}`, false},
		{"temperature 0.7", exchange.ChatCompletions, `{"model":"m","temperature":0.7}`, false},
		{"temperature null", exchange.ChatCompletions, `{"temperature":null}`, false},
		{"temperature as a string", exchange.ChatCompletions, `{"temperature":"0"}`, false},
		{"two choices", exchange.ChatCompletions, `{"temperature":0,"n":2}`, false},
		{"temperature given twice", exchange.ChatCompletions, `{"temperature":0,"Temperature":1}`, false},
		{"n given twice", exchange.ChatCompletions, `{"temperature":0,"n":1,"N":3}`, false},
		{"count_tokens", exchange.CountTokens, `{"temperature":0}`, false},
		{"not JSON", exchange.ChatCompletions, `{"temperature":0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Deterministic(tt.api, []byte(tt.body)); got != tt.want {
				t.Errorf("Deterministic(%v, %s): got %v, want %v", tt.api, tt.body, got, tt.want)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	body := []byte(`{"model":"m"}`)
	base := KeyOf(exchange.ChatCompletions, body, "m", "key-1")
	if KeyOf(exchange.ChatCompletions, body, "m", "key-1") != base {
		t.Fatal("KeyOf is not stable")
	}
	others := map[string]Key{
		"api":          KeyOf(exchange.Completions, body, "m", "key-1"),
		"body":         KeyOf(exchange.ChatCompletions, []byte(`{"model":"m" }`), "m", "key-1"),
		"part":         KeyOf(exchange.ChatCompletions, body, "m", "key-2"),
		"part borders": KeyOf(exchange.ChatCompletions, body, "mk", "ey-1"),
		"more parts":   KeyOf(exchange.ChatCompletions, body, "m", "key-1", ""),
	}
	for name, k := range others {
		if k == base {
			t.Errorf("a different %s gives the same key", name)
		}
	}
}

func entry(body string) *Entry {
	return &Entry{Status: 200, Body: []byte(body), Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}}}
}

func TestMemory(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Time{})
	size := entry(strings.Repeat("x", 100)).Size()
	m := NewMemory(3*size, clk)
	k := func(i byte) Key { return Key{i} }

	t.Run("get what was put", func(t *testing.T) {
		m.Put(ctx, k(1), entry(strings.Repeat("x", 100)), time.Minute)
		e, ok := m.Get(ctx, k(1))
		if !ok || len(e.Body) != 100 {
			t.Fatalf("Get: got %v, %v; want the entry", e, ok)
		}
		if _, ok := m.Get(ctx, k(2)); ok {
			t.Error("Get of a key never put: got an entry")
		}
	})
	t.Run("expires on the clock", func(t *testing.T) {
		clk.Advance(time.Minute - time.Nanosecond)
		if _, ok := m.Get(ctx, k(1)); !ok {
			t.Fatal("Get just before the TTL: got nothing")
		}
		clk.Advance(time.Nanosecond)
		if _, ok := m.Get(ctx, k(1)); ok {
			t.Fatal("Get at the TTL: got the entry")
		}
		if m.Len() != 0 || m.Bytes() != 0 {
			t.Errorf("after expiry: got %d entries, %d bytes; want none", m.Len(), m.Bytes())
		}
	})
	t.Run("least recently used goes first", func(t *testing.T) {
		for i := byte(1); i <= 3; i++ {
			m.Put(ctx, k(i), entry(strings.Repeat("x", 100)), time.Hour)
		}
		m.Get(ctx, k(1)) // 2 is now the least recently used
		m.Put(ctx, k(4), entry(strings.Repeat("x", 100)), time.Hour)
		for i, want := range map[byte]bool{1: true, 2: false, 3: true, 4: true} {
			if _, ok := m.Get(ctx, k(i)); ok != want {
				t.Errorf("entry %d kept: got %v, want %v", i, ok, want)
			}
		}
		if m.Bytes() != 3*size {
			t.Errorf("Bytes: got %d, want %d", m.Bytes(), 3*size)
		}
	})
	t.Run("replacing an entry counts it once", func(t *testing.T) {
		m.Put(ctx, k(4), entry(strings.Repeat("x", 100)), time.Hour)
		if m.Len() != 3 || m.Bytes() != 3*size {
			t.Errorf("got %d entries, %d bytes; want 3, %d", m.Len(), m.Bytes(), 3*size)
		}
	})
	t.Run("not kept: larger than the bound, or no TTL", func(t *testing.T) {
		m.Put(ctx, k(5), entry(strings.Repeat("x", 1000)), time.Hour)
		m.Put(ctx, k(6), entry("small"), 0)
		for _, i := range []byte{5, 6} {
			if _, ok := m.Get(ctx, k(i)); ok {
				t.Errorf("entry %d: kept", i)
			}
		}
	})
	t.Run("a lower limit evicts", func(t *testing.T) {
		m.SetLimit(size)
		if m.Len() != 1 || m.Bytes() != size {
			t.Errorf("after SetLimit: got %d entries, %d bytes; want 1, %d", m.Len(), m.Bytes(), size)
		}
		m.SetLimit(0)
		if m.Len() != 0 {
			t.Errorf("after SetLimit(0): got %d entries, want none", m.Len())
		}
	})
}

func TestGroupShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		key := Key{1}
		release := make(chan struct{})
		calls := 0
		fn := func(ctx context.Context) *Entry {
			calls++
			<-release
			return entry("answer")
		}
		const n = 10
		var wg sync.WaitGroup
		results := make([]*Entry, n)
		sharedCount := 0
		var mu sync.Mutex
		for i := range n {
			wg.Go(func() {
				e, shared := g.Do(context.Background(), key, fn, nil)
				mu.Lock()
				results[i] = e
				if shared {
					sharedCount++
				}
				mu.Unlock()
			})
			synctest.Wait() // the first caller is the leader
		}
		if c, w := g.InFlight(); c != 1 || w != n {
			t.Fatalf("InFlight: got %d calls, %d waiters; want 1, %d", c, w, n)
		}
		close(release)
		wg.Wait()
		if calls != 1 || sharedCount != n-1 {
			t.Errorf("got %d calls and %d shared answers, want 1 and %d", calls, sharedCount, n-1)
		}
		for i, e := range results {
			if e == nil || string(e.Body) != "answer" {
				t.Errorf("caller %d: got %v, want the answer", i, e)
			}
		}
		if c, _ := g.InFlight(); c != 0 {
			t.Errorf("InFlight after the call: got %d, want 0", c)
		}
	})
}

func TestGroupCancellation(t *testing.T) {
	errGone := errors.New("client gone")
	synctest.Test(t, func(t *testing.T) {
		var g Group
		key := Key{2}
		callCtx := make(chan context.Context, 1)
		fn := func(ctx context.Context) *Entry {
			callCtx <- ctx
			<-ctx.Done()
			return &Entry{Status: 499, ErrorKind: context.Cause(ctx).Error()}
		}
		leaderCtx, leaderCancel := context.WithCancelCause(context.Background())
		var leaderGot *Entry
		done := make(chan struct{})
		go func() {
			leaderGot, _ = g.Do(leaderCtx, key, fn, nil)
			close(done)
		}()
		ctx := <-callCtx
		followerCtx, followerCancel := context.WithCancelCause(context.Background())
		followerDone := make(chan *Entry)
		go func() {
			e, _ := g.Do(followerCtx, key, fn, nil)
			followerDone <- e
		}()
		synctest.Wait()

		leaderCancel(errGone)
		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatal("the call was cancelled while a follower still waited")
		}

		followerCancel(errGone)
		if e := <-followerDone; e != nil {
			t.Errorf("a follower that left: got %v, want nil", e)
		}
		<-done
		if context.Cause(ctx) != errGone || leaderGot == nil || leaderGot.ErrorKind != errGone.Error() {
			t.Errorf("after everyone left: call cause %v, leader got %+v; want %v", context.Cause(ctx), leaderGot, errGone)
		}
	})
}

func TestGroupAbandonedCallIsNotJoined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group
		key := Key{3}
		ctx1, cancel1 := context.WithCancel(context.Background())
		started := make(chan struct{})
		finish := make(chan struct{})
		go g.Do(ctx1, key, func(ctx context.Context) *Entry {
			close(started)
			<-finish // a call slow to notice its cancellation
			return nil
		}, nil)
		<-started
		cancel1()
		synctest.Wait()
		e, shared := g.Do(context.Background(), key, func(context.Context) *Entry { return entry("fresh") }, nil)
		if shared || e == nil || string(e.Body) != "fresh" {
			t.Errorf("a request after every caller of a call left: got %v (shared %v), want a call of its own", e, shared)
		}
		close(finish)
	})
}
