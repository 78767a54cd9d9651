package provisioner_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/provisioner"
)

// R1: a backend call that runs into CallTimeout (context.DeadlineExceeded
// from the per-call context, as the SDK returns it) is judged terminal:
// the request path deletes the record and answers an error, although
// CloudFormation may have accepted the call -> an orphaned stack that a
// DELETE (410) can no longer find.
func TestRobustCallTimeoutIsNotTerminal(t *testing.T) {
	ctx := context.Background()
	created := false
	prov := &fakeProv{create: func(op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
		created = true // the server accepted it; the response was slow
		return provisioner.Start{}, fmt.Errorf("operation error CloudFormation: CreateStack, %w", context.DeadlineExceeded)
	}}
	e := newEnv(t, prov)
	_, err := e.tr.Provision(ctx, provisionReq(nil))
	if err != nil {
		t.Errorf("Provision = %v; want the operation kept and retried (a call timeout is transient)", err)
	}
	if _, gerr := e.store.Get(ctx, instanceID); gerr != nil && created {
		t.Errorf("record gone after a timed-out CreateStack (%v): the stack is orphaned; Deprovision now answers 410", gerr)
	}
}

// R1b: the same in the background: a timed-out retry marks the operation
// failed for good ("The backend refused the operation.").
func TestRobustCallTimeoutInRunFailsOperation(t *testing.T) {
	ctx := context.Background()
	n := 0
	prov := &fakeProv{create: func(op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
		n++
		if n == 1 {
			return provisioner.Start{}, errors.New("Throttling: Rate exceeded")
		}
		if n == 2 {
			return provisioner.Start{}, fmt.Errorf("CreateStack: %w", context.DeadlineExceeded)
		}
		return provisioner.Start{Resource: "stack/" + inst.ID}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(5)
	if rec := e.record(instanceID); rec.Operation.State == provisioner.Failed {
		t.Errorf("operation failed after one timed-out retry: %q", rec.Operation.Description)
	}
}

// R2: the platform drops the connection (request ctx cancelled) while
// Create runs. The record stays in progress, unstarted and unscheduled:
// nothing ever starts or fails it until the process restarts.
func TestRobustCancelledRequestStrandsOperation(t *testing.T) {
	reqCtx, cancel := context.WithCancel(context.Background())
	prov := &fakeProv{}
	prov.create = func(op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
		if prov.called("Create") == 1 {
			cancel() // the platform hung up
			return provisioner.Start{}, context.Canceled
		}
		return provisioner.Start{Resource: "stack/" + inst.ID}, nil
	}
	e := newEnv(t, prov)
	_, _ = e.tr.Provision(reqCtx, provisionReq(nil))
	e.settle(20) // 5 minutes of polling
	rec, err := e.store.Get(context.Background(), instanceID)
	if err != nil {
		return // record undone: acceptable
	}
	if rec.Operation.State == provisioner.InProgress && e.tr.InFlight() == 0 {
		t.Errorf("operation %s stuck: in progress, started=%v, scheduled=%d, Create calls=%d",
			rec.Operation.ID, rec.Operation.Started, e.tr.InFlight(), prov.called("Create"))
	}
}

// R2b: same for an update: every later PATCH is 422 for ever.
func TestRobustCancelledUpdateBlocksInstance(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(2)
	reqCtx, cancel := context.WithCancel(ctx)
	prov.update = func(op *provisioner.Operation, inst *provisioner.Instance, ch provisioner.Change) (provisioner.Start, error) {
		cancel()
		return provisioner.Start{}, context.Canceled
	}
	_, _ = e.tr.Update(reqCtx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 2}}})
	prov.update = nil
	e.settle(1000) // hours: past OperationTimeout and maximum_polling_duration
	_, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 3}}})
	if errors.Is(err, provisioner.ErrBusy) {
		t.Errorf("hours later a new update is still refused: %v (state %s)", err, e.record(instanceID).Operation.State)
	}
}

// R3: U8 - a repeated PATCH before completion must get 202 with the same
// operation. Platforms send plan_id on every PATCH; the stored change had
// it normalised away, so the repeat is answered 422.
func TestRobustRepeatedUpdateWithCurrentPlanJoins(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	prov.observe = nil
	e.settle(1)
	prov.observe = func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}
	req := provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{PlanID: planA, Parameters: map[string]any{"size": 2}}}
	first, err := e.tr.Update(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.tr.Update(ctx, req)
	if err != nil || again.Outcome != provisioner.Joined || again.Operation.ID != first.Operation.ID {
		t.Errorf("repeated identical PATCH = %+v, %v; want Joined %s", again, err, first.Operation.ID)
	}
}

// R3b: same with a secret parameter: the stored change has no secret
// values, the request has them.
func TestRobustRepeatedUpdateWithSecretJoins(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	prov.observe = func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}
	req := provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"password": "hunter22"}}}
	first, err := e.tr.Update(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.tr.Update(ctx, req)
	if err != nil || again.Outcome != provisioner.Joined || again.Operation.ID != first.Operation.ID {
		t.Errorf("repeated identical PATCH with a secret = %+v, %v; want Joined %s", again, err, first.Operation.ID)
	}
}

// R4: D7 - a deprovision accepted during a provision that never settles
// (moto: a stack left in CREATE_IN_PROGRESS; a stuck custom resource)
// waits for ever: waitingDelete applies no timeout, and the provision's
// own timeout no longer runs (its schedule entry is dropped).
func TestRobustDeprovisionDuringStuckProvisionEnds(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress, Status: "CREATE_IN_PROGRESS"}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Deprovision(ctx, instanceID); err != nil {
		t.Fatal(err)
	}
	for range 2000 { // 2000 * 15s > 8h, well past OperationTimeout (2h) and the plan's 600s
		e.clock.Advance(15 * time.Second)
		e.tr.Poll(ctx)
	}
	if op := e.record(instanceID).Operation; op.State == provisioner.InProgress {
		t.Errorf("deprovision %s still in progress after 8h (After=%q, Delete calls %d)", op.ID, op.After, prov.called("Delete"))
	}
}

type retryableErr struct{}

func (retryableErr) Error() string        { return "Throttling: Rate exceeded" }
func (retryableErr) RetryableError() bool { return true }

// R4b: an operation whose start keeps failing retryably (throttling for
// hours, a stack that stays DELETE_IN_PROGRESS under ErrRecreating, a
// delete refused while a stuck update runs) never meets OperationTimeout:
// retryStart does not check it.
func TestRobustUnstartedOperationTimesOut(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{create: func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
		return provisioner.Start{}, retryableErr{}
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		e.clock.Advance(15 * time.Second)
		e.tr.Poll(ctx)
	}
	if op := e.record(instanceID).Operation; op.State == provisioner.InProgress {
		t.Errorf("provision still in progress after 8h and %d Create calls (plan maximum_polling_duration 600s)", prov.called("Create"))
	}
}
