package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsContainValue(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 - 1}
	for range 10000 {
		values = append(values, uint64(math.Exp(rng.Float64()*math.Log(1<<40))))
	}
	prev := -1
	slices.Sort(values)
	for _, v := range values {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, below the bucket of a smaller value (%d)", v, i, prev)
		}
		prev = i
		lower, width := bucketBounds(i)
		if v < lower || v >= lower+width {
			t.Fatalf("bucket %d of %d is [%d, %d), want it to contain the value", i, v, lower, lower+width)
		}
		if v >= subCount && float64(width)/float64(lower) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d of %d is %d wide at %d: more than 1/%d", i, v, width, lower, subCount)
		}
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Errorf("bucketOf(2^50) = %d, want the last bucket %d", got, numBuckets-1)
	}
}

// exactQuantile returns the value of rank ceil(q*n) of sorted values, the
// definition Histogram.Quantile follows.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := max(1, int(math.Ceil(q*float64(len(sorted)))))
	return sorted[rank-1]
}

func TestHistogramQuantileError(t *testing.T) {
	t.Parallel()
	const n = 100000
	tests := []struct {
		name string
		draw func(*rand.Rand) time.Duration
	}{
		{"uniform 1µs..1s", func(r *rand.Rand) time.Duration {
			return time.Microsecond + time.Duration(r.Int64N(int64(time.Second)))
		}},
		{"exponential mean 10ms", func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(10*time.Millisecond))
		}},
		{"log-uniform 1µs..10min", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(math.Log(1e3) + r.Float64()*(math.Log(6e11)-math.Log(1e3))))
		}},
		{"normal 100ms sd 5ms", func(r *rand.Rand) time.Duration {
			return time.Duration(float64(100*time.Millisecond) + r.NormFloat64()*float64(5*time.Millisecond))
		}},
		{"bimodal 200µs and 2s", func(r *rand.Rand) time.Duration {
			if r.IntN(10) == 0 {
				return 2*time.Second + time.Duration(r.Int64N(int64(100*time.Millisecond)))
			}
			return 200*time.Microsecond + time.Duration(r.Int64N(int64(20*time.Microsecond)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, 7))
			var h Histogram
			values := make([]time.Duration, n)
			var sum float64
			for i := range values {
				values[i] = tt.draw(rng)
				h.Record(values[i])
				sum += float64(values[i])
			}
			slices.Sort(values)
			for _, q := range []float64{0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
				want := exactQuantile(values, q)
				got := h.Quantile(q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > 0.01 {
					t.Errorf("Quantile(%v): got %v, want %v within 1%% (off by %.2f%%)", q, got, want, 100*rel)
				}
			}
			if got, want := h.Min(), values[0]; got != want {
				t.Errorf("Min: got %v, want %v", got, want)
			}
			if got, want := h.Max(), values[n-1]; got != want {
				t.Errorf("Max: got %v, want %v", got, want)
			}
			if got, want := h.Quantile(1), values[n-1]; got != want {
				t.Errorf("Quantile(1): got %v, want %v", got, want)
			}
			if got, want := h.Mean(), time.Duration(sum/n); math.Abs(float64(got-want)) > 1 {
				t.Errorf("Mean: got %v, want %v", got, want)
			}
			if got := h.Count(); got != n {
				t.Errorf("Count: got %d, want %d", got, n)
			}
		})
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 5000 {
		v := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(&Histogram{}) // merging an empty histogram changes nothing
	if merged != all {
		t.Fatalf("merged histogram differs from one that recorded every value: count %d, min %v, max %v; want %d, %v, %v",
			merged.Count(), merged.Min(), merged.Max(), all.Count(), all.Min(), all.Max())
	}
}

func TestHistogramEdges(t *testing.T) {
	t.Parallel()
	var h Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile(0.5): got %v, want 0", got)
	}
	if got := h.Buckets(10); got != nil {
		t.Errorf("empty Buckets: got %v, want nil", got)
	}
	h.Record(-5)
	if got := h.Min(); got != 0 {
		t.Errorf("Min after recording -5: got %v, want 0", got)
	}
	huge := 2 * time.Hour
	h.Record(huge)
	if got := h.Max(); got != huge {
		t.Errorf("Max after recording 2h: got %v, want %v", got, huge)
	}
	if got := h.Quantile(0.99); got != huge {
		t.Errorf("Quantile(0.99) of {0, 2h}: got %v, want %v (clamped to Max)", got, huge)
	}
	h.Reset()
	if got := h.Count(); got != 0 {
		t.Errorf("Count after Reset: got %d, want 0", got)
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	var h Histogram
	for range 10000 {
		h.Record(time.Duration(math.Exp(math.Log(1e4) + rng.Float64()*math.Log(1e5))))
	}
	bs := h.Buckets(10)
	var total int64
	for i, b := range bs {
		total += b.Count
		if b.Upper <= b.Lower {
			t.Errorf("bucket %d: [%v, %v) is empty", i, b.Lower, b.Upper)
		}
		if i > 0 && b.Lower != bs[i-1].Upper {
			t.Errorf("bucket %d starts at %v, want the previous upper bound %v", i, b.Lower, bs[i-1].Upper)
		}
	}
	if total != h.Count() {
		t.Errorf("buckets hold %d values, want %d", total, h.Count())
	}
	if first, last := bs[0], bs[len(bs)-1]; first.Lower > h.Min() || last.Upper < h.Max() {
		t.Errorf("buckets span [%v, %v), want them to cover [%v, %v]", first.Lower, last.Upper, h.Min(), h.Max())
	}
	if got, want := len(bs), 50; got != want {
		t.Errorf("[1e4, 1e9) ns at 10 per decade: got %d buckets, want %d", got, want)
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := new(Histogram)
	v := time.Duration(0)
	if got := testing.AllocsPerRun(1000, func() { v += 12345; h.Record(v) }); got != 0 {
		t.Errorf("Record: got %v allocations, want 0", got)
	}
}
