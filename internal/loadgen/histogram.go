package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is divided
// into 1<<subBits buckets, so a recorded value is known within 1/64 of
// itself (values below 128ns exactly).
const subBits = 6

const (
	subCount = 1 << subBits
	// numBuckets covers every non-negative int64: values below 2*subCount
	// have a bucket each, then subCount buckets per power of two.
	numBuckets = (64 - subBits) * subCount
)

// Histogram counts durations in log-linear buckets, as HdrHistogram does:
// constant memory (about 29 KiB) whatever the number of values, and a
// relative error of at most 1/64 (1.6%) on any quantile. The zero value is
// an empty histogram ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts   [numBuckets]int64
	n        int64
	min, max time.Duration
	sum      time.Duration
}

// bucket returns the index of v's bucket; v must not be negative.
func bucket(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subCount + int(v>>uint(shift))
}

// bounds returns the smallest and the largest value of bucket i.
func bounds(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := uint(i/subCount - 1)
	top := uint64(i%subCount + subCount)
	return top << shift, (top+1)<<shift - 1
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds every value of o to h.
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
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.n }

// Min and Max return the exact smallest and largest values recorded (0 if
// none).
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the exact largest value recorded (0 if none).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the exact mean of the values recorded (0 if none).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (q from 0 to 1; 0.99 for p99) by the
// nearest-rank definition: the value of rank ceil(q·n) in sorted order,
// within the histogram's precision (the middle of its bucket, kept within
// Min and Max). It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bounds(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
