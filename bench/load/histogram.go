package load

import (
	"encoding/json"
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in fixed memory (16 KiB), in the manner of an HDR histogram:
// below 64ns every nanosecond has its own bucket; above, each power of two is split into 64
// buckets, so a reported value is within 1/128 (0.8 %) of a recorded one. Durations longer
// than about 137s share the last bucket; Max stays exact.
//
// The zero value is empty and ready to use. A Histogram is not safe for concurrent use: each
// worker records into its own and Run merges them at the end.
type Histogram struct {
	counts     [histBuckets]int64
	total, sum int64 // sum in nanoseconds, for an exact Mean
	min, max   time.Duration
}

const (
	subBucketBits = 6
	subBuckets    = 1 << subBucketBits
	histMaxBits   = 37 // values up to 2^37 ns ≈ 137s get their own buckets
	histBuckets   = (histMaxBits - subBucketBits + 1) * subBuckets
)

// bucketOf maps a value to its bucket; the mapping is continuous: bucketOf(v) == v for v < 128.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits - 1 // v>>shift is in [64, 128)
	i := (shift+1)*subBuckets + int(v>>shift) - subBuckets
	return min(i, histBuckets-1)
}

// bucketMid is the middle of bucket i's value range.
func bucketMid(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i)
	}
	shift := i/subBuckets - 1
	low := uint64(i%subBuckets+subBuckets) << shift
	return time.Duration(low + (uint64(1)<<shift)/2)
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	if h.total == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.total++
	h.sum += int64(d)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, n := range o.counts {
		h.counts[i] += n
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of recorded durations.
func (h *Histogram) Count() int64 { return h.total }

// Min and Max are exact; both are 0 for an empty histogram.
func (h *Histogram) Min() time.Duration { return h.min }
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is exact (not bucketed).
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Percentile returns the duration below or at which p percent (0..100, e.g. 99.9) of the
// recorded durations lie. Percentile(0) is Min and Percentile(100) is Max.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(p / 100 * float64(h.total)))
	switch {
	case rank <= 0:
		return h.min
	case rank >= h.total:
		return h.max
	}
	var seen int64
	for i, n := range h.counts {
		if seen += n; seen >= rank {
			return min(max(bucketMid(i), h.min), h.max)
		}
	}
	return h.max
}

// MarshalJSON writes a summary in nanoseconds rather than the 2048 buckets.
func (h Histogram) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Count int64 `json:"count"`
		Min   int64 `json:"min_ns"`
		Mean  int64 `json:"mean_ns"`
		P50   int64 `json:"p50_ns"`
		P90   int64 `json:"p90_ns"`
		P99   int64 `json:"p99_ns"`
		P999  int64 `json:"p99_9_ns"`
		Max   int64 `json:"max_ns"`
	}{h.total, int64(h.min), int64(h.Mean()), int64(h.Percentile(50)), int64(h.Percentile(90)),
		int64(h.Percentile(99)), int64(h.Percentile(99.9)), int64(h.max)})
}
