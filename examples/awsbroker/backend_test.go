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
	"slices"
	"strings"
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

// bindHarness is the binding backend over the embedded catalog, a memory
// store, a fake IAM and a bindings file, served over HTTP.
type bindHarness struct {
	t        *testing.T
	idx      *catalog.Index
	store    *store.Memory
	iam      *fakeIAM
	bindings *bindingStore
	key      []byte
	be       *backend
	c        *brokertest.Client
}

const testPrefix = "bk"

func newBindHarness(t *testing.T) *bindHarness {
	t.Helper()
	idx, _, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	tracker, err := provisioner.New(provisioner.Options{Store: mem, Provisioner: doneProvisioner{}, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := openBindings(filepath.Join(t.TempDir(), "bindings.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bindings.Close() })
	h := &bindHarness{t: t, idx: idx, store: mem, iam: newFakeIAM(), bindings: bindings, key: make([]byte, keyLen)}
	copy(h.key, "0123456789abcdef0123456789abcdef")
	h.be, err = newBackend(backendOptions{Tracker: tracker, IAM: h.iam, Bindings: bindings, Key: h.key,
		Region: "eu-west-1", StackPrefix: testPrefix, BrokerID: "test",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := broker.New(idx, h.be, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "u", Password: "p"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	t.Cleanup(srv.Close)
	h.c = brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "u", Password: "p"})
	return h
}

// plan returns the IDs of a service and plan of the catalog, by name.
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

// instance writes a provisioned (or, with state InProgress, provisioning)
// sqs standard instance with outputs.
func (h *bindHarness) instance(id string, state provisioner.State, outputs map[string]string) (string, string) {
	h.t.Helper()
	sid, pid := planIDs(h.t, h.idx.Catalog(), "sqs", "standard")
	now := time.Now()
	rec := &provisioner.Record{InstanceID: id, ServiceID: sid, PlanID: pid, OrganizationGUID: "o", SpaceGUID: "s",
		Resource: "stack-" + id, Outputs: outputs,
		Operation: &provisioner.Operation{ID: "op-" + id, Kind: provisioner.KindProvision, State: state, Started: true,
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
		BindResource: map[string]any{"app_guid": "app-1"}}
	if edit != nil {
		edit(&req)
	}
	resp, err := h.c.Bind(h.t.Context(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *bindHarness) unbind(instanceID, bindingID string) *brokertest.Response[brokertest.OperationResponse] {
	h.t.Helper()
	sid, pid := planIDs(h.t, h.idx.Catalog(), "sqs", "standard")
	resp, err := h.c.Unbind(h.t.Context(), brokertest.UnbindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: sid, PlanID: pid})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func wantStatus[T any](t testing.TB, what string, resp *brokertest.Response[T], want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, want, resp.Body)
	}
}

func TestBindCreatesUserPolicyAndKey(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)

	resp := h.bind("i1", "b1", nil)
	wantStatus(t, "bind", resp, http.StatusCreated)
	creds := resp.Value.Credentials
	want := broker.Credentials{
		"QueueURL": queueOutputs["QueueURL"], "QueueARN": queueOutputs["QueueARN"], "QueueName": "q1",
		"AWS_ACCESS_KEY_ID": "AKIAFAKE000000000001", "AWS_SECRET_ACCESS_KEY": "fake-secret-1", "AWS_REGION": "eu-west-1",
	}
	if diff := cmp.Diff(map[string]any(want), map[string]any(creds)); diff != "" {
		t.Errorf("credentials mismatch (-want +got):\n%s", diff)
	}

	u := h.iam.user("bk-b1")
	if u == nil {
		t.Fatal("no IAM user bk-b1 after the bind")
	}
	if u.path != "/bk/" {
		t.Errorf("user path = %q, want /bk/", u.path)
	}
	wantTags := map[string]string{tagBrokerID: "test", tagInstanceID: "i1", tagBindingID: "b1"}
	if diff := cmp.Diff(wantTags, u.tags); diff != "" {
		t.Errorf("user tags (-want +got):\n%s", diff)
	}
	var doc policyDocument
	if err := json.Unmarshal([]byte(u.policies["bk-binding"]), &doc); err != nil {
		t.Fatalf("policy bk-binding: %v (policies %v)", err, u.policies)
	}
	wantDoc := policyDocument{Version: "2012-10-17", Statement: []statement{{Sid: "Queue", Effect: "Allow",
		Action: []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
			"sqs:GetQueueUrl", "sqs:ChangeMessageVisibility"},
		Resource: []string{queueOutputs["QueueARN"]}}}}
	if diff := cmp.Diff(wantDoc, doc); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	if len(u.keys) != 1 {
		t.Errorf("user has %d keys, want 1", len(u.keys))
	}

	// The record keeps nothing secret in plain text.
	rec, err := h.bindings.get("b1")
	if err != nil || rec == nil {
		t.Fatalf("binding record: %v, %v", rec, err)
	}
	raw, _ := json.Marshal(rec)
	if strings.Contains(string(raw), "fake-secret-1") {
		t.Errorf("the binding record holds the secret key in plain text: %s", raw)
	}

	// GET binding and binding last_operation.
	sid, pid := planIDs(t, h.idx.Catalog(), "sqs", "standard")
	got, err := h.c.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: "i1", BindingID: "b1", ServiceID: sid, PlanID: pid})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "get binding", got, http.StatusOK)
	if diff := cmp.Diff(map[string]any(want), map[string]any(got.Value.Credentials)); diff != "" {
		t.Errorf("GET binding credentials (-want +got):\n%s", diff)
	}
}

func TestBindRepeated(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	h.instance("i2", provisioner.Succeeded, queueOutputs)

	first := h.bind("i1", "b1", nil)
	wantStatus(t, "bind", first, http.StatusCreated)
	again := h.bind("i1", "b1", nil)
	wantStatus(t, "identical bind (B5)", again, http.StatusOK)
	if diff := cmp.Diff(map[string]any(first.Value.Credentials), map[string]any(again.Value.Credentials)); diff != "" {
		t.Errorf("a repeated bind answers other credentials (-first +again):\n%s", diff)
	}
	if n := h.iam.created(); n != 1 {
		t.Errorf("%d access keys created, want 1: a repeated bind must not make another", n)
	}

	conflicts := []struct {
		reason string
		inst   string
		edit   func(*brokertest.BindRequest)
	}{
		{"another app", "i1", func(r *brokertest.BindRequest) { r.BindResource = map[string]any{"app_guid": "app-2"} }},
		{"other parameters", "i1", func(r *brokertest.BindRequest) { r.Parameters = broker.Parameters{"x": 1} }},
		{"another instance", "i2", nil},
	}
	for _, c := range conflicts {
		resp := h.bind(c.inst, "b1", c.edit)
		if resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bind with %s: status %d, want 409 (B6) or 400 for parameters the plan does not take; body %s", c.reason, resp.StatusCode, resp.Body)
		}
	}
	if n := h.iam.created(); n != 1 {
		t.Errorf("%d access keys created after conflicts, want 1", n)
	}
}

func TestBindInstanceStates(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("provisioning", provisioner.InProgress, nil)
	h.instance("failed", provisioner.Failed, nil)

	wantStatus(t, "bind to an unknown instance (B14)", h.bind("nope", "b1", nil), http.StatusNotFound)
	resp := h.bind("provisioning", "b2", nil)
	wantStatus(t, "bind to an instance being provisioned (B14)", resp, http.StatusUnprocessableEntity)
	if resp.Error == nil || resp.Error.Code != broker.CodeConcurrencyError {
		t.Errorf("bind to an instance being provisioned: error body %s, want ConcurrencyError", resp.Body)
	}
	wantStatus(t, "bind to a failed instance", h.bind("failed", "b3", nil), http.StatusNotFound)
	if n := h.iam.count(); n != 0 {
		t.Errorf("%d IAM users were created for refused binds", n)
	}
}

func TestBindWithoutARNOutputs(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, map[string]string{"Endpoint": "db.example:5432"})
	resp := h.bind("i1", "b1", nil)
	wantStatus(t, "bind", resp, http.StatusCreated)
	want := map[string]any{"Endpoint": "db.example:5432", "AWS_REGION": "eu-west-1"}
	if diff := cmp.Diff(want, map[string]any(resp.Value.Credentials)); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	if n := h.iam.count(); n != 0 {
		t.Errorf("%d IAM users were created for an instance no policy can name", n)
	}
	wantStatus(t, "unbind", h.unbind("i1", "b1"), http.StatusOK)
}

func TestUnbind(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	wantStatus(t, "bind", h.bind("i1", "b1", nil), http.StatusCreated)

	wantStatus(t, "unbind of another instance's binding", h.unbind("i2", "b1"), http.StatusGone)
	wantStatus(t, "unbind", h.unbind("i1", "b1"), http.StatusOK)
	if u := h.iam.user("bk-b1"); u != nil {
		t.Errorf("IAM user bk-b1 still exists after the unbind: %+v", u)
	}
	wantStatus(t, "repeated unbind (UB4)", h.unbind("i1", "b1"), http.StatusGone)
	wantStatus(t, "unbind of a binding never made (UB4)", h.unbind("i1", "never"), http.StatusGone)

	// A new bind with the same ID after the unbind is a new binding.
	wantStatus(t, "bind after unbind", h.bind("i1", "b1", nil), http.StatusCreated)
}

func TestBindFailureThenOrphanMitigation(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	h.iam.setErr(func(op string) error {
		if op == "CreateAccessKey" {
			return errors.New("throttled")
		}
		return nil
	})
	wantStatus(t, "bind with IAM failing", h.bind("i1", "b1", nil), http.StatusInternalServerError)
	if h.iam.user("bk-b1") == nil {
		t.Fatal("the failed bind left no user to clean up; the test does not test anything")
	}
	sid, pid := planIDs(t, h.idx.Catalog(), "sqs", "standard")
	got, err := h.c.GetBinding(t.Context(), brokertest.GetBindingRequest{InstanceID: "i1", BindingID: "b1", ServiceID: sid, PlanID: pid})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "GET of a binding whose creation failed (FB3)", got, http.StatusNotFound)

	h.iam.setErr(nil)
	wantStatus(t, "unbind after a failed bind (UB6)", h.unbind("i1", "b1"), http.StatusOK)
	if u := h.iam.user("bk-b1"); u != nil {
		t.Errorf("orphan mitigation left IAM user bk-b1: %+v", u)
	}
}

func TestBindResumesInterruptedBind(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	// A bind that crashed after creating a key: the user has a key whose
	// secret is lost, and the record says "creating".
	h.iam.setErr(func(op string) error {
		if op == "PutUserPolicy" {
			return errors.New("connection reset")
		}
		return nil
	})
	wantStatus(t, "interrupted bind", h.bind("i1", "b1", nil), http.StatusInternalServerError)
	h.iam.setErr(nil)
	h.iam.addUser("bk-b1", map[string]string{tagBindingID: "b1"}, "AKIALOST")

	resp := h.bind("i1", "b1", nil)
	wantStatus(t, "bind again", resp, http.StatusCreated)
	u := h.iam.user("bk-b1")
	if _, ok := u.keys["AKIALOST"]; ok || len(u.keys) != 1 {
		t.Errorf("user keys after the resumed bind = %v, want only the new one", slices.Collect(maps.Keys(u.keys)))
	}
	if resp.Value.Credentials[credAccessKeyID] == "AKIALOST" {
		t.Error("the resumed bind answered the lost key")
	}
}

func TestBindRefusesSomeoneElsesUser(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	h.iam.addUser("bk-b1", map[string]string{"team": "payments"}, "AKIATHEIRS")

	wantStatus(t, "bind onto a user that is not the binding's", h.bind("i1", "b1", nil), http.StatusInternalServerError)
	u := h.iam.user("bk-b1")
	if len(u.policies) != 0 || len(u.keys) != 1 {
		t.Errorf("the bind changed someone else's user: %+v", u)
	}
	wantStatus(t, "unbind", h.unbind("i1", "b1"), http.StatusOK)
	if h.iam.user("bk-b1") == nil {
		t.Error("the unbind deleted someone else's user")
	}
}

func TestDeprovisionRevokesBindings(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	sid, pid := h.instance("i1", provisioner.Succeeded, queueOutputs)
	h.instance("i2", provisioner.Succeeded, queueOutputs)
	wantStatus(t, "bind", h.bind("i1", "b1", nil), http.StatusCreated)
	wantStatus(t, "bind", h.bind("i1", "b2", nil), http.StatusCreated)
	wantStatus(t, "bind", h.bind("i2", "b3", nil), http.StatusCreated)

	resp, err := h.c.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: "i1", ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "deprovision", resp, http.StatusAccepted)
	for _, id := range []string{"b1", "b2"} {
		if h.iam.user("bk-"+id) != nil {
			t.Errorf("binding %s's IAM user survived its instance's deprovision", id)
		}
		if rec, _ := h.bindings.get(id); rec != nil {
			t.Errorf("binding %s's record survived its instance's deprovision", id)
		}
	}
	if h.iam.user("bk-b3") == nil {
		t.Error("another instance's binding was revoked")
	}
}

func TestBindingKeyReplaced(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	wantStatus(t, "bind", h.bind("i1", "b1", nil), http.StatusCreated)

	other := make([]byte, keyLen)
	be, err := newBackend(backendOptions{Tracker: h.be.Tracker, IAM: h.iam, Bindings: h.bindings, Key: other,
		Region: "eu-west-1", StackPrefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	_, pid := planIDs(t, h.idx.Catalog(), "sqs", "standard")
	svc, plan, _ := h.idx.Plan(pid)
	_, err = be.Bind(t.Context(), &broker.BindRequest{InstanceID: "i1", BindingID: "b1", Service: svc, Plan: plan,
		BindResource: broker.BindResource{"app_guid": "app-1"}})
	if err == nil {
		t.Fatal("a bind replay with another key succeeded")
	}
	// With another key the digest differs too: the replay looks like a
	// conflict, which is the safe answer; either way no credential leaks.
	var be2 *broker.Error
	if errors.As(err, &be2) && be2.Status != http.StatusConflict {
		t.Errorf("replay with another key: %v", err)
	}
}

func TestBusyBinding(t *testing.T) {
	t.Parallel()
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	if !h.be.acquire("b1") {
		t.Fatal("acquire of a free binding failed")
	}
	resp := h.bind("i1", "b1", nil)
	wantStatus(t, "bind during another bind of the same binding", resp, http.StatusUnprocessableEntity)
	wantStatus(t, "unbind during a bind of the same binding", h.unbind("i1", "b1"), http.StatusUnprocessableEntity)
	h.be.release("b1")
	wantStatus(t, "bind once free", h.bind("i1", "b1", nil), http.StatusCreated)
}
