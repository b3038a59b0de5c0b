package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContinuousAndTight(t *testing.T) {
	prev := -1
	for v := range uint64(1 << 20) { // every value: buckets follow each other without gaps
		if i := bucketOf(v); i != prev && i != prev+1 {
			t.Fatalf("bucketOf(%d) = %d after %d", v, i, prev)
		} else {
			prev = i
		}
	}
	for v := uint64(subBuckets); v < 1<<histMaxBits; v += 1 + v/1000 {
		if mid := uint64(bucketMid(bucketOf(v))); mid > v+v/128+1 || mid+v/128+1 < v {
			t.Fatalf("value %d reported as %d: more than 1/128 off", v, mid)
		}
	}
	if got := bucketOf(1<<63 - 1); got != histBuckets-1 {
		t.Errorf("largest value in bucket %d, want the last (%d)", got, histBuckets-1)
	}
}

func TestPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h, a, b Histogram
	values := make([]time.Duration, 100_000)
	for i := range values {
		values[i] = time.Duration(rng.ExpFloat64() * float64(200*time.Microsecond))
		h.Record(values[i])
		if i%2 == 0 { // Merge must add up to the same histogram
			a.Record(values[i])
		} else {
			b.Record(values[i])
		}
	}
	a.Merge(&b)
	if a != h {
		t.Error("merging two halves differs from recording all")
	}
	slices.Sort(values)
	for _, p := range []float64{1, 50, 90, 99, 99.9} {
		exact := values[int(p/100*float64(len(values)))-1]
		got := h.Percentile(p)
		if diff := got - exact; diff < -exact/100 || diff > exact/100 {
			t.Errorf("p%v = %v, exact %v", p, got, exact)
		}
	}
	if h.Percentile(0) != values[0] || h.Percentile(100) != values[len(values)-1] || h.Count() != 100_000 {
		t.Errorf("min %v max %v count %d", h.Percentile(0), h.Percentile(100), h.Count())
	}
	var empty Histogram
	if empty.Percentile(50) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram reports values")
	}
}
