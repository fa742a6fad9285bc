package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values are nanoseconds. Below subCount every value has
// its own bucket; above, each power of two [2^n, 2^(n+1)) is split into
// subCount equal buckets, so a bucket is at most 1/subCount (0.78 %) of its
// lower bound wide and its midpoint is within 0.4 % of any value in it.
const (
	subBits    = 7
	subCount   = 1 << subBits
	maxExp     = 40 // 2^40 ns is about 18 minutes; larger values share the last bucket
	numBuckets = (maxExp - subBits + 1) * subCount
)

// Histogram is a log-linear histogram of durations, in the manner of
// HdrHistogram: about 0.4 % relative error from 1 ns to 18 minutes (values
// below 128 ns are exact; larger ones than 18 minutes are counted at 18
// minutes, but Max stays exact). It has a fixed size (about 35 KB), so
// recording never allocates, and histograms merge by adding counts.
//
// The zero value is an empty histogram ready to use. A Histogram is not safe
// for concurrent use.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      float64
	min, max time.Duration
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	n := bits.Len64(v) - 1 // floor(log2 v) >= subBits
	if n >= maxExp {
		return numBuckets - 1
	}
	shift := n - subBits
	return (n-subBits+1)*subCount + int(v>>shift) - subCount
}

// bucketBounds returns the smallest value of bucket i and the bucket's width.
func bucketBounds(i int) (lower, width uint64) {
	g := i / subCount
	if g == 0 {
		return uint64(i), 1
	}
	shift := g - 1
	return uint64(i%subCount+subCount) << shift, 1 << shift
}

// Record adds one value. Negative durations are recorded as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns how many values were recorded.
func (h *Histogram) Count() int64 { return int64(h.n) }

// Min returns the smallest recorded value, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest recorded value, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean of the recorded values; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values lie: the midpoint of the bucket holding the value of rank
// ceil(q*Count), kept within [Min, Max]. Quantile(0) is Min and Quantile(1)
// is Max. It returns 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 || math.IsNaN(q) {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == numBuckets-1 {
				return h.max // the overflow bucket has no midpoint
			}
			return h.clamp(midpoint(i))
		}
	}
	return h.max
}

func midpoint(i int) time.Duration {
	lower, width := bucketBounds(i)
	return time.Duration(lower + width/2)
}

func (h *Histogram) clamp(d time.Duration) time.Duration {
	return min(max(d, h.min), h.max)
}

// Buckets regroups the recorded values into coarse bins of equal width on a
// logarithmic scale, perDecade bins per power of ten (10 if perDecade <= 0),
// covering Min to Max. Empty bins between the first and the last are kept,
// so the result can be drawn as it is. It returns nil when h is empty.
func (h *Histogram) Buckets(perDecade int) []Bucket {
	if h.n == 0 {
		return nil
	}
	if perDecade <= 0 {
		perDecade = 10
	}
	bin := func(d time.Duration) int {
		return int(math.Floor(math.Log10(float64(max(d, 1))) * float64(perDecade)))
	}
	first, last := bin(h.min), bin(h.max)
	edge := func(k int) time.Duration {
		return time.Duration(math.Round(math.Pow(10, float64(k)/float64(perDecade))))
	}
	out := make([]Bucket, last-first+1)
	for k := range out {
		out[k] = Bucket{Lower: edge(first + k), Upper: edge(first + k + 1)}
	}
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		k := bin(h.clamp(midpoint(i))) - first
		k = min(max(k, 0), len(out)-1)
		out[k].Count += int64(c)
	}
	return out
}

// Distribution summarises h as reported in a Result: count, min, mean, max,
// the percentiles p50, p75, p90, p95, p99, p99.9 and p99.99, and the
// Buckets for about 40 bins from Min to Max (10 to 100 per power of ten).
func (h *Histogram) Distribution() Distribution {
	decades := math.Log10(float64(max(h.max, 1))) - math.Log10(float64(max(h.min, 1)))
	perDecade := 100
	if decades > 0 {
		perDecade = min(100, max(10, int(math.Ceil(40/decades))))
	}
	d := Distribution{Count: h.Count(), Min: h.Min(), Mean: h.Mean(), Max: h.Max(), Buckets: h.Buckets(perDecade)}
	for _, q := range [...]float64{0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
		d.Percentiles = append(d.Percentiles, Percentile{Quantile: q, Value: h.Quantile(q)})
	}
	return d
}
