package broker_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/osbspec"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// bindProv is a Provisioner that finishes every operation on its second
// observation, unless its instance is held, and then reports outputs. It
// records the parameters each resource was created with. It does not
// model updates of resources (Update starts nothing) or failures.
type bindProv struct {
	outputs func(id string) map[string]string
	// secrets, if set, gives the secret outputs of a succeeded operation.
	secrets func(id string) map[string]string

	mu      sync.Mutex
	polls   map[string]int
	hold    map[string]bool
	created map[string]map[string]any
	deleted map[string]int
}

func newBindProv(outputs func(id string) map[string]string) *bindProv {
	return &bindProv{outputs: outputs, polls: map[string]int{}, hold: map[string]bool{},
		created: map[string]map[string]any{}, deleted: map[string]int{}}
}

func (p *bindProv) Create(_ context.Context, _ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.created[inst.ID] = maps.Clone(inst.Parameters)
	return provisioner.Start{Resource: "res:" + inst.ID}, nil
}

func (p *bindProv) Update(context.Context, *provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error) {
	return provisioner.Start{}, nil
}

func (p *bindProv) Delete(_ context.Context, _ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deleted[inst.ID]++
	return provisioner.Start{}, nil
}

func (p *bindProv) Observe(_ context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold[req.Instance.ID] {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}
	p.polls[req.Operation.ID]++
	if p.polls[req.Operation.ID] < 2 {
		return provisioner.Observation{State: provisioner.InProgress}, nil
	}
	obs := provisioner.Observation{State: provisioner.Succeeded, Outputs: p.outputs(req.Instance.ID)}
	if p.secrets != nil {
		obs.Secrets = p.secrets(req.Instance.ID)
	}
	return obs, nil
}

func (p *bindProv) setHold(id string, hold bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold[id] = hold
}

func (p *bindProv) createdWith(id string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.created[id])
}

const (
	bindSvc      = "svc-bind"
	bindPlan     = "plan-bind-a"
	bindPlanB    = "plan-bind-b"
	bindAltPlan  = "plan-bind-alt"
	bindQueueURL = "https://sqs/q"
)

func bindCatalog(t *testing.T) *catalog.Index {
	t.Helper()
	idx, err := catalog.NewIndex(bindCatalogValue())
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// bindCatalogValue is the catalog of bindCatalog, to change before
// indexing.
func bindCatalogValue() catalog.Catalog {
	bindSchema := &catalog.Schemas{ServiceBinding: &catalog.ServiceBindingSchemas{Create: &catalog.InputParameters{Parameters: catalog.Schema{
		"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"properties": map[string]any{"role": map[string]any{"type": "string"}, "QueueARN": map[string]any{"type": "string"}}}}}}
	return catalog.Catalog{Services: []catalog.Service{{
		ID: bindSvc, Name: "queue", Description: "Queues with a user per binding", Bindable: true,
		InstancesRetrievable: true, BindingsRetrievable: true,
		Plans: []catalog.Plan{
			{ID: bindPlan, Name: "a", Description: "A", BindingRotatable: true, Schemas: bindSchema},
			{ID: bindPlanB, Name: "b", Description: "B", Schemas: bindSchema},
			{ID: bindAltPlan, Name: "alt", Description: "The binding template of plan b"},
		},
	}}}
}

// startedStore closes listed once Run has listed the operations to
// resume. A request served before that races with Run's start: if Run
// lists the request's record before it is started, Run schedules its
// first poll CallTimeout later, replacing the request's own schedule.
type startedStore struct {
	provisioner.Store
	once   sync.Once
	listed chan struct{}
}

func (s *startedStore) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	recs, err := s.Store.InFlight(ctx)
	s.once.Do(func() { close(s.listed) })
	return recs, err
}

// bindFixture is a TrackedBindings over two running Trackers, each with
// its own store.
type bindFixture struct {
	idx       *catalog.Index
	instProv  *bindProv
	bindProv  *bindProv
	instances *provisioner.Tracker
	bindings  *provisioner.Tracker
	b         *broker.TrackedBindings
	backend   *trackedBackend
}

// trackedBackend is what a broker author assembles: instances and
// bindings both run by Trackers.
type trackedBackend struct {
	*broker.Tracked
	*broker.TrackedBindings
}

func newBindFixture(t *testing.T, edit func(*broker.TrackedBindings), trackerOpts ...func(*provisioner.Options)) *bindFixture {
	t.Helper()
	return newBindFixtureWith(t, bindCatalog(t), edit, trackerOpts...)
}

// newBindFixtureWith is newBindFixture over the catalog idx, which must
// hold bindCatalog's IDs.
func newBindFixtureWith(t *testing.T, idx *catalog.Index, edit func(*broker.TrackedBindings), trackerOpts ...func(*provisioner.Options)) *bindFixture {
	t.Helper()
	f := &bindFixture{idx: idx}
	f.instProv = newBindProv(func(id string) map[string]string {
		return map[string]string{"QueueURL": bindQueueURL, "QueueARN": "arn:q:" + id, "Shared": "instance"}
	})
	f.bindProv = newBindProv(func(id string) map[string]string {
		return map[string]string{"UserName": "user-" + id, "Shared": "binding"}
	})
	newTracker := func(p provisioner.Provisioner) *provisioner.Tracker {
		st := &startedStore{Store: store.NewMemory(), listed: make(chan struct{})}
		opts := append([]func(*provisioner.Options){func(o *provisioner.Options) {
			o.Store, o.Provisioner, o.Catalog, o.Logger = st, p, f.idx, canary.Logger(t)
			o.PollInterval, o.MaxPollInterval = 5*time.Millisecond, 20*time.Millisecond
		}}, trackerOpts...)
		tr, err := provisioner.New(provisioner.Options{}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = tr.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		<-st.listed
		return tr
	}
	f.instances = newTracker(f.instProv)
	f.bindings = newTracker(f.bindProv)
	f.b = &broker.TrackedBindings{Instances: f.instances, Bindings: f.bindings}
	if edit != nil {
		edit(f.b)
	}
	f.backend = &trackedBackend{Tracked: &broker.Tracked{Tracker: f.instances}, TrackedBindings: f.b}
	return f
}

// await polls until the record's latest operation ends and returns it.
func await(t *testing.T, tr *provisioner.Tracker, id string) *provisioner.Operation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := tr.LastOperation(t.Context(), id, "")
		if err != nil {
			t.Fatalf("last operation of %s: %v", id, err)
		}
		if st.Operation.State.Terminal() {
			return st.Operation
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("operation of %s still in progress", id)
	return nil
}

// provision provisions instance id of plan and waits for it.
func (f *bindFixture) provision(t *testing.T, id, plan string) {
	t.Helper()
	if _, err := f.instances.Provision(t.Context(), provisioner.ProvisionRequest{InstanceID: id, ServiceID: bindSvc, PlanID: plan,
		OrganizationGUID: "org", SpaceGUID: "space"}); err != nil {
		t.Fatal(err)
	}
	if op := await(t, f.instances, id); op.State != provisioner.Succeeded {
		t.Fatalf("provision of %s: %s", id, op.State)
	}
}

func (f *bindFixture) bindReq(instanceID, bindingID, plan string, params broker.Parameters) *broker.BindRequest {
	svc, p, _ := f.idx.Plan(plan)
	return &broker.BindRequest{InstanceID: instanceID, BindingID: bindingID, Service: svc, Plan: p,
		Parameters: params, AcceptsIncomplete: true}
}

// bind binds and waits for the binding; it returns the operation ID.
func (f *bindFixture) bind(t *testing.T, req *broker.BindRequest) string {
	t.Helper()
	res, err := f.b.Bind(t.Context(), req)
	if err != nil {
		t.Fatalf("bind %s: %v", req.BindingID, err)
	}
	if res.Outcome != broker.Accepted || res.Operation == "" {
		t.Fatalf("bind %s: %v %q; want Accepted with an operation", req.BindingID, res.Outcome, res.Operation)
	}
	if op := await(t, f.bindings, broker.BindingKey(req.InstanceID, req.BindingID)); op.State != provisioner.Succeeded {
		t.Fatalf("bind %s: %s", req.BindingID, op.State)
	}
	return res.Operation
}

// TestTrackedBindingsConformance runs the conformance suite against a
// broker whose instances and bindings are both run by Trackers.
func TestTrackedBindingsConformance(t *testing.T) {
	f := newBindFixture(t, nil)
	async := broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind
	h, err := broker.New(f.idx, f.backend, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: testUser, Password: testPass}),
		RequireAsync:  async,
	})
	if err != nil {
		t.Fatal(err)
	}
	brokertest.Run(t, h, brokertest.Config{
		Username: testUser, Password: testPass, Async: true, RequireAsync: async,
		ServiceID: bindSvc, PlanID: bindPlan,
		BindParameters: map[string]any{"role": "reader"},
		PollOptions:    brokertest.PollOptions{Interval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond, Timeout: 10 * time.Second},
		Check:          osbspec.Check(t),
	})
}

func TestTrackedBindingsBindLifecycle(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil)
	ctx := t.Context()
	f.provision(t, "i1", bindPlan)

	// The first bind is accepted; a repeat while it runs joins it.
	f.bindProv.setHold(broker.BindingKey("i1", "b1"), true)
	req := f.bindReq("i1", "b1", bindPlan, broker.Parameters{"role": "reader"})
	first, err := f.b.Bind(ctx, req)
	if err != nil || first.Outcome != broker.Accepted || first.Operation == "" {
		t.Fatalf("bind: %v %+v; want Accepted with an operation", err, first)
	}
	again, err := f.b.Bind(ctx, req)
	if err != nil || again.Outcome != broker.Accepted || again.Operation != first.Operation {
		t.Fatalf("repeated bind in progress: %v %v %q; want Accepted %q", err, again.Outcome, again.Operation, first.Operation)
	}
	// FB3: no credentials while the bind runs.
	if _, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1"}); !errors.Is(err, broker.ErrBindingNotFound) {
		t.Errorf("GetBinding while binding: %v; want ErrBindingNotFound", err)
	}
	lo, err := f.b.BindingLastOperation(ctx, &broker.BindingLastOperationRequest{InstanceID: "i1", BindingID: "b1", Operation: first.Operation})
	if err != nil || lo.State != broker.InProgress {
		t.Errorf("last operation while binding: %v %q; want in progress", err, lo.State)
	}
	f.bindProv.setHold(broker.BindingKey("i1", "b1"), false)
	await(t, f.bindings, broker.BindingKey("i1", "b1"))

	// The instance's outputs are the binding's parameters, with the
	// user's.
	wantParams := map[string]any{"role": "reader", "QueueURL": bindQueueURL, "QueueARN": "arn:q:i1", "Shared": "instance"}
	if diff := cmp.Diff(wantParams, f.bindProv.createdWith(broker.BindingKey("i1", "b1"))); diff != "" {
		t.Errorf("binding created with parameters (-want +got):\n%s", diff)
	}

	// An identical bind after success is Existed with the credentials.
	wantCreds := broker.Credentials{"QueueURL": bindQueueURL, "QueueARN": "arn:q:i1", "Shared": "binding", "UserName": "user-i1/b1"}
	res, err := f.b.Bind(ctx, req)
	if err != nil || res.Outcome != broker.Existed {
		t.Fatalf("identical bind after success: %v %v; want Existed", err, res.Outcome)
	}
	if diff := cmp.Diff(wantCreds, res.Credentials); diff != "" {
		t.Errorf("credentials of Existed (-want +got):\n%s", diff)
	}
	got, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCreds, got.Credentials); diff != "" {
		t.Errorf("GetBinding credentials (-want +got):\n%s", diff)
	}
	lo, err = f.b.BindingLastOperation(ctx, &broker.BindingLastOperationRequest{InstanceID: "i1", BindingID: "b1"})
	if err != nil || lo.State != broker.Succeeded {
		t.Errorf("last operation after bind: %v %q; want succeeded", err, lo.State)
	}

	// Other parameters for the same binding ID conflict.
	if _, err := f.b.Bind(ctx, f.bindReq("i1", "b1", bindPlan, broker.Parameters{"role": "writer"})); !errors.Is(err, broker.ErrBindingConflict) {
		t.Errorf("bind with other parameters: %v; want ErrBindingConflict", err)
	}

	// Unbind: accepted, GetBinding is a ConcurrencyError while the delete
	// runs, then the binding is gone.
	f.bindProv.setHold(broker.BindingKey("i1", "b1"), true)
	unreq := &broker.UnbindRequest{InstanceID: "i1", BindingID: "b1", ServiceID: bindSvc, PlanID: bindPlan, AcceptsIncomplete: true}
	un, err := f.b.Unbind(ctx, unreq)
	if err != nil || un.Outcome != broker.Accepted || un.Operation == "" {
		t.Fatalf("unbind: %v %+v; want Accepted with an operation", err, un)
	}
	if _, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1"}); !errors.Is(err, broker.ErrConcurrency) {
		t.Errorf("GetBinding while unbinding: %v; want ErrConcurrency", err)
	}
	un2, err := f.b.Unbind(ctx, unreq)
	if err != nil || un2.Operation != un.Operation {
		t.Errorf("repeated unbind in progress: %v %q; want %q", err, un2.Operation, un.Operation)
	}
	f.bindProv.setHold(broker.BindingKey("i1", "b1"), false)
	await(t, f.bindings, broker.BindingKey("i1", "b1"))
	if _, err := f.b.Unbind(ctx, unreq); !errors.Is(err, broker.ErrBindingNotFound) {
		t.Errorf("unbind again: %v; want ErrBindingNotFound (410 on unbind)", err)
	}
	if _, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1"}); !errors.Is(err, broker.ErrBindingNotFound) {
		t.Errorf("GetBinding after unbind: %v; want ErrBindingNotFound", err)
	}
	lo, err = f.b.BindingLastOperation(ctx, &broker.BindingLastOperationRequest{InstanceID: "i1", BindingID: "b1", Operation: un.Operation})
	if err != nil || lo.State != broker.Succeeded {
		t.Errorf("last operation after unbind: %v %q; want succeeded", err, lo.State)
	}
}

func TestTrackedBindingsErrors(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil)
	ctx := t.Context()
	f.provision(t, "ready", bindPlan)
	f.provision(t, "updating", bindPlan)
	f.instProv.setHold("provisioning", true)
	f.instProv.setHold("updating", true)
	if _, err := f.instances.Provision(ctx, provisioner.ProvisionRequest{InstanceID: "provisioning", ServiceID: bindSvc, PlanID: bindPlan}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.instances.Update(ctx, provisioner.UpdateRequest{InstanceID: "updating", Change: provisioner.Change{Parameters: map[string]any{"x": 1}}}); err != nil {
		t.Fatal(err)
	}

	syncReq := f.bindReq("ready", "b", bindPlan, nil)
	syncReq.AcceptsIncomplete = false
	tests := []struct {
		name   string
		reason string
		call   func() error
		want   error
	}{
		{"bind-sync", "bindings are always asynchronous", func() error { _, err := f.b.Bind(ctx, syncReq); return err }, broker.ErrAsyncRequired},
		{"bind-unknown-instance", "B14: 404", func() error { _, err := f.b.Bind(ctx, f.bindReq("nope", "b", bindPlan, nil)); return err }, broker.ErrInstanceNotFound},
		{"bind-provisioning", "the instance has no outputs yet: 422", func() error {
			_, err := f.b.Bind(ctx, f.bindReq("provisioning", "b", bindPlan, nil))
			return err
		}, broker.ErrConcurrency},
		{"bind-updating", "the instance is busy: 422", func() error {
			_, err := f.b.Bind(ctx, f.bindReq("updating", "b", bindPlan, nil))
			return err
		}, broker.ErrConcurrency},
		{"unbind-sync", "unbinds are always asynchronous", func() error {
			_, err := f.b.Unbind(ctx, &broker.UnbindRequest{InstanceID: "ready", BindingID: "b"})
			return err
		}, broker.ErrAsyncRequired},
		{"unbind-unknown", "UB4: 410", func() error {
			_, err := f.b.Unbind(ctx, &broker.UnbindRequest{InstanceID: "ready", BindingID: "nope", AcceptsIncomplete: true})
			return err
		}, broker.ErrBindingNotFound},
		{"lastop-unknown", "LB2: 404", func() error {
			_, err := f.b.BindingLastOperation(ctx, &broker.BindingLastOperationRequest{InstanceID: "ready", BindingID: "nope"})
			return err
		}, broker.ErrBindingNotFound},
		{"get-unknown", "FB3: 404", func() error {
			_, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "ready", BindingID: "nope"})
			return err
		}, broker.ErrBindingNotFound},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s (%s): %v; want %v", tc.name, tc.reason, err, tc.want)
		}
	}
}

func TestTrackedBindingsGoneAfterRetention(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil, func(o *provisioner.Options) { o.Retention = time.Millisecond })
	ctx := t.Context()
	f.provision(t, "i", bindPlan)
	f.bind(t, f.bindReq("i", "b", bindPlan, nil))
	if _, err := f.b.Unbind(ctx, &broker.UnbindRequest{InstanceID: "i", BindingID: "b", AcceptsIncomplete: true}); err != nil {
		t.Fatal(err)
	}
	// The unbind ends, and a millisecond later its tombstone is past
	// Retention.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := f.b.BindingLastOperation(ctx, &broker.BindingLastOperationRequest{InstanceID: "i", BindingID: "b"})
		if errors.Is(err, broker.ErrGone) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("last operation after unbind: %v; want ErrGone in the end", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTrackedBindingsParameters(t *testing.T) {
	t.Parallel()
	var gotInst, gotBind *provisioner.Record
	f := newBindFixture(t, func(b *broker.TrackedBindings) {
		b.Declared = func(planID string) []string {
			if planID != bindPlan {
				t.Errorf("Declared(%q); want %q", planID, bindPlan)
			}
			return []string{"QueueARN", "NotAnOutput"}
		}
		b.Credentials = func(_ context.Context, inst, rec *provisioner.Record) (broker.Credentials, error) {
			gotInst, gotBind = inst, rec
			return broker.Credentials{"arn": inst.Outputs["QueueARN"], "user": rec.Outputs["UserName"]}, nil
		}
	})
	f.provision(t, "i", bindPlan)
	// A user's QueueARN does not win over the instance's: a binding cannot
	// be pointed at another queue.
	f.bind(t, f.bindReq("i", "b", bindPlan, broker.Parameters{"role": "r", "QueueARN": "arn:other"}))
	want := map[string]any{"role": "r", "QueueARN": "arn:q:i"}
	if diff := cmp.Diff(want, f.bindProv.createdWith(broker.BindingKey("i", "b"))); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	got, err := f.b.GetBinding(t.Context(), &broker.GetBindingRequest{InstanceID: "i", BindingID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(broker.Credentials{"arn": "arn:q:i", "user": "user-i/b"}, got.Credentials); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	if gotInst.InstanceID != "i" || gotBind.InstanceID != broker.BindingKey("i", "b") {
		t.Errorf("Credentials got records %q and %q", gotInst.InstanceID, gotBind.InstanceID)
	}
}

func TestTrackedBindingsPlanFor(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, func(b *broker.TrackedBindings) {
		b.PlanFor = func(_ *catalog.Service, p *catalog.Plan) (string, bool) {
			if p.ID == bindPlanB {
				return bindAltPlan, true
			}
			return "", false
		}
	})
	ctx := t.Context()
	f.provision(t, "a", bindPlan)
	f.provision(t, "b", bindPlanB)
	_, err := f.b.Bind(ctx, f.bindReq("a", "x", bindPlan, nil))
	var e *broker.Error
	if !errors.As(err, &e) || e.Status != 400 {
		t.Errorf("bind of a plan PlanFor refuses: %v; want a 400 Error", err)
	}
	f.bind(t, f.bindReq("b", "x", bindPlanB, nil))
	rec, err := f.bindings.Instance(ctx, broker.BindingKey("b", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.PlanID != bindAltPlan || rec.OrganizationGUID != "org" || rec.SpaceGUID != "space" {
		t.Errorf("binding record plan %q org %q space %q; want %q and the instance's org and space", rec.PlanID, rec.OrganizationGUID, rec.SpaceGUID, bindAltPlan)
	}
}

// TestTrackedBindingsRotation: a rotation is a new binding; the
// predecessor keeps working until it is unbound.
func TestTrackedBindingsRotation(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil)
	ctx := t.Context()
	f.provision(t, "i", bindPlan)
	f.bind(t, f.bindReq("i", "old", bindPlan, nil))
	rot := f.bindReq("i", "new", bindPlan, nil)
	rot.PredecessorBindingID = "old"
	f.bind(t, rot)
	for _, id := range []string{"old", "new"} {
		got, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i", BindingID: id})
		if err != nil || got.Credentials["UserName"] != "user-i/"+id {
			t.Errorf("binding %s after rotation: %v %v", id, err, got.Credentials)
		}
	}
	if _, err := f.b.Unbind(ctx, &broker.UnbindRequest{InstanceID: "i", BindingID: "old", AcceptsIncomplete: true}); err != nil {
		t.Fatal(err)
	}
	await(t, f.bindings, broker.BindingKey("i", "old"))
	if _, err := f.b.GetBinding(ctx, &broker.GetBindingRequest{InstanceID: "i", BindingID: "new"}); err != nil {
		t.Errorf("successor after the predecessor's unbind: %v", err)
	}
}

func TestBindingKey(t *testing.T) {
	t.Parallel()
	if got := broker.BindingKey("6a1c-i", "9b2d-b"); got != "6a1c-i/9b2d-b" {
		t.Errorf("BindingKey of GUID-like IDs = %q; want them joined by /", got)
	}
	if a, b := broker.BindingKey("a/b", "c"), broker.BindingKey("a", "b/c"); a == b || strings.Count(a, "/") != 1 {
		t.Errorf("BindingKey is ambiguous for IDs holding /: %q and %q", a, b)
	}
}
