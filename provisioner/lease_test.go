package provisioner_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// pollLog records who observed which instance when, across replicas.
type pollLog struct {
	mu     sync.Mutex
	polls  []poll
	finish map[string]bool // instance → its stack is done
}

type poll struct {
	replica, instance string
	at                time.Time
}

// replica is one Tracker of a group sharing a leased store.
type replica struct {
	name string
	tr   *provisioner.Tracker
	prov *fakeProv
}

const leaseDuration = 30 * time.Second

func newReplicas(t *testing.T, clock *fakeClock, s provisioner.Store, log *pollLog, names ...string) []*replica {
	t.Helper()
	var rs []*replica
	for _, name := range names {
		prov := &fakeProv{}
		prov.observe = func(req provisioner.ObserveRequest) (provisioner.Observation, error) {
			log.mu.Lock()
			defer log.mu.Unlock()
			log.polls = append(log.polls, poll{name, req.Instance.ID, clock.Now()})
			if log.finish[req.Instance.ID] {
				return provisioner.Observation{State: provisioner.Succeeded}, nil
			}
			return provisioner.Observation{State: provisioner.InProgress}, nil
		}
		tr, err := provisioner.New(provisioner.Options{Store: s, Provisioner: prov, Catalog: testIndex(t), Clock: clock,
			PollInterval: 5 * time.Second, MaxPollInterval: 10 * time.Second, Jitter: 0.01,
			Owner: name, LeaseDuration: leaseDuration})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &replica{name: name, tr: tr, prov: prov})
	}
	return rs
}

// pollers returns, for each instance, the replicas that observed it at
// or after from, in order of first observation.
func (l *pollLog) pollers(from time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for _, p := range l.polls {
		if !p.at.Before(from) && !slices.Contains(out[p.instance], p.replica) {
			out[p.instance] = append(out[p.instance], p.replica)
		}
	}
	return out
}

// overlaps returns the polls of an instance by a replica within window of
// another replica's poll of it: a stack polled by two replicas in the
// same interval.
func (l *pollLog) overlaps(window time.Duration) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var bad []string
	last := map[string]poll{}
	for _, p := range l.polls {
		if q, ok := last[p.instance]; ok && q.replica != p.replica && p.at.Sub(q.at) < window {
			bad = append(bad, fmt.Sprintf("%s by %s at %s and by %s at %s", p.instance, q.replica, q.at.Format(time.TimeOnly), p.replica, p.at.Format(time.TimeOnly)))
		}
		last[p.instance] = p
	}
	return bad
}

// TestReplicasDivideOperations runs three Trackers on one leased store:
// each operation is polled by the replica that started it only, even
// though every replica has listed every operation; when one replica
// stops (dies), the others take its operations over after the lease
// ends, and never two at once.
func TestReplicasDivideOperations(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	s := store.NewMemory().Leased()
	log := &pollLog{finish: map[string]bool{}}
	rs := newReplicas(t, clock, s, log, "a", "b", "c")

	starter := map[string]string{}
	for i := range 9 {
		r := rs[i%3]
		req := provisionReq(nil)
		req.InstanceID = fmt.Sprintf("i-%d", i)
		if _, err := r.tr.Provision(ctx, req); err != nil {
			t.Fatal(err)
		}
		starter[req.InstanceID] = r.name
	}
	for _, r := range rs {
		if err := r.tr.Resume(ctx); err != nil { // as Run's start and rescans do
			t.Fatal(err)
		}
	}
	step := func(alive []*replica, d time.Duration) {
		for end := clock.Now().Add(d); clock.Now().Before(end); {
			clock.Advance(time.Second)
			for _, r := range alive {
				r.tr.Poll(ctx)
			}
		}
	}
	start := clock.Now()
	step(rs, 2*time.Minute)
	for id, who := range log.pollers(start) {
		if len(who) != 1 || who[0] != starter[id] {
			t.Errorf("%s was polled by %v, want only by %s, which started it", id, who, starter[id])
		}
	}
	if got := len(log.pollers(start)); got != 9 {
		t.Errorf("%d instances polled, want 9", got)
	}

	// a dies: b and c take its operations over once its leases end.
	died := clock.Now()
	step(rs[1:], leaseDuration+time.Minute)
	taken := log.pollers(died.Add(leaseDuration + 15*time.Second))
	for id, who := range taken {
		if starter[id] == "a" && (len(who) != 1 || who[0] == "a") {
			t.Errorf("after a died, %s was polled by %v, want by one of b and c", id, who)
		}
		if starter[id] != "a" && (len(who) != 1 || who[0] != starter[id]) {
			t.Errorf("after a died, %s was polled by %v, want still only by %s", id, who, starter[id])
		}
	}
	for id, s := range starter {
		if s == "a" && len(taken[id]) == 0 {
			t.Errorf("%s of the dead replica was not taken over", id)
		}
	}
	if bad := log.overlaps(5 * time.Second); len(bad) > 0 {
		t.Errorf("stacks polled by two replicas within one poll interval:\n%v", bad)
	}

	// The stacks finish: every operation ends, recorded once.
	log.mu.Lock()
	for id := range starter {
		log.finish[id] = true
	}
	log.mu.Unlock()
	step(rs[1:], time.Minute)
	recs, err := s.InFlight(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("InFlight after the stacks finished = %d records, %v; want none", len(recs), err)
	}
	for id := range starter {
		if rec, err := s.Get(ctx, id); err != nil || rec.Operation.State != provisioner.Succeeded {
			t.Errorf("%s: %v, %v; want succeeded", id, rec, err)
		}
	}
	for _, r := range rs {
		if n := r.prov.called("Create"); n != 3 {
			t.Errorf("replica %s called Create %d times, want 3 (its own requests only)", r.name, n)
		}
	}
}

// TestReplicaTakesOverAnUnstartedOperation: a replica recorded an
// operation and died before its start call returned; another replica
// starts it, once, after CallTimeout.
func TestReplicaTakesOverAnUnstartedOperation(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	s := store.NewMemory().Leased()
	log := &pollLog{finish: map[string]bool{instanceID: true}}
	rs := newReplicas(t, clock, s, log, "a", "b")
	rs[0].prov.create = func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
		return provisioner.Start{}, context.DeadlineExceeded // the call never came back
	}
	if _, err := rs[0].tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	if err := rs[1].tr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	for range 120 { // a is dead: only b polls, for two minutes
		clock.Advance(time.Second)
		rs[1].tr.Poll(ctx)
	}
	if n := rs[1].prov.called("Create"); n != 1 {
		t.Errorf("b called Create %d times, want 1", n)
	}
	if rec, err := s.Get(ctx, instanceID); err != nil || rec.Operation.State != provisioner.Succeeded {
		t.Errorf("after the takeover: %+v, %v; want succeeded", rec.Operation, err)
	}
}
