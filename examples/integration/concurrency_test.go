package integration

import (
	"bytes"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// concurrentPUTs is how many identical provisions a test sends at once.
const concurrentPUTs = 100

// slowCreates is a scripted fake CloudFormation whose stacks take an hour
// of clock's time to create and are deleted at once: a test decides when
// a create finishes by advancing clock.
func slowCreates(t *testing.T, clock *manualClock) (*provisionertest.CloudFormation, *testBroker) {
	t.Helper()
	fake, srv := provisionertest.NewServer(t, provisionertest.Options{
		Clock: clock.Now,
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" {
				return provisionertest.Script{Delay: time.Hour, Outputs: queueOutputs(op.StackName)}
			}
			return provisionertest.Script{}
		},
	})
	return fake, startBroker(t, brokerConfig{AWS: fake.Config(srv.URL)})
}

// putAll sends n identical provisions at once and returns the answers.
func putAll(t *testing.T, c *brokertest.Client, req brokertest.ProvisionRequest, n int) []*brokertest.Response[brokertest.ProvisionResponse] {
	t.Helper()
	answers := make([]*brokertest.Response[brokertest.ProvisionResponse], n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = c.Provision(t.Context(), req)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("provision %d: %v", i, err)
		}
	}
	return answers
}

// TestConcurrentIdenticalProvisions sends 100 identical provisions of one
// instance at once, as a platform retrying impatiently might: exactly one
// CloudFormation stack is created, and every answer is the spec's for a
// provision in progress (202 with the one operation). Once the stack is
// created, 100 more identical provisions are each answered 200 and create
// nothing.
func TestConcurrentIdenticalProvisions(t *testing.T) {
	t.Parallel()
	clock := &manualClock{}
	fake, b := slowCreates(t, clock)
	id := brokertest.NewUUID()
	req := provisionRequest(id, broker.Parameters{"VisibilityTimeout": 30})

	answers := putAll(t, b.Client, req, concurrentPUTs)
	op := answers[0].Value.Operation
	if op == "" {
		t.Fatalf("first answer: %d without an operation: %s", answers[0].StatusCode, answers[0].Body)
	}
	for i, a := range answers {
		if a.StatusCode != http.StatusAccepted || a.Value.Operation != op {
			t.Fatalf("answer %d: %d with operation %q, want 202 with %q; body %s", i, a.StatusCode, a.Value.Operation, op, a.Body)
		}
	}
	if n := fake.Calls()["CreateStack"]; n != 1 {
		t.Errorf("%d identical provisions made %d CreateStack calls, want 1", concurrentPUTs, n)
	}
	if stacks := fake.Stacks(); len(stacks) != 1 {
		t.Fatalf("%d identical provisions created %d stacks, want 1", concurrentPUTs, len(stacks))
	}

	clock.Advance(time.Hour)
	awaitOperation(t, b.Client, id, op)

	for i, a := range putAll(t, b.Client, req, concurrentPUTs) {
		if a.StatusCode != http.StatusOK || string(bytes.TrimSpace(a.Body)) != "{}" {
			t.Fatalf("answer %d after the provision: %d %s, want 200 {}", i, a.StatusCode, a.Body)
		}
	}
	if n := fake.Calls()["CreateStack"]; n != 1 {
		t.Errorf("after %d more provisions of the provisioned instance: %d CreateStack calls, want 1", concurrentPUTs, n)
	}
	stacks := fake.Stacks()
	if len(stacks) != 1 || stacks[0].Status != "CREATE_COMPLETE" || stacks[0].Tags[cloudformation.TagInstanceID] != id {
		t.Errorf("stacks: %d, want one of instance %s in CREATE_COMPLETE", len(stacks), id)
	}
}

// TestOperationsDuringProvision sends, while a provision is in progress,
// a provision with other parameters (409 Conflict), an update (422
// ConcurrencyError) and a deprovision, which is accepted (202) and
// deletes the stack only once its create has settled (checklist D7).
func TestOperationsDuringProvision(t *testing.T) {
	t.Parallel()
	clock := &manualClock{}
	fake, b := slowCreates(t, clock)
	c, ctx := b.Client, t.Context()
	id := brokertest.NewUUID()

	resp, err := c.Provision(ctx, provisionRequest(id, broker.Parameters{"VisibilityTimeout": 30}))
	expectStatus(t, "provision", resp, err, http.StatusAccepted)
	provisionOp := resp.Value.Operation

	other, err := c.Provision(ctx, provisionRequest(id, broker.Parameters{"VisibilityTimeout": 60}))
	expectStatus(t, "provision with other parameters", other, err, http.StatusConflict)

	up, err := c.Update(ctx, brokertest.UpdateRequest{InstanceID: id, ServiceID: sqsServiceID,
		Parameters: broker.Parameters{"VisibilityTimeout": 60}, AcceptsIncomplete: true})
	expectStatus(t, "update during the provision", up, err, http.StatusUnprocessableEntity)
	if up.Error == nil || up.Error.Code != "ConcurrencyError" {
		t.Errorf("update during the provision: error body %s, want error ConcurrencyError", up.Body)
	}

	del, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID,
		PlanID: standardPlanID, AcceptsIncomplete: true})
	expectStatus(t, "deprovision during the provision", del, err, http.StatusAccepted)
	deleteOp := del.Value.Operation
	if deleteOp == "" || deleteOp == provisionOp {
		t.Fatalf("deprovision: operation %q, want a new one (the provision's is %q)", deleteOp, provisionOp)
	}

	// The Tracker polls many times while the create runs; it must not
	// delete the stack under it.
	time.Sleep(500 * time.Millisecond) // ten of its poll intervals
	lo, err := c.LastOperation(ctx, brokertest.LastOperationRequest{InstanceID: id, Operation: deleteOp})
	expectStatus(t, "last_operation while the create runs", lo, err, http.StatusOK)
	if lo.Value.State != broker.InProgress {
		t.Errorf("deprovision while the create runs: %q, want in progress", lo.Value.State)
	}
	if n := fake.Calls()["DeleteStack"]; n != 0 {
		t.Fatalf("%d DeleteStack calls while the create was in progress, want 0", n)
	}

	clock.Advance(time.Hour) // the create completes
	awaitOperation(t, c, id, deleteOp)

	stacks := fake.Stacks()
	if len(stacks) != 1 {
		t.Fatalf("%d stacks, want the one", len(stacks))
	}
	st := stacks[0]
	if st.Status != "DELETE_COMPLETE" {
		t.Errorf("the stack is %s, want DELETE_COMPLETE", st.Status)
	}
	// The stack's own events, oldest first: its create completed before
	// its delete began.
	var order []string
	for _, e := range st.Events {
		if e.LogicalResourceID == st.Name {
			order = append(order, e.Status)
		}
	}
	want := []string{"CREATE_IN_PROGRESS", "CREATE_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"}
	if !slices.Equal(order, want) {
		t.Errorf("stack events %v, want %v", order, want)
	}
	live := 0
	for _, s := range fake.Stacks() {
		if s.Status != "DELETE_COMPLETE" {
			live++
		}
	}
	if live != 0 {
		t.Errorf("%d live stacks after the deprovision, want 0", live)
	}

	again, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID,
		PlanID: standardPlanID, AcceptsIncomplete: true})
	expectStatus(t, "second deprovision", again, err, http.StatusGone)
}

// TestDeprovisionDuringAPoll is D7 again, with the deprovision arriving
// exactly while the Tracker is polling the provision: the fake holds that
// DescribeStacks until the deprovision has been accepted. The deprovision
// must still delete the stack once the create settles.
func TestDeprovisionDuringAPoll(t *testing.T) {
	t.Parallel()
	clock := &manualClock{}
	polling := make(chan struct{}, 1) // a poll has reached the fake
	release := make(chan struct{})    // let it go on
	releaseOnce := sync.OnceFunc(func() { close(release) })
	var hold atomic.Bool
	fake, srv := provisionertest.NewServer(t, provisionertest.Options{
		Clock: clock.Now,
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" {
				return provisionertest.Script{Delay: time.Hour, Outputs: queueOutputs(op.StackName)}
			}
			return provisionertest.Script{}
		},
		Fault: func(call provisionertest.Call) *provisionertest.Fault {
			if call.Action == "DescribeStacks" && hold.CompareAndSwap(true, false) {
				polling <- struct{}{}
				<-release
			}
			return nil
		},
	})
	t.Cleanup(releaseOnce) // before the fake's server closes, should the test stop early
	b := startBroker(t, brokerConfig{AWS: fake.Config(srv.URL)})
	c, ctx := b.Client, t.Context()
	id := brokertest.NewUUID()

	hold.Store(true)
	resp, err := c.Provision(ctx, provisionRequest(id, broker.Parameters{"VisibilityTimeout": 30}))
	expectStatus(t, "provision", resp, err, http.StatusAccepted)
	<-polling // the Tracker's first poll of the provision is in flight
	del, err := c.Deprovision(ctx, brokertest.DeprovisionRequest{InstanceID: id, ServiceID: sqsServiceID,
		PlanID: standardPlanID, AcceptsIncomplete: true})
	releaseOnce()
	expectStatus(t, "deprovision during a poll", del, err, http.StatusAccepted)

	clock.Advance(time.Hour)
	lo, err := c.PollLastOperation(ctx, id, del.Value.Operation, brokertest.PollOptions{
		Interval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil || lo.State != broker.Succeeded {
		var recorded string
		if rec, err := b.Store.Get(ctx, id); err == nil {
			recorded = string(rec.Operation.Kind) + " " + string(rec.Operation.State)
		}
		t.Fatalf("deprovision accepted during a poll: %q, %v; the record's operation: %s; operations the Tracker has scheduled: %d",
			lo.State, err, recorded, b.Tracker.InFlight())
	}
	stacks := fake.Stacks()
	if len(stacks) != 1 || stacks[0].Status != "DELETE_COMPLETE" || stacks[0].Tags[cloudformation.TagInstanceID] != id {
		t.Errorf("%d stacks, want one of instance %s in DELETE_COMPLETE", len(stacks), id)
	}
}
