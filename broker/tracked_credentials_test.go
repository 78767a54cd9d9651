package broker_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/provisioner"
)

// bindingSecret is a binding's secret output: the canary.
const bindingSecret = canary.Secret

// TestTrackedBindingsCredentialsSpec builds credentials as the service's
// CredentialsSpec says, with the binding's secret outputs (sealed by the
// Tracker) and an expires_at from the Lifetime.
func TestTrackedBindingsCredentialsSpec(t *testing.T) {
	t.Parallel()
	canary.Plant(t)
	cat := bindCatalogValue()
	cat.Services[0].Credentials = &catalog.CredentialsSpec{Mapping: catalog.MappingScreamingSnake, Lifetime: catalog.Duration(time.Hour),
		Transforms: []catalog.KeyTransform{{Op: "remove", Key: "SHARED"}, {Op: "add", Key: "QUEUE_REGION", Value: "eu-west-1"}}}
	idx, err := catalog.NewIndex(cat)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioner.NewAESSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := newBindFixtureWith(t, idx, nil, func(o *provisioner.Options) { o.Sealer = sealer })
	f.bindProv.secrets = func(string) map[string]string { return map[string]string{"SecretAccessKey": bindingSecret} }
	f.provision(t, "i1", bindPlan)
	f.bind(t, f.bindReq("i1", "b1", bindPlan, nil))

	got, err := f.b.GetBinding(t.Context(), &broker.GetBindingRequest{InstanceID: "i1", BindingID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	key := broker.BindingKey("i1", "b1")
	want := broker.Credentials{"QUEUE_URL": bindQueueURL, "QUEUE_ARN": "arn:q:i1", "USER_NAME": "user-" + key,
		"SECRET_ACCESS_KEY": bindingSecret, "QUEUE_REGION": "eu-west-1"}
	if diff := cmp.Diff(want, got.Credentials); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	rec, err := f.bindings.Instance(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, plain := rec.Outputs["SecretAccessKey"]; plain {
		t.Error("the binding's secret output is stored in plain text")
	}
	if got.Metadata == nil || !got.Metadata.ExpiresAt.Equal(rec.Operation.FinishedAt.Add(time.Hour)) {
		t.Errorf("metadata %+v, want expires_at an hour after the bind finished (%v)", got.Metadata, rec.Operation.FinishedAt)
	}

	// A repeated bind answers 200 with the same credentials and expiry.
	again, err := f.b.Bind(t.Context(), f.bindReq("i1", "b1", bindPlan, nil))
	if err != nil || again.Outcome != broker.Existed {
		t.Fatalf("repeated bind: %+v, %v", again.Outcome, err)
	}
	if diff := cmp.Diff(want, again.Credentials); diff != "" || !again.Metadata.ExpiresAt.Equal(got.Metadata.ExpiresAt) {
		t.Errorf("repeated bind (-want +got):\n%s; expiry %v", diff, again.Metadata)
	}
}

// TestTrackedBindingsWithoutSealer: a binding whose resources report
// secret outputs fails when the bindings Tracker cannot seal them.
func TestTrackedBindingsWithoutSealer(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil)
	f.bindProv.secrets = func(string) map[string]string { return map[string]string{"SecretAccessKey": bindingSecret} }
	f.provision(t, "i1", bindPlan)
	if _, err := f.b.Bind(t.Context(), f.bindReq("i1", "b1", bindPlan, nil)); err != nil {
		t.Fatal(err)
	}
	op := await(t, f.bindings, broker.BindingKey("i1", "b1"))
	if op.State != provisioner.Failed {
		t.Errorf("bind without a Sealer: %s %q; want failed", op.State, op.Description)
	}
}

// TestTrackedTarget: Tracked.Target chooses the instance's account, the
// instance's bindings follow it, and an invalid target is a 400.
func TestTrackedTarget(t *testing.T) {
	t.Parallel()
	f := newBindFixture(t, nil)
	tracked := &broker.Tracked{Tracker: f.instances,
		Target: func(_ context.Context, req *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error) {
			return credentials.FromParameters(credentials.Target{RoleName: "broker", Region: "eu-west-1"}, req.Parameters)
		}}
	svc, plan, _ := f.idx.Plan(bindPlan)
	req := &broker.ProvisionRequest{InstanceID: "i1", Service: svc, Plan: plan, OrganizationGUID: "o", SpaceGUID: "s",
		AcceptsIncomplete: true, Parameters: broker.Parameters{"target_account_id": "111111111111"}}
	if _, err := tracked.Provision(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	await(t, f.instances, "i1")
	inst, err := f.instances.Instance(t.Context(), "i1")
	if err != nil {
		t.Fatal(err)
	}
	want := credentials.Target{AccountID: "111111111111", RoleName: "broker", Region: "eu-west-1"}
	if inst.Target != want || len(inst.Parameters) != 0 {
		t.Errorf("instance target %v, parameters %v; want %v and no target parameters", inst.Target, inst.Parameters, want)
	}
	f.bind(t, f.bindReq("i1", "b1", bindPlan, nil))
	b, err := f.bindings.Instance(t.Context(), broker.BindingKey("i1", "b1"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Target != want {
		t.Errorf("binding target %v, want the instance's %v", b.Target, want)
	}

	req.InstanceID, req.Parameters = "i2", broker.Parameters{"target_account_id": "12"}
	_, err = tracked.Provision(t.Context(), req)
	var be *broker.Error
	if !errors.As(err, &be) || be.Status != http.StatusBadRequest {
		t.Errorf("bad account: %v, want a 400", err)
	}
	if _, err := f.instances.Instance(t.Context(), "i2"); !errors.Is(err, provisioner.ErrNotFound) {
		t.Errorf("a rejected provision left a record: %v", err)
	}
}
