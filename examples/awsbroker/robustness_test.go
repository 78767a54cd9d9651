package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// recordingProvisioner finishes everything at once and records updates.
type recordingProvisioner struct {
	doneProvisioner
	mu      sync.Mutex
	updates []provisioner.Change
}

func (r *recordingProvisioner) Update(ctx context.Context, op *provisioner.Operation, inst *provisioner.Instance, ch provisioner.Change) (provisioner.Start, error) {
	r.mu.Lock()
	r.updates = append(r.updates, ch)
	r.mu.Unlock()
	return provisioner.Start{Done: true}, nil
}

func rawDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.SetBasicAuth("u", "p")
	req.Header.Set("X-Broker-API-Version", "2.17")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A PATCH without previous_values skips the update schema: parameters
// that are not updatable (HashKeyName replaces the DynamoDB table) reach
// CloudFormation. The same PATCH with previous_values.plan_id gets 400.
func TestRobustPatchWithoutPreviousValuesSkipsUpdateSchema(t *testing.T) {
	idx, templates, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	rp := &recordingProvisioner{}
	tracker, err := provisioner.New(provisioner.Options{Store: mem, Provisioner: rp, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := provisioner.New(provisioner.Options{Store: store.NewMemory(), Provisioner: doneProvisioner{}, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := broker.New(idx, newBackend(tracker, bindings, nil, templates.declared), broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "u", Password: "p"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	defer srv.Close()
	sid, pid := planIDs(t, idx.Catalog(), "dynamodb", "ondemand")
	now := time.Now()
	if err := mem.Put(t.Context(), &provisioner.Record{InstanceID: "i1", ServiceID: sid, PlanID: pid, OrganizationGUID: "o", SpaceGUID: "s",
		Resource: "stack-i1", Parameters: map[string]any{"HashKeyName": "id"},
		Operation: &provisioner.Operation{ID: "op-1", Kind: provisioner.KindProvision, State: provisioner.Succeeded, Started: true, CreatedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/v2/service_instances/i1?accepts_incomplete=true"

	code, body := rawDo(t, "PATCH", url, `{"service_id":"`+sid+`","previous_values":{"plan_id":"`+pid+`"},"parameters":{"HashKeyName":"other"}}`)
	if code != http.StatusBadRequest {
		t.Fatalf("control: PATCH with previous_values: %d %s, want 400", code, body)
	}
	code, body = rawDo(t, "PATCH", url, `{"service_id":"`+sid+`","parameters":{"HashKeyName":"other"}}`)
	if code != http.StatusBadRequest {
		t.Errorf("PATCH without previous_values changing a non-updatable parameter: %d %s, want 400; provisioner saw %v", code, body, rp.updates)
	}
}
