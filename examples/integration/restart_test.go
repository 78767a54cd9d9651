package integration

import (
	"hash/fnv"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// stackDelay is how long the scripted fake takes for one stack operation:
// 300 to 800 ms, the same for the same stack and action on every run.
func stackDelay(stackName, action string) time.Duration {
	h := fnv.New32a()
	h.Write([]byte(stackName + "/" + action))
	return 300*time.Millisecond + time.Duration(h.Sum32()%500)*time.Millisecond
}

// lostAnswers scripts CreateStack calls whose answers are lost: the first
// CreateStack of each listed stack takes effect, but the broker gets a 500
// instead of the stack ID, and every later attempt fails with a 500 until
// the broker has restarted. So the broker stops with an operation that
// it recorded as not started although its stack exists: the state a crash
// between the AWS call and the bookkeeping leaves. After the restart,
// stacks in viaToken answer the retried create as CloudFormation does (the
// same ClientRequestToken gets the same stack); stacks in viaExists answer
// AlreadyExistsException, as a backend that ignores tokens does (moto).
type lostAnswers struct {
	viaToken, viaExists map[string]bool
	restarted           atomic.Bool
	// retried counts the CreateStack calls of these stacks after the
	// restart that reached the fake, by kind.
	retriedToken, retriedExists atomic.Int32

	mu    sync.Mutex
	calls map[string]int
}

func (l *lostAnswers) fault(call provisionertest.Call) *provisionertest.Fault {
	name := call.StackName
	if call.Action != "CreateStack" || !l.viaToken[name] && !l.viaExists[name] {
		return nil
	}
	l.mu.Lock()
	l.calls[name]++
	n := l.calls[name]
	l.mu.Unlock()
	switch {
	case n == 1:
		f := provisionertest.InternalFailure()
		f.Applied = true
		return f
	case !l.restarted.Load():
		return provisionertest.InternalFailure()
	case l.viaExists[name]:
		l.retriedExists.Add(1)
		return &provisionertest.Fault{Status: http.StatusBadRequest, Code: "AlreadyExistsException",
			Message: "Stack [" + name + "] already exists"}
	}
	l.retriedToken.Add(1)
	return nil
}

// TestRestartMidOperation stops a broker — its HTTP server and its
// Tracker — while 20 provisions and 5 deprovisions are in progress,
// starts a new one on the same bbolt file, and checks that every
// operation reaches its right end with exactly one stack per provisioned
// instance: none duplicated, none orphaned, none left behind by the
// deprovisions. Some creates lost their answers before the stop (see
// lostAnswers), so the new broker finds them recorded but not started and
// must adopt the stacks they made rather than make new ones.
func TestRestartMidOperation(t *testing.T) {
	t.Parallel()
	const earlier, fresh = 5, 20
	earlierIDs, freshIDs := newIDs(earlier), newIDs(fresh)
	name := func(id string) string { return cloudformation.StackName("brokerkit", "sqs", id) }

	lost := &lostAnswers{viaToken: map[string]bool{}, viaExists: map[string]bool{}, calls: map[string]int{}}
	for _, id := range freshIDs[:4] {
		lost.viaToken[name(id)] = true
	}
	for _, id := range freshIDs[4:7] {
		lost.viaExists[name(id)] = true
	}
	fake, srv := provisionertest.NewServer(t, provisionertest.Options{
		Script: func(op provisionertest.Op) provisionertest.Script {
			return provisionertest.Script{Delay: stackDelay(op.StackName, op.Action), Outputs: queueOutputs(op.StackName)}
		},
		Fault: lost.fault,
	})
	path := filepath.Join(t.TempDir(), "instances.db")

	// The first broker: provision the earlier instances and wait for them.
	first := openStore(t, path)
	b := startBroker(t, brokerConfig{AWS: fake.Config(srv.URL), Store: first})
	params := broker.Parameters{"VisibilityTimeout": 30, "MessageRetentionPeriod": 86400}
	each(earlierIDs, func(id string) {
		resp, err := b.Client.Provision(t.Context(), provisionRequest(id, params))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Errorf("provision %s: %v %v", id, resp, err)
			return
		}
		if lo, err := b.Client.PollLastOperation(t.Context(), id, resp.Value.Operation, pollOptions); err != nil || lo.State != broker.Succeeded {
			t.Errorf("provision %s: %q %v", id, lo.State, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// Then, all at once, 20 provisions and the deprovision of the earlier
	// ones. Every one is accepted.
	ops := map[string]string{} // instance ID → the operation the platform polls
	var mu sync.Mutex
	each(append(append([]string(nil), freshIDs...), earlierIDs...), func(id string) {
		var op string
		if slices.Contains(freshIDs, id) {
			resp, err := b.Client.Provision(t.Context(), provisionRequest(id, params))
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Errorf("provision %s: %v %v", id, resp, err)
				return
			}
			op = resp.Value.Operation
		} else {
			resp, err := b.Client.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: id,
				ServiceID: sqsServiceID, PlanID: standardPlanID, AcceptsIncomplete: true})
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Errorf("deprovision %s: %v %v", id, resp, err)
				return
			}
			op = resp.Value.Operation
		}
		mu.Lock()
		ops[id] = op
		mu.Unlock()
	})
	if t.Failed() {
		t.FailNow()
	}

	// Stop everything mid-operation: the HTTP server, the Tracker, the
	// store file.
	b.Stop()
	inFlight, err := first.InFlight(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range freshIDs[:7] {
		rec, err := first.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Operation.Started {
			t.Fatalf("instance %s: its create's answer was lost, yet its operation is recorded as started", id)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, st := range fake.Stacks() {
		if st.Status != "CREATE_COMPLETE" && st.Status != "DELETE_COMPLETE" {
			running++
		}
	}
	t.Logf("stopped with %d operations in progress in the store and %d stacks in progress", len(inFlight), running)
	if len(inFlight) == 0 {
		t.Fatal("the broker stopped with no operation in progress: the stacks were too fast for this test")
	}
	lost.restarted.Store(true)

	// A new broker on the same file finishes every operation.
	second := openStore(t, path)
	b = startBroker(t, brokerConfig{AWS: fake.Config(srv.URL), Store: second})
	each(append(append([]string(nil), freshIDs...), earlierIDs...), func(id string) {
		lo, err := b.Client.PollLastOperation(t.Context(), id, ops[id], pollOptions)
		if err != nil || lo.State != broker.Succeeded {
			t.Errorf("after the restart, instance %s: %q %v", id, lo.State, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	if n, m := lost.retriedToken.Load(), lost.retriedExists.Load(); n < int32(len(lost.viaToken)) || m < int32(len(lost.viaExists)) {
		t.Errorf("after the restart, %d creates were retried with their token and %d met AlreadyExistsException; want at least %d and %d",
			n, m, len(lost.viaToken), len(lost.viaExists))
	}

	// Every record is at its right end.
	records := map[string]*provisioner.Record{}
	for _, id := range append(append([]string(nil), freshIDs...), earlierIDs...) {
		rec, err := second.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		records[id] = rec
		op := rec.Operation
		switch {
		case slices.Contains(freshIDs, id) && (op.Kind != provisioner.KindProvision || op.State != provisioner.Succeeded || rec.Deleted):
			t.Errorf("instance %s: %s %s (deleted %v), want a succeeded provision", id, op.Kind, op.State, rec.Deleted)
		case slices.Contains(earlierIDs, id) && (op.Kind != provisioner.KindDeprovision || op.State != provisioner.Succeeded || !rec.Deleted):
			t.Errorf("instance %s: %s %s (deleted %v), want a succeeded deprovision", id, op.Kind, op.State, rec.Deleted)
		}
	}
	if rest, err := second.InFlight(t.Context()); err != nil || len(rest) != 0 {
		t.Errorf("store: %d operations still in progress (%v)", len(rest), err)
	}

	// In the fake: one stack per name ever, each live one an instance's
	// that is provisioned and records that stack; the deprovisioned
	// instances' stacks deleted.
	byName := map[string]int{}
	liveByInstance := map[string]provisionertest.StackState{}
	for _, st := range fake.Stacks() {
		byName[st.Name]++
		if st.Status == "DELETE_COMPLETE" {
			continue
		}
		id := st.Tags[cloudformation.TagInstanceID]
		rec := records[id]
		switch {
		case rec == nil || rec.Deleted:
			t.Errorf("orphaned stack %s (%s): instance %q has no live record", st.Name, st.Status, id)
		case rec.Resource != st.ID:
			t.Errorf("stack %s: the record of instance %s names stack %s", st.ID, id, rec.Resource)
		case st.Status != "CREATE_COMPLETE":
			t.Errorf("stack %s: %s, want CREATE_COMPLETE", st.Name, st.Status)
		}
		if len(st.ClientRequestTokens) != 1 {
			t.Errorf("stack %s: %d operations (tokens %v), want its one create", st.Name, len(st.ClientRequestTokens), st.ClientRequestTokens)
		}
		liveByInstance[id] = st
	}
	for n, count := range byName {
		if count != 1 {
			t.Errorf("%d stacks named %s, want 1", count, n)
		}
	}
	if len(byName) != earlier+fresh {
		t.Errorf("%d stacks were created, want %d", len(byName), earlier+fresh)
	}
	for _, id := range freshIDs {
		st, ok := liveByInstance[id]
		if !ok {
			t.Errorf("provisioned instance %s has no live stack", id)
			continue
		}
		if got, want := records[id].Outputs["QueueURL"], queueOutputs(st.Name)["QueueURL"]; got != want {
			t.Errorf("instance %s: QueueURL output %q, want %q", id, got, want)
		}
	}
	for _, id := range earlierIDs {
		if st, ok := fake.Stack(records[id].Resource); !ok || st.Status != "DELETE_COMPLETE" {
			t.Errorf("deprovisioned instance %s: stack %s is %q, want DELETE_COMPLETE", id, records[id].Resource, st.Status)
		}
	}

	// And the platform sees the same over HTTP.
	for _, id := range freshIDs {
		got, err := b.Client.GetInstance(t.Context(), brokertest.GetInstanceRequest{InstanceID: id})
		expectStatus(t, "fetch "+id, got, err, http.StatusOK)
	}
	for _, id := range earlierIDs {
		again, err := b.Client.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: id,
			ServiceID: sqsServiceID, PlanID: standardPlanID, AcceptsIncomplete: true})
		expectStatus(t, "deprovision again "+id, again, err, http.StatusGone)
	}
}

// openStore opens the bbolt store at path, closed when the test ends if
// the test has not closed it.
func openStore(t *testing.T, path string) *store.Bolt {
	t.Helper()
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = brokertest.NewUUID()
	}
	return ids
}

// each calls fn for every id at once, and waits.
func each(ids []string, fn func(id string)) {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { fn(id) })
	}
	wg.Wait()
}
