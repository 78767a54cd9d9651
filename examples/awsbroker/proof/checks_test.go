package proof

import (
	"testing"
	"time"
)

// TestMaxOverLimit: the rate check of TestFaults finds a burst beyond the
// bucket and passes calls paced at the rate.
func TestMaxOverLimit(t *testing.T) {
	t0 := time.Now()
	var paced, burst []time.Time
	for i := range 50 {
		paced = append(paced, t0.Add(time.Duration(i)*100*time.Millisecond)) // 10/s
	}
	for i := range 30 {
		burst = append(burst, t0.Add(time.Duration(i)*30*time.Millisecond)) // 30 in 0.9s
	}
	if e, _, _ := maxOverLimit(paced, 10, 10); e > 1 {
		t.Errorf("calls at 10/s exceed a 10/s bucket by %.1f", e)
	}
	if e, _, n := maxOverLimit(burst, 10, 10); e <= 1 {
		t.Errorf("30 calls in 0.9s exceed a 10/s bucket of 10 by only %.1f (window of %d)", e, n)
	}
}
