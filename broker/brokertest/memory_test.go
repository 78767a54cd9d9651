package brokertest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
)

// memoryBroker serves a Memory over HTTP and returns a Client for it.
func memoryBroker(t *testing.T, opts brokertest.MemoryOptions) (*brokertest.Client, *brokertest.Memory) {
	t.Helper()
	m := brokertest.NewMemory(testIndex(t), opts)
	srv := httptest.NewServer(handlerFor(t, m))
	t.Cleanup(srv.Close)
	return brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: testCredential.Username, Password: testCredential.Password}), m
}

// provisionReq is a provision of the small plan; nil params stand for the
// plan's one required parameter with a fixed value.
func provisionReq(id string, params broker.Parameters) brokertest.ProvisionRequest {
	if params == nil {
		params = broker.Parameters{"name": "x"}
	}
	return brokertest.ProvisionRequest{InstanceID: id, ServiceID: dbServiceID, PlanID: smallPlanID,
		OrganizationGUID: "org", SpaceGUID: "space", Parameters: params, AcceptsIncomplete: true}
}

func deprovisionReq(id string) brokertest.DeprovisionRequest {
	return brokertest.DeprovisionRequest{InstanceID: id, ServiceID: dbServiceID, PlanID: smallPlanID, AcceptsIncomplete: true}
}

// status fails t unless resp has the wanted status, and returns resp.
func status[T any](t *testing.T, want int) func(*brokertest.Response[T], error) *brokertest.Response[T] {
	t.Helper()
	return func(resp *brokertest.Response[T], err error) *brokertest.Response[T] {
		t.Helper()
		if err != nil {
			t.Fatalf("%v", err)
		}
		if resp.StatusCode != want {
			t.Fatalf("status %d (%v); want %d", resp.StatusCode, resp.Err(), want)
		}
		return resp
	}
}

func lastOp(t *testing.T, c *brokertest.Client, id, op string) brokertest.LastOperation {
	t.Helper()
	return status[brokertest.LastOperation](t, 200)(c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: id, Operation: op})).Value
}

var fast = brokertest.PollOptions{Interval: time.Millisecond, Timeout: 10 * time.Second}

func TestMemoryPolls(t *testing.T) {
	t.Parallel()
	c, _ := memoryBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 3, RetryAfter: 1500 * time.Millisecond})
	op := status[brokertest.ProvisionResponse](t, 202)(c.Provision(t.Context(), provisionReq("i", broker.Parameters{"name": "a"}))).Value.Operation
	if op != "op-1" {
		t.Errorf("operation = %q; want op-1", op)
	}
	for i, want := range []broker.State{broker.InProgress, broker.InProgress, broker.Succeeded, broker.Succeeded} {
		resp := status[brokertest.LastOperation](t, 200)(c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: "i", Operation: op}))
		if resp.Value.State != want {
			t.Errorf("poll %d: state %q; want %q", i+1, resp.Value.State, want)
		}
		wantRA := ""
		if want == broker.InProgress {
			wantRA = "2" // rounded up
		}
		if got := resp.Header.Get("Retry-After"); got != wantRA {
			t.Errorf("poll %d: Retry-After %q; want %q", i+1, got, wantRA)
		}
	}
}

func TestMemoryFailAsync(t *testing.T) {
	t.Parallel()
	failures := map[broker.Action]error{
		broker.ActionProvision: errors.New("no capacity"),
		broker.ActionUpdate: &broker.Error{Status: 500, Description: "The resize failed.",
			InstanceUsable: broker.Bool(true), UpdateRepeatable: broker.Bool(false)},
	}
	c, m := memoryBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 1,
		Fail: func(a broker.Action, id string) error {
			if id == "bad" || a == broker.ActionUpdate {
				return failures[a]
			}
			return nil
		}})
	ctx := t.Context()

	// A failed provision waits for a delete: any PUT conflicts.
	op := status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("bad", nil))).Value.Operation
	want := brokertest.LastOperation{State: broker.Failed, Description: "no capacity"}
	if diff := cmp.Diff(want, lastOp(t, c, "bad", op)); diff != "" {
		t.Errorf("last_operation (-want +got):\n%s", diff)
	}
	status[brokertest.ProvisionResponse](t, 409)(c.Provision(ctx, provisionReq("bad", nil)))
	status[brokertest.Instance](t, 404)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "bad"}))
	op = status[brokertest.OperationResponse](t, 202)(c.Deprovision(ctx, deprovisionReq("bad"))).Value.Operation
	if lo := lastOp(t, c, "bad", op); lo.State != broker.Succeeded {
		t.Errorf("deprovision after a failed provision: %+v", lo)
	}

	// A failed update keeps the instance as it was and reports the
	// error's flags.
	op = status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("good", broker.Parameters{"name": "a"}))).Value.Operation
	lastOp(t, c, "good", op)
	op = status[brokertest.UpdateResponse](t, 202)(c.Update(ctx, brokertest.UpdateRequest{InstanceID: "good", ServiceID: dbServiceID,
		Parameters: broker.Parameters{"size": 9}, AcceptsIncomplete: true})).Value.Operation
	want = brokertest.LastOperation{State: broker.Failed, Description: "The resize failed.",
		InstanceUsable: broker.Bool(true), UpdateRepeatable: broker.Bool(false)}
	if diff := cmp.Diff(want, lastOp(t, c, "good", op)); diff != "" {
		t.Errorf("last_operation (-want +got):\n%s", diff)
	}
	inst := status[brokertest.Instance](t, 200)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "good"})).Value
	if diff := cmp.Diff(broker.Parameters{"name": "a"}, inst.Parameters); diff != "" {
		t.Errorf("parameters after a failed update (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"good"}, m.InstanceIDs()); diff != "" {
		t.Errorf("InstanceIDs (-want +got):\n%s", diff)
	}
}

func TestMemoryFailSync(t *testing.T) {
	t.Parallel()
	c, m := memoryBroker(t, brokertest.MemoryOptions{Fail: func(a broker.Action, id string) error {
		switch id {
		case "plain":
			return errors.New("disk full")
		case "typed":
			return &broker.Error{Status: http.StatusUnprocessableEntity, Description: "Over quota."}
		}
		return nil
	}})
	resp := status[brokertest.ProvisionResponse](t, 500)(c.Provision(t.Context(), provisionReq("plain", nil)))
	if resp.Error == nil || resp.Error.Description != "disk full" {
		t.Errorf("error body %+v; want the failure's description", resp.Error)
	}
	resp = status[brokertest.ProvisionResponse](t, 422)(c.Provision(t.Context(), provisionReq("typed", nil)))
	if resp.Error == nil || resp.Error.Description != "Over quota." {
		t.Errorf("error body %+v; want the broker.Error's", resp.Error)
	}
	if ids := m.InstanceIDs(); len(ids) > 0 {
		t.Errorf("a failed synchronous provision left instances %v", ids)
	}
	status[brokertest.LastOperation](t, 404)(c.LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: "plain"}))
}

func TestMemoryIdempotency(t *testing.T) {
	t.Parallel()
	c, _ := memoryBroker(t, brokertest.MemoryOptions{Async: true})
	ctx := t.Context()
	params := broker.Parameters{"name": "a", "size": 1}
	op := status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("i", params))).Value.Operation

	// In progress: the same is Accepted with the same operation; anything
	// else conflicts or must wait.
	if got := status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("i", params))).Value.Operation; got != op {
		t.Errorf("repeated provision: operation %q; want %q", got, op)
	}
	status[brokertest.ProvisionResponse](t, 409)(c.Provision(ctx, provisionReq("i", broker.Parameters{"name": "b"})))
	status[brokertest.UpdateResponse](t, 422)(c.Update(ctx, brokertest.UpdateRequest{InstanceID: "i", ServiceID: dbServiceID, AcceptsIncomplete: true}))
	noAsync := provisionReq("i", params)
	noAsync.AcceptsIncomplete = false
	status[brokertest.ProvisionResponse](t, 422)(c.Provision(ctx, noAsync))
	if _, err := c.PollLastOperation(ctx, "i", op, fast); err != nil {
		t.Fatal(err)
	}

	// Numbers compare by value, context is not an attribute.
	body := []byte(`{"service_id":"` + dbServiceID + `","plan_id":"` + smallPlanID +
		`","organization_guid":"org","space_guid":"space","parameters":{"size":1.0e0,"name":"a"},"context":{"platform":"other"}}`)
	raw, err := c.Do(ctx, http.MethodPut, brokertest.InstancePath("i"), url.Values{"accepts_incomplete": {"true"}}, body, nil)
	if err != nil || raw.StatusCode != 200 {
		t.Errorf("identical provision after success: %v %v; want 200", err, raw.Err())
	}

	// An update in progress: the same is Accepted again, others wait.
	upd := brokertest.UpdateRequest{InstanceID: "i", ServiceID: dbServiceID, Parameters: broker.Parameters{"size": 2}, AcceptsIncomplete: true}
	op = status[brokertest.UpdateResponse](t, 202)(c.Update(ctx, upd)).Value.Operation
	if got := status[brokertest.UpdateResponse](t, 202)(c.Update(ctx, upd)).Value.Operation; got != op {
		t.Errorf("repeated update: operation %q; want %q", got, op)
	}
	other := upd
	other.Parameters = broker.Parameters{"size": 3}
	status[brokertest.UpdateResponse](t, 422)(c.Update(ctx, other))
	status[brokertest.BindResponse](t, 422)(c.Bind(ctx, brokertest.BindRequest{InstanceID: "i", BindingID: "b", ServiceID: dbServiceID, PlanID: smallPlanID, AcceptsIncomplete: true}))
	status[brokertest.OperationResponse](t, 422)(c.Deprovision(ctx, deprovisionReq("i")))
	status[brokertest.Instance](t, 422)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "i"}))
	if _, err := c.PollLastOperation(ctx, "i", op, fast); err != nil {
		t.Fatal(err)
	}
	inst := status[brokertest.Instance](t, 200)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "i"})).Value
	if diff := cmp.Diff(broker.Parameters{"name": "a", "size": float64(2)}, inst.Parameters); diff != "" {
		t.Errorf("merged parameters (-want +got):\n%s", diff)
	}
	// The same update again changes nothing: 200.
	status[brokertest.UpdateResponse](t, 200)(c.Update(ctx, upd))

	// Deleting: the same delete is Accepted again, a provision must wait.
	op = status[brokertest.OperationResponse](t, 202)(c.Deprovision(ctx, deprovisionReq("i"))).Value.Operation
	if got := status[brokertest.OperationResponse](t, 202)(c.Deprovision(ctx, deprovisionReq("i"))).Value.Operation; got != op {
		t.Errorf("repeated deprovision: operation %q; want %q", got, op)
	}
	status[brokertest.ProvisionResponse](t, 422)(c.Provision(ctx, provisionReq("i", params)))
	if _, err := c.PollLastOperation(ctx, "i", op, fast); err != nil {
		t.Fatal(err)
	}

	// The tombstone reports the delete, then the ID starts afresh.
	for _, token := range []string{"", op, "provision", "op-1"} {
		if lo := lastOp(t, c, "i", token); lo.State != broker.Succeeded {
			t.Errorf("tombstone, operation %q: %+v", token, lo)
		}
	}
	status[brokertest.OperationResponse](t, 410)(c.Deprovision(ctx, deprovisionReq("i")))
	status[brokertest.Instance](t, 404)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "i"}))
	op = status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("i", broker.Parameters{"name": "new"}))).Value.Operation
	if lo := lastOp(t, c, "i", op); lo.State != broker.InProgress {
		t.Errorf("a reused ID: %+v; want a new provision in progress", lo)
	}
}

func TestMemoryDeprovisionCancelsProvision(t *testing.T) {
	t.Parallel()
	c, m := memoryBroker(t, brokertest.MemoryOptions{Async: true})
	ctx := t.Context()
	create := status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("i", nil))).Value.Operation
	del := status[brokertest.OperationResponse](t, 202)(c.Deprovision(ctx, deprovisionReq("i"))).Value.Operation
	if create == del {
		t.Errorf("the delete reuses the provision's operation %q", del)
	}
	if lo := lastOp(t, c, "i", create); lo.State != broker.Failed {
		t.Errorf("the canceled provision: %+v; want failed", lo)
	}
	if lo, err := c.PollLastOperation(ctx, "i", del, fast); err != nil || lo.State != broker.Succeeded {
		t.Errorf("the delete: %+v, %v", lo, err)
	}
	if ids := m.InstanceIDs(); len(ids) > 0 {
		t.Errorf("InstanceIDs = %v after the delete", ids)
	}
}

func TestMemoryBindings(t *testing.T) {
	t.Parallel()
	c, _ := memoryBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 1})
	ctx := t.Context()
	lastOp(t, c, "i", status[brokertest.ProvisionResponse](t, 202)(c.Provision(ctx, provisionReq("i", nil))).Value.Operation)
	bind := func(id string) brokertest.BindRequest {
		return brokertest.BindRequest{InstanceID: "i", BindingID: id, ServiceID: dbServiceID, PlanID: smallPlanID,
			BindResource: map[string]any{"app_guid": "app"}, AcceptsIncomplete: true}
	}
	creds := map[string]broker.Credentials{}
	for _, id := range []string{"b1", "b2"} {
		op := status[brokertest.BindResponse](t, 202)(c.Bind(ctx, bind(id))).Value.Operation
		status[brokertest.Binding](t, 404)(c.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: "i", BindingID: id}))
		if lo, err := c.PollBindingLastOperation(ctx, "i", id, op, fast); err != nil || lo.State != broker.Succeeded {
			t.Fatalf("bind %s: %+v, %v", id, lo, err)
		}
		creds[id] = status[brokertest.Binding](t, 200)(c.GetBinding(ctx, brokertest.GetBindingRequest{InstanceID: "i", BindingID: id})).Value.Credentials
		if creds[id]["password"] == nil || creds[id]["username"] == nil {
			t.Errorf("binding %s has credentials %v", id, creds[id])
		}
	}
	if cmp.Equal(creds["b1"], creds["b2"]) {
		t.Errorf("two bindings share their credentials")
	}
	again := status[brokertest.BindResponse](t, 200)(c.Bind(ctx, bind("b1"))).Value
	if !cmp.Equal(again.Credentials, creds["b1"]) {
		t.Errorf("a repeated bind answered other credentials")
	}
	other := bind("b1")
	other.Parameters = broker.Parameters{"role": "admin"}
	status[brokertest.BindResponse](t, 409)(c.Bind(ctx, other))
	bad := bind("b3")
	bad.PlanID = largePlanID
	status[brokertest.BindResponse](t, 400)(c.Bind(ctx, bad))

	// An unbind during a bind cancels it.
	createOp := status[brokertest.BindResponse](t, 202)(c.Bind(ctx, bind("b3"))).Value.Operation
	unbind := brokertest.UnbindRequest{InstanceID: "i", BindingID: "b3", ServiceID: dbServiceID, PlanID: smallPlanID, AcceptsIncomplete: true}
	delOp := status[brokertest.OperationResponse](t, 202)(c.Unbind(ctx, unbind)).Value.Operation
	if got := status[brokertest.OperationResponse](t, 202)(c.Unbind(ctx, unbind)).Value.Operation; got != delOp {
		t.Errorf("repeated unbind: operation %q; want %q", got, delOp)
	}
	lo := status[brokertest.LastOperation](t, 200)(c.BindingLastOperation(ctx, brokertest.BindingLastOperationRequest{InstanceID: "i", BindingID: "b3", Operation: createOp})).Value
	if lo.State != broker.Failed {
		t.Errorf("the canceled bind: %+v; want failed", lo)
	}
	if lo, err := c.PollBindingLastOperation(ctx, "i", "b3", delOp, fast); err != nil || lo.State != broker.Succeeded {
		t.Errorf("the unbind: %+v, %v", lo, err)
	}
	status[brokertest.OperationResponse](t, 410)(c.Unbind(ctx, unbind))
	status[brokertest.LastOperation](t, 404)(c.BindingLastOperation(ctx, brokertest.BindingLastOperationRequest{InstanceID: "i", BindingID: "never"}))

	// A deprovision takes the remaining bindings with it.
	op := status[brokertest.OperationResponse](t, 202)(c.Deprovision(ctx, deprovisionReq("i"))).Value.Operation
	lastOp(t, c, "i", op)
	status[brokertest.OperationResponse](t, 410)(c.Unbind(ctx, brokertest.UnbindRequest{InstanceID: "i", BindingID: "b1",
		ServiceID: dbServiceID, PlanID: smallPlanID, AcceptsIncomplete: true}))
}

func TestMemoryUpdateRules(t *testing.T) {
	t.Parallel()
	c, _ := memoryBroker(t, brokertest.MemoryOptions{})
	ctx := t.Context()
	status[brokertest.ProvisionResponse](t, 201)(c.Provision(ctx, provisionReq("db", nil)))
	queue := brokertest.ProvisionRequest{InstanceID: "q", ServiceID: queueServiceID, PlanID: basicPlanID, OrganizationGUID: "o", SpaceGUID: "s"}
	status[brokertest.ProvisionResponse](t, 201)(c.Provision(ctx, queue))

	tests := []struct {
		name   string
		req    brokertest.UpdateRequest
		status int
		code   string
	}{
		{"plan not plan_updateable, without previous_values",
			brokertest.UpdateRequest{InstanceID: "q", ServiceID: queueServiceID, PlanID: premiumPlanID}, 422, ""},
		{"maintenance_info of the current plan, without previous_values",
			brokertest.UpdateRequest{InstanceID: "db", ServiceID: dbServiceID, MaintenanceInfo: &brokertest.MaintenanceInfo{Version: "2.0.0"}}, 422, broker.CodeMaintenanceInfoConflict},
		{"another service",
			brokertest.UpdateRequest{InstanceID: "db", ServiceID: queueServiceID}, 400, ""},
		{"unknown instance",
			brokertest.UpdateRequest{InstanceID: "nope", ServiceID: dbServiceID}, 404, ""},
		{"context only",
			brokertest.UpdateRequest{InstanceID: "db", ServiceID: dbServiceID, Context: map[string]any{"platform": "x"}}, 200, ""},
		{"plan change",
			brokertest.UpdateRequest{InstanceID: "db", ServiceID: dbServiceID, PlanID: largePlanID}, 200, ""},
	}
	for _, tt := range tests {
		resp, err := c.Update(ctx, tt.req)
		if err != nil || resp.StatusCode != tt.status || tt.code != "" && (resp.Error == nil || resp.Error.Code != tt.code) {
			t.Errorf("%s: %v %v; want %d %s", tt.name, err, resp.Err(), tt.status, tt.code)
		}
	}
	inst := status[brokertest.Instance](t, 200)(c.GetInstance(ctx, brokertest.GetInstanceRequest{InstanceID: "db"})).Value
	if inst.PlanID != largePlanID || inst.MaintenanceInfo == nil || inst.MaintenanceInfo.Version != "1.0.0" {
		t.Errorf("after the plan change: %+v", inst)
	}
}
