package provisioner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

const (
	svcID      = "svc"
	planA      = "plan-a" // plan_updateable, secret "password", maximum_polling_duration 600
	planB      = "plan-b"
	planFixed  = "plan-fixed" // not plan_updateable
	instanceID = "i-1"
)

func testIndex(t testing.TB) *catalog.Index {
	t.Helper()
	schema := catalog.Schema{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"properties": map[string]any{"password": map[string]any{"type": "string", "writeOnly": true}, "size": map[string]any{"type": "integer"}}}
	idx, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: svcID, Name: "queue", Description: "d", PlanUpdateable: true,
		Plans: []catalog.Plan{
			{ID: planA, Name: "a", Description: "d", MaximumPollingDuration: 600,
				MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"},
				Schemas: &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
					Create: &catalog.InputParameters{Parameters: schema}, Update: &catalog.InputParameters{Parameters: schema}}}},
			{ID: planB, Name: "b", Description: "d"},
			{ID: planFixed, Name: "fixed", Description: "d", PlanUpdateable: catalog.Bool(false)},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// secretValue is the value of the secret parameter "password": the
// repository-wide canary.
const secretValue = canary.Secret

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeProv is a scripted Provisioner: each method calls its function
// field if set; Observe defaults to the state in states[resource].
type fakeProv struct {
	mu      sync.Mutex
	create  func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error)
	update  func(*provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error)
	delete  func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error)
	observe func(provisioner.ObserveRequest) (provisioner.Observation, error)
	calls   map[string]int
	seen    []*provisioner.Instance
}

func (f *fakeProv) count(name string, inst *provisioner.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
	f.seen = append(f.seen, inst)
}

func (f *fakeProv) called(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeProv) Create(_ context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	f.count("Create", inst)
	if f.create != nil {
		return f.create(op, inst)
	}
	return provisioner.Start{Resource: "stack/" + inst.ID}, nil
}

func (f *fakeProv) Update(_ context.Context, op *provisioner.Operation, inst *provisioner.Instance, ch provisioner.Change) (provisioner.Start, error) {
	f.count("Update", inst)
	if f.update != nil {
		return f.update(op, inst, ch)
	}
	return provisioner.Start{}, nil
}

func (f *fakeProv) Delete(_ context.Context, op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	f.count("Delete", inst)
	if f.delete != nil {
		return f.delete(op, inst)
	}
	return provisioner.Start{}, nil
}

func (f *fakeProv) Observe(_ context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	f.count("Observe", req.Instance)
	if f.observe != nil {
		return f.observe(req)
	}
	return provisioner.Observation{State: provisioner.Succeeded, Outputs: map[string]string{"QueueURL": "https://q/" + req.Instance.ID}}, nil
}

type env struct {
	t     *testing.T
	store provisioner.Store
	prov  *fakeProv
	clock *fakeClock
	tr    *provisioner.Tracker
}

func newEnv(t *testing.T, prov *fakeProv, optFns ...func(*provisioner.Options)) *env {
	t.Helper()
	e := &env{t: t, store: store.NewMemory(), prov: prov, clock: &fakeClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}}
	e.tr = e.newTracker(optFns...)
	return e
}

func (e *env) newTracker(optFns ...func(*provisioner.Options)) *provisioner.Tracker {
	tr, err := provisioner.New(provisioner.Options{Store: e.store, Provisioner: e.prov, Catalog: testIndex(e.t), Clock: e.clock, Logger: canary.Logger(e.t),
		PollInterval: time.Second, MaxPollInterval: 10 * time.Second}, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return tr
}

// settle advances the clock and polls until nothing is due, at most n
// rounds.
func (e *env) settle(n int) {
	for range n {
		e.clock.Advance(15 * time.Second)
		e.tr.Poll(context.Background())
	}
}

func (e *env) record(id string) *provisioner.Record {
	e.t.Helper()
	rec, err := e.store.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return rec
}

func provisionReq(params map[string]any) provisioner.ProvisionRequest {
	return provisioner.ProvisionRequest{InstanceID: instanceID, ServiceID: svcID, PlanID: planA,
		OrganizationGUID: "org", SpaceGUID: "space", Parameters: params, Context: map[string]any{"platform": "kubernetes"}}
}

func TestProvisionRecordsBeforeTheBackendCall(t *testing.T) {
	ctx := context.Background()
	var e *env
	prov := &fakeProv{create: func(op *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
		rec := e.record(inst.ID)
		if rec.Operation.ID != op.ID || rec.Operation.Started {
			t.Errorf("at Create the store has %+v, want operation %s recorded and not started", rec.Operation, op.ID)
		}
		return provisioner.Start{Resource: "stack/1"}, nil
	}}
	e = newEnv(t, prov)
	res, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": json.Number("1209600")}))
	if err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("Provision = %+v, %v", res, err)
	}
	rec := e.record(instanceID)
	if !rec.Operation.Started || rec.Resource != "stack/1" || rec.Operation.State != provisioner.InProgress {
		t.Fatalf("after start: %+v resource %q", rec.Operation, rec.Resource)
	}
	st, err := e.tr.LastOperation(ctx, instanceID, res.Operation.ID)
	if err != nil || st.Operation.State != provisioner.InProgress || st.RetryAfter <= 0 {
		t.Fatalf("LastOperation = %+v, %v; want in progress with a Retry-After", st, err)
	}
	e.settle(1)
	rec = e.record(instanceID)
	if rec.Operation.State != provisioner.Succeeded || rec.Outputs["QueueURL"] != "https://q/"+instanceID {
		t.Fatalf("after a poll: %+v outputs %v", rec.Operation, rec.Outputs)
	}
	if got := fmt.Sprint(rec.Parameters["size"]); got != "1209600" {
		t.Errorf("stored size = %s, want 1209600 exactly", got)
	}
}

func TestProvisionIdempotency(t *testing.T) {
	ctx := context.Background()
	inProgress := true
	prov := &fakeProv{observe: func(req provisioner.ObserveRequest) (provisioner.Observation, error) {
		if inProgress {
			return provisioner.Observation{State: provisioner.InProgress}, nil
		}
		return provisioner.Observation{State: provisioner.Succeeded}, nil
	}}
	e := newEnv(t, prov)
	first, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tr.Instance(ctx, instanceID); !errors.Is(err, provisioner.ErrNotFound) || !errors.Is(err, provisioner.ErrProvisioning) {
		t.Errorf("Instance during the provision: %v, want ErrNotFound and ErrProvisioning", err)
	}
	// I: provisioning in progress, same attributes → the same operation.
	again, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": json.Number("1")}))
	if err != nil || again.Outcome != provisioner.Joined || again.Operation.ID != first.Operation.ID {
		t.Errorf("repeat in progress = %+v, %v; want Joined %s", again, err, first.Operation.ID)
	}
	// I: different attributes → conflict; context is ignored.
	if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 2})); !errors.Is(err, provisioner.ErrConflict) {
		t.Errorf("different parameters: %v, want ErrConflict", err)
	}
	ctxOnly := provisionReq(map[string]any{"size": 1})
	ctxOnly.Context = map[string]any{"platform": "cloudfoundry"}
	if res, err := e.tr.Provision(ctx, ctxOnly); err != nil || res.Outcome != provisioner.Joined {
		t.Errorf("other context only: %+v, %v; want Joined", res, err)
	}
	// Update and deprovision during the provision.
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 3}}}); !errors.Is(err, provisioner.ErrBusy) {
		t.Errorf("update during provision: %v, want ErrBusy", err)
	}
	inProgress = false
	e.settle(1)
	// I: provisioned, same attributes → Unchanged.
	if res, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 1})); err != nil || res.Outcome != provisioner.Unchanged {
		t.Errorf("repeat after success: %+v, %v; want Unchanged", res, err)
	}
	if n := e.prov.called("Create"); n != 1 {
		t.Errorf("Create called %d times, want 1", n)
	}
}

func TestProvisionFailedWaitsForDelete(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.Failed, Status: "ROLLBACK_COMPLETE", Description: "Queue (AWS::SQS::Queue): name taken"}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	st, err := e.tr.LastOperation(ctx, instanceID, "")
	if err != nil || st.Operation.State != provisioner.Failed || st.Operation.Description != "Queue (AWS::SQS::Queue): name taken" {
		t.Fatalf("LastOperation = %+v, %v", st.Operation, err)
	}
	if st.Operation.InstanceUsable != nil {
		t.Errorf("instance_usable set on a failed provision")
	}
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); !errors.Is(err, provisioner.ErrConflict) {
		t.Errorf("PUT after a failed provision: %v, want ErrConflict (the platform deletes first)", err)
	}
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 1}}}); err == nil {
		t.Errorf("update of a failed instance accepted")
	}
	prov.observe = nil
	if res, err := e.tr.Deprovision(ctx, instanceID); err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("Deprovision = %+v, %v", res, err)
	}
	e.settle(1)
	if rec := e.record(instanceID); !rec.Deleted {
		t.Errorf("after the delete: %+v, want a tombstone", rec)
	}
}

func TestStartRetriedAfterATransientError(t *testing.T) {
	ctx := context.Background()
	fails := 2
	prov := &fakeProv{create: func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
		if fails > 0 {
			fails--
			return provisioner.Start{}, errors.New("Throttling: Rate exceeded")
		}
		return provisioner.Start{Resource: "stack/x"}, nil
	}}
	e := newEnv(t, prov)
	res, err := e.tr.Provision(ctx, provisionReq(nil))
	if err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("Provision = %+v, %v; want Started despite the transient error", res, err)
	}
	if rec := e.record(instanceID); rec.Operation.Started {
		t.Fatalf("operation marked started after a failed call")
	}
	e.settle(6)
	rec := e.record(instanceID)
	if rec.Operation.State != provisioner.Succeeded || rec.Resource != "stack/x" || e.prov.called("Create") != 3 {
		t.Fatalf("after retries: %+v resource %q, %d Create calls", rec.Operation, rec.Resource, e.prov.called("Create"))
	}
}

func TestTerminalStartErrorLeavesNothing(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{create: func(*provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
		return provisioner.Start{}, provisioner.Terminal(provisioner.ReasonInvalid, errors.New("parameter size must be a number"))
	}}
	e := newEnv(t, prov)
	_, err := e.tr.Provision(ctx, provisionReq(nil))
	var te *provisioner.TerminalError
	if !errors.As(err, &te) || te.Reason != provisioner.ReasonInvalid {
		t.Fatalf("Provision error = %v, want a TerminalError", err)
	}
	// A 4xx leaves nothing behind: the record is undone... as a failed
	// provision the platform will not see. It must not block a retry.
	prov.create = nil
	if res, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 5})); err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("a corrected provision after a refused one: %+v, %v", res, err)
	}
}

func TestDeprovisionDuringProvisionWaits(t *testing.T) {
	ctx := context.Background()
	creating := true
	prov := &fakeProv{observe: func(req provisioner.ObserveRequest) (provisioner.Observation, error) {
		switch req.Operation.Kind {
		case provisioner.KindProvision:
			if creating {
				return provisioner.Observation{State: provisioner.InProgress, Status: "CREATE_IN_PROGRESS"}, nil
			}
			return provisioner.Observation{State: provisioner.Succeeded}, nil
		}
		return provisioner.Observation{State: provisioner.Succeeded, Status: "DELETE_COMPLETE"}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	res, err := e.tr.Deprovision(ctx, instanceID)
	if err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("Deprovision during provision = %+v, %v; want accepted (D7)", res, err)
	}
	again, err := e.tr.Deprovision(ctx, instanceID)
	if err != nil || again.Outcome != provisioner.Joined || again.Operation.ID != res.Operation.ID {
		t.Errorf("repeated Deprovision = %+v, %v; want Joined", again, err)
	}
	e.settle(3)
	if n := e.prov.called("Delete"); n != 0 {
		t.Fatalf("Delete called %d times while the create runs", n)
	}
	creating = false
	e.settle(3)
	if n := e.prov.called("Delete"); n != 1 {
		t.Fatalf("Delete called %d times after the create settled, want 1", n)
	}
	st, err := e.tr.LastOperation(ctx, instanceID, res.Operation.ID)
	if err != nil || st.Operation.Kind != provisioner.KindDeprovision || st.Operation.State != provisioner.Succeeded {
		t.Fatalf("LastOperation = %+v, %v", st.Operation, err)
	}
}

func TestTombstones(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &fakeProv{}, func(o *provisioner.Options) { o.Retention = time.Hour; o.TombstoneTTL = 2 * time.Hour })
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if _, err := e.tr.Deprovision(ctx, instanceID); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	// LI7: while the tombstone is young, last_operation says succeeded.
	if st, err := e.tr.LastOperation(ctx, instanceID, ""); err != nil || st.Operation.State != provisioner.Succeeded {
		t.Fatalf("LastOperation after delete = %+v, %v", st, err)
	}
	// D4: a second delete finds nothing.
	if _, err := e.tr.Deprovision(ctx, instanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("second Deprovision: %v, want ErrNotFound", err)
	}
	if _, err := e.tr.Instance(ctx, instanceID); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("Instance of a deleted instance: %v, want ErrNotFound", err)
	}
	e.clock.Advance(90 * time.Minute)
	if _, err := e.tr.LastOperation(ctx, instanceID, ""); !errors.Is(err, provisioner.ErrGone) {
		t.Errorf("LastOperation after Retention: %v, want ErrGone", err)
	}
	// P13: the ID starts fresh after a completed deprovision.
	if res, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 9})); err != nil || res.Outcome != provisioner.Started {
		t.Errorf("Provision over a tombstone = %+v, %v", res, err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	var changes []provisioner.Change
	prov := &fakeProv{update: func(_ *provisioner.Operation, _ *provisioner.Instance, ch provisioner.Change) (provisioner.Start, error) {
		changes = append(changes, ch)
		return provisioner.Start{}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 1})); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	req := provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 2}}}
	res, err := e.tr.Update(ctx, req)
	if err != nil || res.Outcome != provisioner.Started {
		t.Fatalf("Update = %+v, %v", res, err)
	}
	if again, err := e.tr.Update(ctx, req); err != nil || again.Outcome != provisioner.Joined || again.Operation.ID != res.Operation.ID {
		t.Errorf("repeated Update = %+v, %v; want Joined (U8)", again, err)
	}
	other := req
	other.Parameters = map[string]any{"size": 3}
	if _, err := e.tr.Update(ctx, other); !errors.Is(err, provisioner.ErrBusy) {
		t.Errorf("another Update during the first: %v, want ErrBusy", err)
	}
	e.settle(1)
	rec := e.record(instanceID)
	if fmt.Sprint(rec.Parameters["size"]) != "2" || len(changes) != 1 {
		t.Fatalf("after the update: parameters %v, %d backend calls", rec.Parameters, len(changes))
	}
	// Context alone: stored, nothing started.
	res, err = e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Context: map[string]any{"platform": "cloudfoundry", "space_name": "new"}})
	if err != nil || res.Outcome != provisioner.Unchanged || len(changes) != 1 {
		t.Errorf("context-only Update = %+v, %v; %d backend calls", res, err, len(changes))
	}
	if got := e.record(instanceID).Context["space_name"]; got != "new" {
		t.Errorf("context not stored: %v", got)
	}
	// A plan change; then away from a plan that is not plan_updateable.
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{PlanID: planFixed}}); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if got := e.record(instanceID).PlanID; got != planFixed {
		t.Fatalf("plan after change = %s", got)
	}
	_, err = e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{PlanID: planB}})
	if desc, _, repeatable, ok := provisioner.RefusalDetails(err); !ok || repeatable || !strings.Contains(desc, "cannot be changed") {
		t.Errorf("plan change from a non-updateable plan: %v (repeatable %v)", err, repeatable)
	}
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: "nope", Change: provisioner.Change{PlanID: planB}}); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("update of an unknown instance: %v", err)
	}
}

func TestFailedUpdateKeepsTheInstance(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 1})); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	prov.observe = func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.Failed, Status: "UPDATE_ROLLBACK_COMPLETE", Description: "rolled back", InstanceUsable: ptr(true)}, nil
	}
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 7}}}); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	rec := e.record(instanceID)
	if rec.Operation.State != provisioner.Failed || rec.Operation.InstanceUsable == nil || !*rec.Operation.InstanceUsable {
		t.Fatalf("failed update: %+v", rec.Operation)
	}
	if fmt.Sprint(rec.Parameters["size"]) != "1" {
		t.Errorf("a failed update changed the stored parameters: %v", rec.Parameters)
	}
	if _, err := e.tr.Instance(ctx, instanceID); err != nil {
		t.Errorf("Instance after a failed update: %v", err)
	}
}

func TestSecretParameters(t *testing.T) {
	canary.Plant(t)
	ctx := context.Background()
	var got *provisioner.Instance
	prov := &fakeProv{create: func(_ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
		got = inst
		return provisioner.Start{Resource: "s"}, nil
	}}
	e := newEnv(t, prov)
	params := map[string]any{"password": secretValue, "size": 1}
	if _, err := e.tr.Provision(ctx, provisionReq(params)); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Parameters["password"] != secretValue {
		t.Fatalf("the backend did not get the secret: %v", got)
	}
	rec := e.record(instanceID)
	b, _ := json.Marshal(rec)
	if strings.Contains(string(b), "hunter2") {
		t.Fatalf("the store holds the secret in plain text: %s", b)
	}
	if res, err := e.tr.Provision(ctx, provisionReq(map[string]any{"password": secretValue, "size": 1})); err != nil || res.Outcome != provisioner.Joined {
		t.Errorf("same secret: %+v, %v; want Joined", res, err)
	}
	if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"password": "other", "size": 1})); !errors.Is(err, provisioner.ErrConflict) {
		t.Errorf("other secret: %v, want ErrConflict", err)
	}
	if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"size": 1})); !errors.Is(err, provisioner.ErrConflict) {
		t.Errorf("secret left out: %v, want ErrConflict", err)
	}
}

// TestSecretsAcrossARestart: an operation that needs secret values and
// could not start before a restart fails clearly without a Sealer, and
// starts with one.
func TestSecretsAcrossARestart(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		t.Run(fmt.Sprintf("sealer=%v", sealed), func(t *testing.T) {
			ctx := context.Background()
			down := true
			var password any
			prov := &fakeProv{create: func(_ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
				if down {
					return provisioner.Start{}, errors.New("connection refused")
				}
				password = inst.Parameters["password"]
				return provisioner.Start{Resource: "s"}, nil
			}}
			var opt func(*provisioner.Options)
			if sealed {
				s, err := provisioner.NewAESSealer([]byte("0123456789abcdef0123456789abcdef"))
				if err != nil {
					t.Fatal(err)
				}
				opt = func(o *provisioner.Options) { o.Sealer = s }
			} else {
				opt = func(*provisioner.Options) {}
			}
			e := newEnv(t, prov, opt)
			if _, err := e.tr.Provision(ctx, provisionReq(map[string]any{"password": secretValue})); err != nil {
				t.Fatal(err)
			}
			// Restart: a new Tracker on the same store.
			down = false
			e.tr = e.newTracker(opt)
			if err := e.tr.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			e.settle(2)
			rec := e.record(instanceID)
			if sealed {
				if password != secretValue || rec.Operation.State != provisioner.Succeeded {
					t.Errorf("with a Sealer: password %v, operation %+v", password, rec.Operation)
				}
				return
			}
			if rec.Operation.State != provisioner.Failed || !strings.Contains(rec.Operation.Description, "secret parameters") {
				t.Errorf("without a Sealer: %+v, want a failure naming the lost secrets", rec.Operation)
			}
			if password != nil {
				t.Errorf("the backend was called without the secret")
			}
		})
	}
}

func TestOperationTimeout(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress, Status: "CREATE_IN_PROGRESS"}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(50) // 750 s > planA's maximum_polling_duration of 600 s
	rec := e.record(instanceID)
	if rec.Operation.State != provisioner.Failed || !strings.Contains(rec.Operation.Description, "10m0s") {
		t.Errorf("after the plan's maximum polling duration: %+v", rec.Operation)
	}
}

func TestBackoffGrowsAndBatches(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}}
	e := newEnv(t, prov)
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	// Poll every simulated second for 60 s: with a 1 s start, ×1.5 and a
	// 10 s cap, that is about a dozen observations, not 60.
	for range 60 {
		e.clock.Advance(time.Second)
		e.tr.Poll(ctx)
	}
	if n := e.prov.called("Observe"); n < 6 || n > 16 {
		t.Errorf("%d observations in 60 s, want backoff to keep it between 6 and 16", n)
	}
}

func TestResumeAfterRestart(t *testing.T) {
	ctx := context.Background()
	prov := &fakeProv{observe: func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}}
	e := newEnv(t, prov)
	for i := range 5 {
		req := provisionReq(nil)
		req.InstanceID = fmt.Sprintf("i-%d", i)
		if _, err := e.tr.Provision(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	prov.observe = nil
	e.tr = e.newTracker()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.tr.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.clock.Advance(5 * time.Second)
		recs, err := e.store.InFlight(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d operations still in flight after a restart", len(recs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if n := e.prov.called("Create"); n != 5 {
		t.Errorf("Create called %d times, want 5 (no duplicate after the restart)", n)
	}
}

func ptr[T any](v T) *T { return &v }
