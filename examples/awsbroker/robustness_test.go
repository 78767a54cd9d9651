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
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
	"log/slog"
	"path/filepath"
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
	idx, _, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory()
	rp := &recordingProvisioner{}
	tracker, err := provisioner.New(provisioner.Options{Store: mem, Provisioner: rp, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := openBindings(filepath.Join(t.TempDir(), "bindings.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bindings.Close()
	key := []byte("0123456789abcdef0123456789abcdef")
	be, err := newBackend(backendOptions{Tracker: tracker, IAM: newFakeIAM(), Bindings: bindings, Key: key,
		Region: "eu-west-1", StackPrefix: "bk", BrokerID: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := broker.New(idx, be, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: "u", Password: "p"}),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision,
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

// A binding ID longer than bbolt's 32768-byte key limit is answered 500
// (bad input must never get 5xx; on bind a 5xx triggers orphan mitigation).
func TestRobustLongBindingIDIs500(t *testing.T) {
	h := newBindHarness(t)
	h.instance("i1", provisioner.Succeeded, queueOutputs)
	id := strings.Repeat("b", 40000)
	resp := h.bind("i1", id, nil)
	if resp.StatusCode >= 500 {
		t.Errorf("bind with a %d-byte binding ID: %d %s, want a 4xx", len(id), resp.StatusCode, resp.Body)
	}
}

// A bind that passes its instance check just before the instance's
// deprovision is accepted ends 201 and leaves an IAM user with rights on
// the deleted instance's ARN; Deprovision skipped it as busy.
func TestRobustBindRacingDeprovisionLeavesUser(t *testing.T) {
	h := newBindHarness(t)
	sid, pid := h.instance("i1", provisioner.Succeeded, queueOutputs)
	inCreate, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.iam.setErr(func(op string) error {
		if op == "CreateUser" {
			once.Do(func() { close(inCreate); <-release })
		}
		return nil
	})
	bindDone := make(chan *brokertest.Response[brokertest.BindResponse], 1)
	go func() { bindDone <- h.bind("i1", "b1", nil) }()
	<-inCreate
	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	resp, err := h.c.Deprovision(t.Context(), brokertest.DeprovisionRequest{InstanceID: "i1", ServiceID: sid, PlanID: pid, AcceptsIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "deprovision", resp, http.StatusAccepted)
	b := <-bindDone
	t.Logf("bind answered %d", b.StatusCode)
	if u := h.iam.user(userName(testPrefix, "b1")); u != nil {
		t.Errorf("IAM user %s with policy %v survives the instance's deprovision", userName(testPrefix, "b1"), u.policies)
	}
}
