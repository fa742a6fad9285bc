package cache

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Memory is a Store in process memory: at most a bound of bytes (entries
// counted by Entry.Size), the least recently used entries dropped first,
// each entry expiring after its TTL on the clock. The zero value is not
// usable; make one with NewMemory.
type Memory struct {
	clk clock.Clock

	mu    sync.Mutex
	max   int64
	used  int64
	items map[Key]*list.Element // of *item
	lru   list.List             // most recently used first
}

var _ Store = (*Memory)(nil)

type item struct {
	key     Key
	entry   *Entry
	size    int64
	expires time.Time
}

// NewMemory returns an empty store of at most maxBytes (0 or less keeps
// nothing). clk dates entries; nil means the wall clock.
func NewMemory(maxBytes int64, clk clock.Clock) *Memory {
	if clk == nil {
		clk = clock.Real()
	}
	return &Memory{clk: clk, max: maxBytes, items: map[Key]*list.Element{}}
}

// SetLimit changes the bound, dropping the least recently used entries
// above it.
func (m *Memory) SetLimit(maxBytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.max = maxBytes
	m.evictLocked()
}

// Get implements Store. An expired entry is dropped.
func (m *Memory) Get(_ context.Context, k Key) (*Entry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[k]
	if !ok {
		return nil, false
	}
	it := el.Value.(*item)
	if !m.clk.Now().Before(it.expires) {
		m.removeLocked(el)
		return nil, false
	}
	m.lru.MoveToFront(el)
	return it.entry, true
}

// Put implements Store. An entry larger than the whole bound, or with a
// TTL of zero or less, is not kept.
func (m *Memory) Put(_ context.Context, k Key, e *Entry, ttl time.Duration) {
	size := e.Size()
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok {
		m.removeLocked(el)
	}
	if ttl <= 0 || size > m.max {
		return
	}
	it := &item{key: k, entry: e, size: size, expires: m.clk.Now().Add(ttl)}
	m.items[k] = m.lru.PushFront(it)
	m.used += size
	m.evictLocked()
}

// Len returns the number of entries kept, expired ones included until
// they are dropped.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Bytes returns the memory the entries kept are counted for.
func (m *Memory) Bytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// evictLocked drops the least recently used entries until the store is
// within its bound. m.mu is held.
func (m *Memory) evictLocked() {
	for m.used > max(m.max, 0) {
		el := m.lru.Back()
		if el == nil {
			return
		}
		m.removeLocked(el)
	}
}

func (m *Memory) removeLocked(el *list.Element) {
	it := m.lru.Remove(el).(*item)
	delete(m.items, it.key)
	m.used -= it.size
}
