package provisioner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLeased: another owner holds a live lease on the instance's
// operation. A [Leaser] returns it wrapped in a [*LeaseHeldError].
var ErrLeased = errors.New("provisioner: operation leased by another tracker")

// Lease is one Tracker's exclusive right to work on an instance's
// operation (start it, poll it, record its end) until Until.
type Lease struct {
	InstanceID  string
	OperationID string
	// Owner names the Tracker (Options.Owner).
	Owner string
	Until time.Time
}

// LeaseHeldError is the answer of [Leaser.Claim] when a live lease of
// another owner is in the way. It matches [ErrLeased].
type LeaseHeldError struct {
	Owner string
	// Until is when the lease ends, unless renewed; zero if unknown.
	Until time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%v: held by %q until %s", ErrLeased, e.Owner, e.Until.UTC().Format(time.RFC3339Nano))
}

// Is makes errors.Is(err, ErrLeased) true.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeased }

// Leaser is implemented by a [Store] shared by several replicas of one
// Tracker (processes behind one load balancer) so that they divide the
// operations in flight instead of each polling all of them. There is at
// most one lease per instance; it is stored beside the records, with
// compare-and-swap, never in a process's memory.
//
// Times are the callers' clocks: replicas' clocks must agree to well
// within the lease duration.
type Leaser interface {
	// Claim takes or renews l. It succeeds when there is no lease on
	// l.InstanceID, when the lease is l.Owner's, when it ended before
	// now, or when it is for another operation than l.OperationID (the
	// record's compare-and-swap already replaced that one). Otherwise it
	// returns a *LeaseHeldError and changes nothing.
	Claim(ctx context.Context, l Lease, now time.Time) error
	// Release ends owner's lease on instanceID. It does nothing, and
	// returns nil, when the lease is not owner's or there is none.
	Release(ctx context.Context, instanceID, owner string) error
}

// leases is a Tracker's side of the lease protocol; its zero value (no
// Leaser) lets every call through, so that a Tracker on a Store without
// leases behaves exactly as before.
type leases struct {
	l     Leaser
	owner string
	dur   time.Duration

	mu      sync.Mutex
	foreign map[string]time.Time // operation ID → when another owner's lease ends
}

func newLeases(s Store, owner string, dur time.Duration) *leases {
	ls := &leases{foreign: map[string]time.Time{}}
	if l, ok := s.(Leaser); ok {
		ls.l, ls.owner, ls.dur = l, owner, dur
	}
	return ls
}

// randomOwner names a Tracker that was not given an Owner.
func randomOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "tracker-" + hex.EncodeToString(b)
}

// claim takes the lease on rec's operation before the Tracker works on
// it. It returns false, and reschedules the operation, when the Tracker
// must leave it alone for now: another owner holds it (look again when
// that lease ends), or the lease could not be read (look again later).
func (t *Tracker) claim(ctx context.Context, rec *Record, polls int) bool {
	ls := t.leases
	if ls.l == nil {
		return true
	}
	now := t.opts.Clock.Now()
	op := rec.Operation
	err := ls.l.Claim(ctx, Lease{InstanceID: rec.InstanceID, OperationID: op.ID, Owner: ls.owner, Until: t.leaseUntil(now, polls)}, now)
	if err == nil {
		ls.mu.Lock()
		delete(ls.foreign, op.ID)
		ls.mu.Unlock()
		return true
	}
	var held *LeaseHeldError
	if errors.As(err, &held) {
		until := held.Until
		if !until.After(now) {
			until = now.Add(ls.dur)
		}
		ls.mu.Lock()
		ls.foreign[op.ID] = until
		ls.mu.Unlock()
		// Just after the lease ends, so that an owner that died is
		// replaced within one lease duration.
		t.enqueue(rec.InstanceID, op.ID, until.Add(t.opts.PollInterval/10), polls)
		return false
	}
	t.log.Warn("claiming an operation's lease failed; will retry", "instance_id", rec.InstanceID, "operation", op.ID, "error", err)
	t.enqueue(rec.InstanceID, op.ID, now.Add(t.backoff(polls)), polls)
	return false
}

// leaseUntil is the end of a lease taken at now for poll number polls:
// the latest time the poll after it can be due (the backoff's upper
// bound, jitter included), plus LeaseDuration. A live Tracker so keeps its
// operations however far its backoff has grown; a dead one's are taken
// over at most LeaseDuration after its next poll was due.
func (t *Tracker) leaseUntil(now time.Time, polls int) time.Time {
	return now.Add(time.Duration(t.interval(polls)*(1+t.opts.Jitter)) + t.leases.dur)
}

// claimNew takes the lease on an operation this Tracker has just
// recorded, before its start call, so that other replicas leave it to
// this one. A failure is only logged: the other replicas wait
// Options.CallTimeout before they look at an operation not yet started.
func (t *Tracker) claimNew(ctx context.Context, rec *Record) {
	ls := t.leases
	if ls.l == nil {
		return
	}
	now := t.opts.Clock.Now()
	err := ls.l.Claim(ctx, Lease{InstanceID: rec.InstanceID, OperationID: rec.Operation.ID, Owner: ls.owner, Until: t.leaseUntil(now, 0)}, now)
	if err != nil {
		t.log.Debug("claiming the lease of a new operation", "instance_id", rec.InstanceID, "operation", rec.Operation.ID, "error", err)
	}
}

// release gives up the lease on instanceID once its operation ended here.
func (t *Tracker) release(ctx context.Context, instanceID, opID string) {
	ls := t.leases
	if ls.l == nil {
		return
	}
	ls.mu.Lock()
	delete(ls.foreign, opID)
	ls.mu.Unlock()
	if err := ls.l.Release(ctx, instanceID, ls.owner); err != nil {
		t.log.Debug("releasing a lease", "instance_id", instanceID, "error", err)
	}
}

// leasedElsewhere reports whether another owner's lease kept this
// Tracker off operation opID at its last look, and the lease is live.
func (t *Tracker) leasedElsewhere(opID string, now time.Time) bool {
	ls := t.leases
	if ls.l == nil {
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	until, ok := ls.foreign[opID]
	return ok && until.After(now)
}

// rescanEvery is how often Run lists the operations in flight again to
// find those of replicas that died (or started them since): nil without
// a Leaser.
func (t *Tracker) rescanEvery() (<-chan time.Time, func()) {
	if t.leases.l == nil {
		return nil, func() {}
	}
	tick := time.NewTicker(t.leases.dur)
	return tick.C, tick.Stop
}

// rescan queues the operations in flight that this Tracker does not know
// yet, and forgets foreign leases that ended long ago.
func (t *Tracker) rescan(ctx context.Context) {
	now := t.opts.Clock.Now()
	ls := t.leases
	ls.mu.Lock()
	for id, until := range ls.foreign {
		if now.Sub(until) > 2*ls.dur {
			delete(ls.foreign, id)
		}
	}
	ls.mu.Unlock()
	if err := t.Resume(ctx); err != nil {
		t.log.Warn("listing operations in progress", "error", err)
	}
}
