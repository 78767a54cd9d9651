package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
)

// RunLeaser checks the contract of [provisioner.Leaser], one parallel
// subtest per rule, on stores made by newStore under the same terms as
// [Run]: claims on a free, an own, a live foreign, an ended and a
// replaced operation's lease; the LeaseHeldError's owner and end;
// Release by the owner and by another; and, under contention, that of
// 20 owners claiming one lease at once exactly one wins.
func RunLeaser(t *testing.T, newStore func(t *testing.T) provisioner.Leaser) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(t *testing.T, l provisioner.Leaser)
	}{
		{"ClaimFree", testClaimFree},
		{"ClaimHeld", testClaimHeld},
		{"ClaimEnded", testClaimEnded},
		{"ClaimReplaced", testClaimReplaced},
		{"Release", testRelease},
		{"ConcurrentClaim", testConcurrentClaim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

var leaseNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func lease(id, op, owner string, until time.Time) provisioner.Lease {
	return provisioner.Lease{InstanceID: id, OperationID: op, Owner: owner, Until: until}
}

func mustClaim(t *testing.T, l provisioner.Leaser, ls provisioner.Lease, now time.Time) {
	t.Helper()
	if err := l.Claim(t.Context(), ls, now); err != nil {
		t.Fatalf("Claim(%s by %s at %v) = %v, want nil", ls.InstanceID, ls.Owner, now, err)
	}
}

func wantHeld(t *testing.T, l provisioner.Leaser, ls provisioner.Lease, now time.Time, owner string, until time.Time) {
	t.Helper()
	err := l.Claim(t.Context(), ls, now)
	var held *provisioner.LeaseHeldError
	if !errors.Is(err, provisioner.ErrLeased) || !errors.As(err, &held) {
		t.Fatalf("Claim(%s by %s at %v) = %v, want a *LeaseHeldError matching ErrLeased", ls.InstanceID, ls.Owner, now, err)
	}
	if held.Owner != owner || !held.Until.Equal(until) {
		t.Errorf("LeaseHeldError names %q until %v, want %q until %v", held.Owner, held.Until, owner, until)
	}
}

func testClaimFree(t *testing.T, l provisioner.Leaser) {
	id := newID("free")
	mustClaim(t, l, lease(id, "op", "a", leaseNow.Add(time.Minute)), leaseNow)
	// The owner renews, even before its lease ends.
	mustClaim(t, l, lease(id, "op", "a", leaseNow.Add(2*time.Minute)), leaseNow.Add(time.Second))
	// Another instance's lease is independent.
	mustClaim(t, l, lease(newID("free"), "op", "b", leaseNow.Add(time.Minute)), leaseNow)
}

func testClaimHeld(t *testing.T, l provisioner.Leaser) {
	id := newID("held")
	until := leaseNow.Add(time.Minute)
	mustClaim(t, l, lease(id, "op", "a", until), leaseNow)
	wantHeld(t, l, lease(id, "op", "b", leaseNow.Add(2*time.Minute)), leaseNow.Add(30*time.Second), "a", until)
	wantHeld(t, l, lease(id, "op", "b", leaseNow.Add(2*time.Minute)), until, "a", until) // not before now: live
	// The failed claim changed nothing: a still renews, b still waits.
	mustClaim(t, l, lease(id, "op", "a", until.Add(time.Minute)), leaseNow.Add(40*time.Second))
	wantHeld(t, l, lease(id, "op", "b", leaseNow.Add(3*time.Minute)), leaseNow.Add(90*time.Second), "a", until.Add(time.Minute))
}

func testClaimEnded(t *testing.T, l provisioner.Leaser) {
	id := newID("ended")
	mustClaim(t, l, lease(id, "op", "a", leaseNow.Add(time.Minute)), leaseNow)
	after := leaseNow.Add(time.Minute + time.Millisecond)
	mustClaim(t, l, lease(id, "op", "b", after.Add(time.Minute)), after)
	wantHeld(t, l, lease(id, "op", "a", after.Add(time.Minute)), after, "b", after.Add(time.Minute))
}

func testClaimReplaced(t *testing.T, l provisioner.Leaser) {
	id := newID("replaced")
	mustClaim(t, l, lease(id, "op-1", "a", leaseNow.Add(time.Minute)), leaseNow)
	mustClaim(t, l, lease(id, "op-2", "b", leaseNow.Add(time.Minute)), leaseNow)
	wantHeld(t, l, lease(id, "op-2", "a", leaseNow.Add(time.Minute)), leaseNow, "b", leaseNow.Add(time.Minute))
}

func testRelease(t *testing.T, l provisioner.Leaser) {
	ctx := t.Context()
	id := newID("release")
	if err := l.Release(ctx, id, "a"); err != nil {
		t.Errorf("Release of no lease = %v, want nil", err)
	}
	until := leaseNow.Add(time.Minute)
	mustClaim(t, l, lease(id, "op", "a", until), leaseNow)
	if err := l.Release(ctx, id, "b"); err != nil {
		t.Errorf("Release by another owner = %v, want nil", err)
	}
	wantHeld(t, l, lease(id, "op", "b", until), leaseNow, "a", until)
	if err := l.Release(ctx, id, "a"); err != nil {
		t.Fatalf("Release by the owner = %v", err)
	}
	mustClaim(t, l, lease(id, "op", "b", until), leaseNow)
}

func testConcurrentClaim(t *testing.T, l provisioner.Leaser) {
	const n = 20
	id := newID("contended")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = l.Claim(t.Context(), lease(id, "op", fmt.Sprint("owner-", i), leaseNow.Add(time.Minute)), leaseNow)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, provisioner.ErrLeased):
			t.Errorf("owner %d: Claim = %v, want nil or ErrLeased", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent claims of one free lease succeeded, want exactly 1", wins, n)
	}
}
