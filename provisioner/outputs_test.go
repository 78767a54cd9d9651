package provisioner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
)

const secretOutput = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

// secretObserver reports a succeeded provision with a plain output and a
// secret one.
func secretObserver(req provisioner.ObserveRequest) (provisioner.Observation, error) {
	return provisioner.Observation{State: provisioner.Succeeded,
		Outputs: map[string]string{"AccessKeyId": "AKIA1"},
		Secrets: map[string]string{"SecretAccessKey": secretOutput}}, nil
}

func testSealer(t *testing.T) provisioner.Sealer {
	t.Helper()
	s, err := provisioner.NewAESSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretOutputsAreSealed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &fakeProv{observe: secretObserver}, func(o *provisioner.Options) { o.Sealer = testSealer(t) })
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	rec := e.record(instanceID)
	if rec.Operation.State != provisioner.Succeeded {
		t.Fatalf("provision: %+v", rec.Operation)
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secretOutput) {
		t.Errorf("the stored record holds the secret output in plain text: %s", raw)
	}
	if rec.Outputs["AccessKeyId"] != "AKIA1" || rec.Outputs["SecretAccessKey"] != "" {
		t.Errorf("plain outputs %v: want AccessKeyId only", rec.Outputs)
	}
	got, err := e.tr.SecretOutputs(rec)
	if err != nil || got["SecretAccessKey"] != secretOutput || len(got) != 1 {
		t.Fatalf("SecretOutputs = %v keys, %v; want SecretAccessKey", len(got), err)
	}

	// A restarted Tracker with the same key opens them; another key fails
	// without printing the value.
	if got, err := e.newTracker(func(o *provisioner.Options) { o.Sealer = testSealer(t) }).SecretOutputs(rec); err != nil || got["SecretAccessKey"] != secretOutput {
		t.Errorf("after a restart: %v", err)
	}
	other, _ := provisioner.NewAESSealer([]byte(strings.Repeat("k", 32)))
	if _, err := e.newTracker(func(o *provisioner.Options) { o.Sealer = other }).SecretOutputs(rec); err == nil || strings.Contains(err.Error(), secretOutput) {
		t.Errorf("another key: %v, want an error without the value", err)
	}
	if _, err := e.newTracker().SecretOutputs(rec); !errors.Is(err, provisioner.ErrNoSealer) {
		t.Errorf("no Sealer: %v, want ErrNoSealer", err)
	}

	// An update that reports no secrets keeps them; the deprovision drops them.
	e.prov.observe = func(provisioner.ObserveRequest) (provisioner.Observation, error) {
		return provisioner.Observation{State: provisioner.Succeeded, Outputs: map[string]string{"AccessKeyId": "AKIA1"}}, nil
	}
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 2}}}); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	rec = e.record(instanceID)
	if got, err := e.tr.SecretOutputs(rec); err != nil || got["SecretAccessKey"] != secretOutput {
		t.Errorf("after an update without secrets: %v keys, %v", len(got), err)
	}
	if _, err := e.tr.Deprovision(ctx, instanceID); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if rec = e.record(instanceID); !rec.Deleted || rec.SealedOutputs != nil {
		t.Errorf("tombstone keeps sealed outputs: deleted %v, %d sealed", rec.Deleted, len(rec.SealedOutputs))
	}
}

func TestSecretOutputsWithoutSealerFail(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, &fakeProv{observe: secretObserver})
	if _, err := e.tr.Provision(ctx, provisionReq(nil)); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	rec := e.record(instanceID)
	if rec.Operation.State != provisioner.Failed || !strings.Contains(rec.Operation.Description, "secret outputs") {
		t.Fatalf("provision without a Sealer: %+v; want failed, saying why", rec.Operation)
	}
	if len(rec.Outputs) != 0 || len(rec.SealedOutputs) != 0 {
		t.Errorf("failed provision kept outputs %v, sealed %d", rec.Outputs, len(rec.SealedOutputs))
	}
}

func TestTargetIsRememberedAndPassed(t *testing.T) {
	ctx := context.Background()
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "ext-123", Region: "eu-west-1"}
	prov := &fakeProv{}
	e := newEnv(t, prov)
	req := provisionReq(nil)
	req.Target = target
	if _, err := e.tr.Provision(ctx, req); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if got := e.record(instanceID).Target; got != target {
		t.Errorf("stored Target %#v, want %#v", got, target)
	}
	// A repeat to another account is another instance: 409.
	other := req
	other.Target.AccountID = "222222222222"
	if _, err := e.tr.Provision(ctx, other); !errors.Is(err, provisioner.ErrConflict) {
		t.Errorf("provision again into another account: %v, want ErrConflict", err)
	}
	if res, err := e.tr.Provision(ctx, req); err != nil || res.Outcome != provisioner.Unchanged {
		t.Errorf("identical repeat: %+v, %v", res, err)
	}
	if _, err := e.tr.Update(ctx, provisioner.UpdateRequest{InstanceID: instanceID, Change: provisioner.Change{Parameters: map[string]any{"size": 3}}}); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if _, err := e.tr.Deprovision(ctx, instanceID); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	prov.mu.Lock()
	defer prov.mu.Unlock()
	if len(prov.seen) < 5 {
		t.Fatalf("backend saw %d calls", len(prov.seen))
	}
	for i, inst := range prov.seen {
		if inst.Target != target {
			t.Errorf("backend call %d got Target %#v, want %#v", i, inst.Target, target)
		}
	}
}

func TestRegionOnlyTargetSurvivesTheStore(t *testing.T) {
	rec := &provisioner.Record{InstanceID: "x", Target: credentials.Target{Region: "ap-south-1"}, Operation: &provisioner.Operation{ID: "o"}}
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back provisioner.Record
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Target.Region != "ap-south-1" {
		t.Errorf("region-only Target lost in JSON: %s", raw)
	}
}
