package cache

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
)

// Redis is a Store shared by several replicas: each answer is one Redis
// string under KeyPrefix+"answer:"+hex(key), expiring after its TTL (Redis
// drops it; Redis's maxmemory policy bounds the whole). An answer kept by
// one replica answers identical requests on every other.
//
// It never makes a request fail or wait long: a Get that errs, times out
// or finds a value it cannot read is a miss, and a Put is written in the
// background (bounded; beyond the bound it is dropped). After an error it
// stops asking Redis for a cooldown, then lets one call probe it; until
// that probe succeeds every Get is a miss and every Put is dropped.
type Redis struct {
	rdb      redis.Cmdable
	prefix   string
	timeout  time.Duration
	maxEntry atomic.Int64
	cooldown time.Duration
	clk      clock.Clock
	onError  func(op string, err error)

	// skipUntil is zero while Redis answers; after an error, the time (in
	// Unix nanoseconds on clk) before which Redis is not asked. The caller
	// that moves it forward once it has passed is the one probe.
	skipUntil atomic.Int64
	writes    chan struct{} // a slot per write in flight
	wg        sync.WaitGroup
}

var _ Store = (*Redis)(nil)

// RedisOptions configures a Redis store.
type RedisOptions struct {
	// KeyPrefix starts every key, as for the shared rate limits
	// (rate_limiting.redis.key_prefix). Default "".
	KeyPrefix string
	// Timeout bounds each Redis call. Default 0: 50ms.
	Timeout time.Duration
	// MaxEntry is the largest answer kept, in Entry.Size bytes; larger
	// ones are not written. Default 0: no answer is kept.
	MaxEntry int64
	// Cooldown is how long Redis is not asked after an error, before one
	// call probes it. Default 0: one second.
	Cooldown time.Duration
	// MaxWrites bounds the writes in flight; a Put beyond it is dropped.
	// Default 0: 64.
	MaxWrites int
	// Clock times the cooldown. Nil means the wall clock.
	Clock clock.Clock
	// OnError is told of every failed call ("get" or "put"; a value that
	// cannot be read is a "get" error). Nil means nobody.
	OnError func(op string, err error)
}

// NewRedis returns a store of answers in Redis through rdb, which it does
// not close.
func NewRedis(rdb redis.Cmdable, o RedisOptions) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.Cooldown <= 0 {
		o.Cooldown = time.Second
	}
	if o.MaxWrites <= 0 {
		o.MaxWrites = 64
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.OnError == nil {
		o.OnError = func(string, error) {}
	}
	r := &Redis{
		rdb: rdb, prefix: o.KeyPrefix + "answer:", timeout: o.Timeout,
		cooldown: o.Cooldown, clk: o.Clock, onError: o.OnError,
		writes: make(chan struct{}, o.MaxWrites),
	}
	r.maxEntry.Store(o.MaxEntry)
	return r
}

// SetMaxEntry changes the largest answer kept.
func (r *Redis) SetMaxEntry(n int64) { r.maxEntry.Store(n) }

// Get implements Store.
func (r *Redis) Get(ctx context.Context, k Key) (*Entry, bool) {
	if !r.available() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.rdb.Get(ctx, r.key(k)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		r.succeeded()
		return nil, false
	case err != nil:
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.failed("get", err) // not the caller leaving
		}
		return nil, false
	}
	r.succeeded()
	e, err := decodeEntry(b)
	if err != nil {
		r.onError("get", err)
		return nil, false
	}
	return e, true
}

// Put implements Store: the answer is written in the background, within
// the bound of writes in flight. An answer larger than MaxEntry, or with a
// TTL under a millisecond (Redis's resolution), is not kept.
func (r *Redis) Put(_ context.Context, k Key, e *Entry, ttl time.Duration) {
	if ttl < time.Millisecond || e.Size() > r.maxEntry.Load() || !r.available() {
		return
	}
	select {
	case r.writes <- struct{}{}:
	default:
		r.onError("put", errWritesFull)
		return
	}
	b := encodeEntry(e)
	key := r.key(k)
	r.wg.Add(1)
	go func() {
		defer func() {
			<-r.writes
			r.wg.Done()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		if err := r.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
			r.failed("put", err)
			return
		}
		r.succeeded()
	}()
}

// errWritesFull reports a Put dropped because MaxWrites were in flight.
var errWritesFull = errors.New("cache: too many writes to redis in flight; answer not kept")

// Wait returns once the writes in flight are done.
func (r *Redis) Wait() { r.wg.Wait() }

func (r *Redis) key(k Key) string {
	var buf [2 * len(Key{})]byte
	hex.Encode(buf[:], k[:])
	return r.prefix + string(buf[:])
}

// available reports whether a call may ask Redis: it answered last time,
// or the cooldown after an error has passed and this call is the probe.
func (r *Redis) available() bool {
	until := r.skipUntil.Load()
	if until == 0 {
		return true
	}
	now := r.clk.Now().UnixNano()
	return now >= until && r.skipUntil.CompareAndSwap(until, now+int64(r.cooldown))
}

func (r *Redis) failed(op string, err error) {
	r.skipUntil.Store(r.clk.Now().Add(r.cooldown).UnixNano())
	r.onError(op, err)
}

func (r *Redis) succeeded() {
	if r.skipUntil.Load() != 0 {
		r.skipUntil.Store(0)
	}
}

// entryMagic starts every encoded entry: a format version.
const entryMagic = 0xC1

// encodeEntry writes e as: the magic byte, the status, the backend, the
// routed model, the error kind, the header count and each field's name and
// value (each string length-prefixed with a uvarint), then the body.
func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, e.Size())
	b = append(b, entryMagic)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = appendString(b, e.Backend)
	b = appendString(b, e.Routed)
	b = appendString(b, e.ErrorKind)
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for _, f := range e.Header {
		b = appendString(b, f.Name)
		b = appendString(b, f.Value)
	}
	return append(b, e.Body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errCorrupt reports a value that encodeEntry did not write.
var errCorrupt = errors.New("cache: unreadable answer in redis")

// decodeEntry reads what encodeEntry wrote; anything else is errCorrupt.
func decodeEntry(b []byte) (*Entry, error) {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != entryMagic {
		return nil, errCorrupt
	}
	d.b = d.b[1:]
	status := d.uvarint()
	e := &Entry{Status: int(status), Backend: d.string(), Routed: d.string(), ErrorKind: d.string()}
	n := d.uvarint()
	if d.bad || status < 100 || status > 599 || n > uint64(len(d.b))/2 {
		return nil, errCorrupt
	}
	if n > 0 {
		e.Header = make([]exchange.Field, n)
		for i := range e.Header {
			e.Header[i] = exchange.Field{Name: d.string(), Value: d.string()}
		}
	}
	if d.bad {
		return nil, errCorrupt
	}
	e.Body = d.b
	return e, nil
}

// decoder reads uvarints and strings, turning bad on the first short read.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
