package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestBucketsCoverEveryValue(t *testing.T) {
	t.Parallel()
	// Each bucket's bounds must contain the values it is given, and
	// consecutive buckets must meet with neither a gap nor an overlap.
	var prevHi uint64
	for i := range numBuckets {
		lo, hi := bounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d (the previous bucket ends at %d)", i, lo, prevHi+1, prevHi)
		}
		if hi < lo {
			t.Fatalf("bucket %d: bounds %d..%d", i, lo, hi)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if got := bucket(v); got != i {
				t.Fatalf("bucket(%d) = %d, want %d (bounds %d..%d)", v, got, i, lo, hi)
			}
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64>>1 {
		t.Errorf("the last bucket ends at %d, want %d (the largest Duration)", prevHi, uint64(math.MaxUint64>>1))
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		reason string
		values []time.Duration
	}{
		{"small", "values below 128ns have a bucket each, so quantiles are exact",
			[]time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, 127}},
		{"one", "a single value is every quantile", []time.Duration{1234567}},
		{"uniform", "latencies spread from 50µs to 5ms", func() []time.Duration {
			v := make([]time.Duration, 10_000)
			for i := range v {
				v[i] = 50*time.Microsecond + time.Duration(rng.Int64N(int64(5*time.Millisecond)))
			}
			return v
		}()},
		{"long tail", "mostly 200µs, 2% around 40ms: the p99 lies in the tail", func() []time.Duration {
			v := make([]time.Duration, 5_000)
			for i := range v {
				v[i] = 200*time.Microsecond + time.Duration(rng.Int64N(int64(20*time.Microsecond)))
				if i%50 == 0 {
					v[i] = 40*time.Millisecond + time.Duration(rng.Int64N(int64(time.Millisecond)))
				}
			}
			return v
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h Histogram
			for _, v := range tt.values {
				h.Record(v)
			}
			sorted := slices.Sorted(slices.Values(tt.values))
			for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				want, got := exactQuantile(sorted, q), h.Quantile(q)
				// Within the bucket's width: 1/64 of the value.
				if diff := math.Abs(float64(got - want)); diff > float64(want)/subCount {
					t.Errorf("%s: Quantile(%g) = %v, want %v within 1/%d", tt.reason, q, got, want, subCount)
				}
			}
			if h.Min() != sorted[0] || h.Max() != sorted[len(sorted)-1] || h.Count() != int64(len(sorted)) {
				t.Errorf("Min, Max, Count = %v, %v, %d; want %v, %v, %d", h.Min(), h.Max(), h.Count(), sorted[0], sorted[len(sorted)-1], len(sorted))
			}
		})
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	t.Parallel()
	var a, b, all Histogram
	for i := range 1000 {
		v := time.Duration(i*i) * time.Microsecond
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var m Histogram
	m.Merge(&Histogram{}) // merging an empty histogram changes nothing
	m.Merge(&a)
	m.Merge(&b)
	if m != all {
		t.Errorf("merged: count %d min %v max %v mean %v p50 %v; recorded: count %d min %v max %v mean %v p50 %v",
			m.Count(), m.Min(), m.Max(), m.Mean(), m.Quantile(0.5), all.Count(), all.Min(), all.Max(), all.Mean(), all.Quantile(0.5))
	}
}

func TestEmptyAndNegative(t *testing.T) {
	t.Parallel()
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: Quantile(0.5) %v, Mean %v, Count %d; want zeros", h.Quantile(0.5), h.Mean(), h.Count())
	}
	h.Record(-time.Second) // a clock step: counted as zero
	if h.Quantile(1) != 0 || h.Min() != 0 {
		t.Errorf("negative value: Quantile(1) %v, Min %v; want 0", h.Quantile(1), h.Min())
	}
}
