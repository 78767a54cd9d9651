package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// doneProvisioner finishes every operation at once and knows nothing of
// outputs: the tests write instance records with outputs themselves.
type doneProvisioner struct{}

func (doneProvisioner) Create(context.Context, *provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
	return provisioner.Start{Resource: "stack", Done: true}, nil
}
func (doneProvisioner) Update(context.Context, *provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error) {
	return provisioner.Start{Done: true}, nil
}
func (doneProvisioner) Delete(context.Context, *provisioner.Operation, *provisioner.Instance) (provisioner.Start, error) {
	return provisioner.Start{Done: true}, nil
}
func (doneProvisioner) Observe(context.Context, provisioner.ObserveRequest) (provisioner.Observation, error) {
	return provisioner.Observation{State: provisioner.Succeeded}, nil
}

// fakeBindings stands for the bindings' stacks and access keys: a create
// is observed succeeded with a user name and a key, the secret as a
// secret output. It records the parameters of each create and the
// bindings deleted. It does not model failures or slow stacks (the
// library's tests do).
type fakeBindings struct {
	mu      sync.Mutex
	created map[string]map[string]any // by binding key
	deleted map[string]bool
}

func (f *fakeBindings) Create(_ context.Context, _ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created[inst.ID] = maps.Clone(inst.Parameters)
	return provisioner.Start{Resource: "bind-stack-" + inst.ID}, nil
}
func (f *fakeBindings) Update(context.Context, *provisioner.Operation, *provisioner.Instance, provisioner.Change) (provisioner.Start, error) {
	return provisioner.Start{Done: true}, nil
}
func (f *fakeBindings) Delete(_ context.Context, _ *provisioner.Operation, inst *provisioner.Instance) (provisioner.Start, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted[inst.ID] = true
	return provisioner.Start{Done: true}, nil
}
func (f *fakeBindings) Observe(_ context.Context, req provisioner.ObserveRequest) (provisioner.Observation, error) {
	if req.Operation.Kind != provisioner.KindProvision {
		return provisioner.Observation{State: provisioner.Succeeded}, nil
	}
	return provisioner.Observation{State: provisioner.Succeeded,
		Outputs: map[string]string{"UserName": "user-1", "AccessKeyId": "AKIAFAKE1"},
		Secrets: map[string]string{"SecretAccessKey": "fake-secret-1"}}, nil
}

func (f *fakeBindings) createdFor(key string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.created[key]
	return p, ok
}

func (f *fakeBindings) deletedFor(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted[key]
}

// bindHarness is the backend as main assembles it, over the embedded
// catalog, a memory store of instances (written by the tests), a bbolt
// file of bindings and fakeBindings, served over HTTP.
type bindHarness struct {
	t             *testing.T
	idx           *catalog.Index
	store         *store.Memory
	bindingStore  *store.Bolt
	fake          *fakeBindings
	instances     *provisioner.Tracker
	bindings      *provisioner.Tracker
	c             *brokertest.Client
	templates     templateSet
	bindingStored func(rec *provisioner.Record) // called after each Put of a binding record, if set
}

// hookStore calls the harness's bindingStored after every Put.
type hookStore struct {
	provisioner.Store
	h *bindHarness
}

func (s hookStore) Put(ctx context.Context, rec *provisioner.Record) error {
	if err := s.Store.Put(ctx, rec); err != nil {
		return err
	}
	if s.h.bindingStored != nil {
		s.h.bindingStored(rec)
	}
	return nil
}

// listedStore closes listed once the Tracker's Run has listed the
// operations in progress: records the tests write afterwards are theirs
// alone (Run would otherwise resume an instance the test left
// "provisioning", and finish it).
type listedStore struct {
	provisioner.Store
	once   sync.Once
	listed chan struct{}
}

func (s *listedStore) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	recs, err := s.Store.InFlight(ctx)
	s.once.Do(func() { close(s.listed) })
	return recs, err
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newBindHarness(t *testing.T) *bindHarness {
	t.Helper()
	idx, templates, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	sealer, err := provisioner.NewAESSealer(testKey)
	if err != nil {
		t.Fatal(err)
	}
	h := &bindHarness{t: t, idx: idx, store: store.NewMemory(), templates: templates,
		fake: &fakeBindings{created: map[string]map[string]any{}, deleted: map[string]bool{}}}
	h.bindingStore, err = store.OpenBolt(filepath.Join(t.TempDir(), "bindings.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.bindingStore.Close() })
	opts := provisioner.Options{Catalog: idx, Sealer: sealer, Logger: log, PollInterval: 10 * time.Millisecond, MaxPollInterval: 20 * time.Millisecond}
	instStore := &listedStore{Store: h.store, listed: make(chan struct{})}
	bindStore := &listedStore{Store: hookStore{h.bindingStore, h}, listed: make(chan struct{})}
	o := opts
	o.Store, o.Provisioner = instStore, doneProvisioner{}
	if h.instances, err = provisioner.New(o); err != nil {
		t.Fatal(err)
	}
	o = opts
	o.Store, o.Provisioner = bindStore, h.fake
	if h.bindings, err = provisioner.New(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { _ = h.instances.Run(ctx) })
	wg.Go(func() { _ = h.bindings.Run(ctx) })
	<-instStore.listed
	<-bindStore.listed

	hd, err := broker.New(idx, newBackend(h.instances, h.bindings, nil, templates.declared), broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "u", Password: "p"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	t.Cleanup(srv.Close)
	h.c = brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "u", Password: "p"})
	return h
}

// planIDs returns the IDs of a service and plan of the catalog, by name.
func planIDs(t testing.TB, c *catalog.Catalog, service, plan string) (string, string) {
	t.Helper()
	for _, s := range c.Services {
		if s.Name != service {
			continue
		}
		for _, p := range s.Plans {
			if p.Name == plan {
				return s.ID, p.ID
			}
		}
	}
	t.Fatalf("the catalog has no plan %s/%s", service, plan)
	return "", ""
}

var queueOutputs = map[string]string{
	"QueueURL":  "https://sqs.eu-west-1.amazonaws.com/123456789012/q1",
	"QueueARN":  "arn:aws:sqs:eu-west-1:123456789012:q1",
	"QueueName": "q1",
}

// instance writes an sqs standard instance whose last operation is kind
// in state, with outputs.
func (h *bindHarness) instance(id string, kind provisioner.Kind, state provisioner.State, outputs map[string]string) (string, string) {
	h.t.Helper()
	sid, pid := planIDs(h.t, h.idx.Catalog(), "sqs", "standard")
	now := time.Now()
	rec := &provisioner.Record{InstanceID: id, ServiceID: sid, PlanID: pid, OrganizationGUID: "o", SpaceGUID: "s",
		Resource: "stack-" + id, Outputs: outputs,
		Operation: &provisioner.Operation{ID: "op-" + id, Kind: kind, State: state, Started: true,
			CreatedAt: now, UpdatedAt: now}}
	if err := h.store.Put(context.Background(), rec); err != nil {
		h.t.Fatal(err)
	}
	return sid, pid
}

func (h *bindHarness) bind(instanceID, bindingID string, edit func(*brokertest.BindRequest)) *brokertest.Response[brokertest.BindResponse] {
	h.t.Helper()
	sid, pid := planIDs(h.t, h.idx.Catalog(), "sqs", "standard")
	req := brokertest.BindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid,
		BindResource: map[string]any{"app_guid": "app-1"}, AcceptsIncomplete: true}
	if edit != nil {
		edit(&req)
	}
	resp, err := h.c.Bind(h.t.Context(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// bound binds and waits for the bind to succeed.
func (h *bindHarness) bound(instanceID, bindingID string) {
	h.t.Helper()
	resp := h.bind(instanceID, bindingID, nil)
	wantStatus(h.t, "bind", resp, http.StatusAccepted)
	lo, err := h.c.PollBindingLastOperation(h.t.Context(), instanceID, bindingID, resp.Value.Operation, pollFast)
	if err != nil || lo.State != broker.Succeeded {
		h.t.Fatalf("bind %s: %v %s %s", bindingID, err, lo.State, lo.Description)
	}
}

func (h *bindHarness) getBinding(instanceID, bindingID string) *brokertest.Response[brokertest.Binding] {
	h.t.Helper()
	sid, pid := planIDs(h.t, h.idx.Catalog(), "sqs", "standard")
	got, err := h.c.GetBinding(h.t.Context(), brokertest.GetBindingRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid})
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

func wantStatus[T any](t testing.TB, what string, resp *brokertest.Response[T], want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, want, resp.Body)
	}
}

// TestBind binds asynchronously: the binding's stack gets exactly the
// instance outputs its template declares, and GET binding answers the
// instance's outputs, the binding's and its key, as-is; the record holds
// the secret sealed only.
func TestBind(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)

	sync := h.bind("i1", "b1", func(r *brokertest.BindRequest) { r.AcceptsIncomplete = false })
	wantStatus(t, "bind without accepts_incomplete", sync, http.StatusUnprocessableEntity)
	if sync.Error == nil || sync.Error.Code != broker.CodeAsyncRequired {
		t.Errorf("bind without accepts_incomplete: %s, want AsyncRequired", sync.Body)
	}
	h.bound("i1", "b1")
	key := broker.BindingKey("i1", "b1")
	params, ok := h.fake.createdFor(key)
	if diff := cmp.Diff(map[string]any{"QueueARN": queueOutputs["QueueARN"]}, params); !ok || diff != "" {
		t.Errorf("the binding's stack parameters (-want +got), created %t:\n%s", ok, diff)
	}

	got := h.getBinding("i1", "b1")
	wantStatus(t, "GET binding", got, http.StatusOK)
	want := map[string]any{"QueueURL": queueOutputs["QueueURL"], "QueueARN": queueOutputs["QueueARN"], "QueueName": "q1",
		"UserName": "user-1", "AccessKeyId": "AKIAFAKE1", "SecretAccessKey": "fake-secret-1"}
	if diff := cmp.Diff(want, map[string]any(got.Value.Credentials)); diff != "" {
		t.Errorf("GET binding credentials (-want +got):\n%s", diff)
	}
	again := h.bind("i1", "b1", nil)
	wantStatus(t, "identical bind", again, http.StatusOK)
	if diff := cmp.Diff(want, map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("identical bind credentials (-want +got):\n%s", diff)
	}

	rec, err := h.bindingStore.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(rec)
	if strings.Contains(string(raw), "fake-secret-1") {
		t.Errorf("the binding record holds the secret key in plain text: %s", raw)
	}
}

// TestBindParameters: a binding's parameters are instance outputs, so a
// user may set none (the plan's bind schema allows no properties), least
// of all point the binding at another queue.
func TestBindParameters(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)
	for _, p := range []broker.Parameters{{"QueueARN": "arn:aws:sqs:eu-west-1:123456789012:someone-elses"}, {"x": 1}} {
		resp := h.bind("i1", "b1", func(r *brokertest.BindRequest) { r.Parameters = p })
		wantStatus(t, "bind with parameters", resp, http.StatusBadRequest)
	}
	if _, ok := h.fake.createdFor(broker.BindingKey("i1", "b1")); ok {
		t.Error("a refused bind created a binding stack")
	}
}

// TestBindInstanceStates: a bind needs a provisioned, idle instance.
func TestBindInstanceStates(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("provisioning", provisioner.KindProvision, provisioner.InProgress, nil)
	h.instance("failed", provisioner.KindProvision, provisioner.Failed, nil)
	h.instance("updating", provisioner.KindUpdate, provisioner.InProgress, queueOutputs)
	h.instance("deleting", provisioner.KindDeprovision, provisioner.InProgress, queueOutputs)

	wantStatus(t, "bind to an unknown instance", h.bind("nope", "b1", nil), http.StatusNotFound)
	wantStatus(t, "bind to a failed instance", h.bind("failed", "b2", nil), http.StatusNotFound)
	for _, id := range []string{"provisioning", "updating", "deleting"} {
		resp := h.bind(id, "b-"+id, nil)
		wantStatus(t, "bind to an instance "+id, resp, http.StatusUnprocessableEntity)
		if resp.Error == nil || resp.Error.Code != broker.CodeConcurrencyError {
			t.Errorf("bind to an instance %s: %s, want ConcurrencyError", id, resp.Body)
		}
	}
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	if len(h.fake.created) != 0 {
		t.Errorf("refused binds created binding stacks: %v", h.fake.created)
	}
}

// TestBindRacingDeprovision: a deprovision accepted after the bind checked
// its instance, before the binding was recorded, must not leave a binding
// (an IAM user with rights on the deleted instance's queue).
func TestBindRacingDeprovision(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	sid, pid := h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)
	key := broker.BindingKey("i1", "b1")
	var once sync.Once
	h.bindingStored = func(rec *provisioner.Record) {
		if rec.InstanceID != key {
			return
		}
		once.Do(func() {
			resp, err := h.c.Deprovision(context.Background(), brokertest.DeprovisionRequest{InstanceID: "i1", ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
			if err != nil || resp.StatusCode != http.StatusAccepted {
				t.Errorf("deprovision during the bind: %v %v", resp, err)
			}
		})
	}
	resp := h.bind("i1", "b1", nil)
	wantStatus(t, "bind racing a deprovision", resp, http.StatusUnprocessableEntity)
	// The binding is deleted: its record goes, and its stack, if made.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := h.bindings.Instance(t.Context(), key)
		_, made := h.fake.createdFor(key)
		gone := errors.Is(err, provisioner.ErrNotFound) && !errors.Is(err, provisioner.ErrProvisioning)
		if gone && (!made || h.fake.deletedFor(key)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the binding survives its instance's deprovision: record %v, stack created %t deleted %t", err, made, h.fake.deletedFor(key))
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantStatus(t, "GET binding", h.getBinding("i1", "b1"), http.StatusNotFound)
}

// TestUnbind deletes the binding's stack; an unknown binding is 410.
func TestUnbind(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	sid, pid := h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)
	h.bound("i1", "b1")
	unbind := func(instanceID, bindingID string) *brokertest.Response[brokertest.OperationResponse] {
		resp, err := h.c.Unbind(t.Context(), brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	wantStatus(t, "unbind of another instance's binding", unbind("i2", "b1"), http.StatusGone)
	resp := unbind("i1", "b1")
	wantStatus(t, "unbind", resp, http.StatusAccepted)
	if _, err := h.c.PollBindingLastOperation(t.Context(), "i1", "b1", resp.Value.Operation, pollFast); err != nil {
		t.Fatal(err)
	}
	if !h.fake.deletedFor(broker.BindingKey("i1", "b1")) {
		t.Error("the unbind did not delete the binding's stack")
	}
	wantStatus(t, "GET binding after unbind", h.getBinding("i1", "b1"), http.StatusNotFound)
	wantStatus(t, "repeated unbind", unbind("i1", "b1"), http.StatusGone)
	wantStatus(t, "unbind of a binding never made", unbind("i1", "never"), http.StatusGone)
}

// TestBindingKeyReplaced: with another binding key, the sealed secret does
// not open, and no credential leaks.
func TestBindingKeyReplaced(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)
	h.bound("i1", "b1")
	other, err := provisioner.NewAESSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := provisioner.New(provisioner.Options{Store: h.bindingStore, Provisioner: h.fake, Catalog: h.idx, Sealer: other})
	if err != nil {
		t.Fatal(err)
	}
	_, pid := planIDs(t, h.idx.Catalog(), "sqs", "standard")
	svc, plan, _ := h.idx.Plan(pid)
	be := newBackend(h.instances, tr, nil, h.templates.declared)
	_, err = be.GetBinding(t.Context(), &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1", ServiceID: svc.ID, PlanID: plan.ID})
	if err == nil {
		t.Fatal("GET binding with another key succeeded")
	}
	if strings.Contains(err.Error(), "fake-secret-1") {
		t.Errorf("the error holds the secret: %v", err)
	}
}

// A binding ID longer than bbolt's 32768-byte key limit is a 4xx, not a
// 5xx (on bind a 5xx triggers orphan mitigation).
func TestLongBindingID(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.KindProvision, provisioner.Succeeded, queueOutputs)
	id := strings.Repeat("b", 40000)
	resp := h.bind("i1", id, nil)
	if resp.StatusCode >= 500 {
		t.Errorf("bind with a %d-byte binding ID: %d %s, want a 4xx", len(id), resp.StatusCode, resp.Body)
	}
}

// TestEmbeddedBindingTemplates: every plan has a binding template whose
// parameters are the instance's ARN output, and outputs UserName.
func TestEmbeddedBindingTemplates(t *testing.T) {
	t.Parallel()
	idx, ts, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"sqs": {"QueueARN"}, "sns": {"TopicARN"}, "s3": {"BucketARN"}, "dynamodb": {"TableARN"}}
	for _, s := range idx.Catalog().Services {
		for _, p := range s.Plans {
			if diff := cmp.Diff(want[s.Name], ts.declared(p.ID)); diff != "" {
				t.Errorf("%s/%s: binding parameters (-want +got):\n%s", s.Name, p.Name, diff)
			}
			if !strings.Contains(ts.Bindings[p.ID].Body, "UserName:") {
				t.Errorf("%s/%s: the binding template has no UserName output", s.Name, p.Name)
			}
			if !s.BindingsRetrievable || !s.Bindable {
				t.Errorf("%s: bindable %t, bindings_retrievable %t", s.Name, s.Bindable, s.BindingsRetrievable)
			}
		}
	}
}
