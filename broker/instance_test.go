package broker_test

// Tests for the instance endpoints: provision (CHECKLIST.md §P), fetch
// (§FI), update (§U), deprovision (§D), last operation (§LI) and the
// idempotency matrix (§I), expressed as what the handler answers for each
// backend answer. Each test or case names the checklist item it covers.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

const (
	instLastOpPath = instancePath + "/last_operation"
	internalDesc   = "Internal error; the broker's log has the details."
)

func provisionCall(t testing.TB, body map[string]any, query string) call {
	c := call{method: "PUT", path: instancePath, body: jsonBody(t, body)}
	if query != "" {
		c.path = withQuery(c.path, query)
	}
	return c
}

func patchCall(t testing.TB, body map[string]any, query string) call {
	c := call{method: "PATCH", path: instancePath, body: jsonBody(t, body)}
	if query != "" {
		c.path = withQuery(c.path, query)
	}
	return c
}

// provisioning returns a backend whose Provision answers resp, err.
func provisioning(resp broker.ProvisionResponse, err error) *fakeBackend {
	return &fakeBackend{provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
		return resp, err
	}}
}

func updating(resp broker.UpdateResponse, err error) *fakeBackend {
	return &fakeBackend{update: func(context.Context, *broker.UpdateRequest) (broker.UpdateResponse, error) {
		return resp, err
	}}
}

func deprovisioning(resp broker.DeprovisionResponse, err error) *fakeBackend {
	return &fakeBackend{deprovision: func(context.Context, *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
		return resp, err
	}}
}

func polling(lo broker.LastOperation, err error) *fakeBackend {
	return &fakeBackend{lastOperation: func(context.Context, *broker.LastOperationRequest) (broker.LastOperation, error) {
		return lo, err
	}}
}

func fetching(inst broker.Instance, err error) *fakeBackend {
	return &fakeBackend{getInstance: func(context.Context, *broker.GetInstanceRequest) (broker.Instance, error) {
		return inst, err
	}}
}

// ---------------------------------------------------------------- P

func TestP1_BadRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		body     string // raw; "" sends no body
		query    string
		mentions []string // in the description
		reason   string
	}{
		{id: "P1", name: "malformed JSON", body: `{"service_id":`, mentions: []string{"JSON"}, reason: "malformed JSON is a 400"},
		{id: "P1", name: "trailing garbage", body: jsonBody(t, provisionBody(nil)) + "x", mentions: []string{"JSON"}, reason: "one JSON value, nothing after it"},
		{id: "P1", name: "JSON array", body: `[]`, mentions: []string{"object"}, reason: "the body must be an object"},
		{id: "P1", name: "JSON string", body: `"x"`, mentions: []string{"object"}, reason: "the body must be an object"},
		{id: "P1", name: "JSON null", body: `null`, mentions: []string{"service_id"}, reason: "null has none of the required fields"},
		{id: "P1", name: "no body", body: "", mentions: []string{"JSON"}, reason: "a provision needs a body"},
		{id: "P1", name: "service_id missing", body: jsonBody(t, provisionBody(map[string]any{"service_id": nil})), mentions: []string{"service_id"}, reason: "service_id is required"},
		{id: "P1", name: "plan_id missing", body: jsonBody(t, provisionBody(map[string]any{"plan_id": nil})), mentions: []string{"plan_id"}, reason: "plan_id is required"},
		{id: "P1", name: "organization_guid missing", body: jsonBody(t, provisionBody(map[string]any{"organization_guid": nil})), mentions: []string{"organization_guid"}, reason: "organization_guid is required though deprecated"},
		{id: "P1", name: "space_guid missing", body: jsonBody(t, provisionBody(map[string]any{"space_guid": nil})), mentions: []string{"space_guid"}, reason: "space_guid is required though deprecated"},
		{id: "P1", name: "service_id empty", body: jsonBody(t, provisionBody(map[string]any{"service_id": ""})), mentions: []string{"service_id"}, reason: "an empty required field is missing"},
		{id: "P1", name: "plan_id empty", body: jsonBody(t, provisionBody(map[string]any{"plan_id": ""})), mentions: []string{"plan_id"}, reason: "an empty required field is missing"},
		{id: "P1", name: "organization_guid empty", body: jsonBody(t, provisionBody(map[string]any{"organization_guid": ""})), mentions: []string{"organization_guid"}, reason: "an empty required field is missing"},
		{id: "P1", name: "space_guid empty", body: jsonBody(t, provisionBody(map[string]any{"space_guid": ""})), mentions: []string{"space_guid"}, reason: "an empty required field is missing"},
		{id: "P1", name: "service_id null", body: jsonBody(t, provisionBody(map[string]any{"service_id": json.RawMessage("null")})), mentions: []string{"service_id"}, reason: "null is missing"},
		{id: "P1", name: "service_id number", body: jsonBody(t, provisionBody(map[string]any{"service_id": 42})), mentions: []string{"service_id", "string"}, reason: "a wrong type names the field"},
		{id: "P1", name: "plan_id object", body: jsonBody(t, provisionBody(map[string]any{"plan_id": map[string]any{}})), mentions: []string{"plan_id"}, reason: "a wrong type names the field"},
		{id: "P1", name: "space_guid bool", body: jsonBody(t, provisionBody(map[string]any{"space_guid": true})), mentions: []string{"space_guid"}, reason: "a wrong type names the field"},
		{id: "P1", name: "unknown service_id", body: jsonBody(t, provisionBody(map[string]any{"service_id": "no-such-service"})), mentions: []string{"service_id"}, reason: "a service_id not in the catalog"},
		{id: "P1", name: "unknown plan_id", body: jsonBody(t, provisionBody(map[string]any{"plan_id": "no-such-plan"})), mentions: []string{"plan_id"}, reason: "a plan_id not in the catalog"},
		{id: "P1", name: "plan of another service", body: jsonBody(t, provisionBody(map[string]any{"plan_id": planPlain})), mentions: []string{"plan_id"}, reason: "a plan_id not in that offering"},
		{id: "P1", name: "parameters fail pattern", body: jsonBody(t, provisionBody(map[string]any{"parameters": map[string]any{"name": "ABC"}})),
			mentions: []string{"/name", "service_instance.create"}, reason: "parameters failing the create schema, naming the field"},
		{id: "P1", name: "parameters miss required", body: jsonBody(t, provisionBody(map[string]any{"parameters": map[string]any{"size": 2}})),
			mentions: []string{"/name"}, reason: "a missing required parameter is named"},
		{id: "P1", name: "parameters wrong type", body: jsonBody(t, provisionBody(map[string]any{"parameters": map[string]any{"name": "abc", "size": "big"}})),
			mentions: []string{"/size"}, reason: "a parameter of the wrong type is named"},
		{id: "P1", name: "parameters below minimum", body: jsonBody(t, provisionBody(map[string]any{"parameters": map[string]any{"name": "abc", "size": 0}})),
			mentions: []string{"/size"}, reason: "a parameter out of range is named"},
		{id: "P1", name: "parameters empty object", body: jsonBody(t, provisionBody(map[string]any{"parameters": map[string]any{}})),
			mentions: []string{"/name"}, reason: "present parameters are checked, required included"},
		{id: "P1", name: "parameters string", body: jsonBody(t, provisionBody(map[string]any{"parameters": "name=abc"})),
			mentions: []string{"object"}, reason: "parameters must be an object"},
		{id: "P1", name: "parameters array, no schema", body: jsonBody(t, provisionBody(map[string]any{"service_id": svcPlain, "plan_id": planPlain, "parameters": []any{1}})),
			mentions: []string{"parameters"}, reason: "parameters must be an object even when the plan has no schema"},
		{id: "P1", name: "parameters number, no schema", body: jsonBody(t, provisionBody(map[string]any{"service_id": svcPlain, "plan_id": planPlain, "parameters": 5})),
			mentions: []string{"parameters"}, reason: "parameters must be an object even when the plan has no schema"},
		{id: "P1", name: "context string", body: jsonBody(t, provisionBody(map[string]any{"context": "kubernetes"})),
			mentions: []string{"context"}, reason: "context must be an object"},
		{id: "P1", name: "context array", body: jsonBody(t, provisionBody(map[string]any{"context": []any{}})),
			mentions: []string{"context"}, reason: "context must be an object"},
		{id: "P1", name: "maintenance_info string", body: jsonBody(t, provisionBody(map[string]any{"maintenance_info": "1.0.0"})),
			mentions: []string{"maintenance_info"}, reason: "maintenance_info must be an object"},
		{id: "P1", name: "accepts_incomplete maybe", body: jsonBody(t, provisionBody(nil)), query: "accepts_incomplete=maybe",
			mentions: []string{"accepts_incomplete"}, reason: "a query value that is not a boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			c := call{method: "PUT", path: instancePath, body: tc.body}
			if tc.query != "" {
				c.path = withQuery(c.path, tc.query)
			}
			res := do(t, newHandler(t, f), c)
			checkRejected(t, res, http.StatusBadRequest, "", tc.mentions...)
			checkNotCalled(t, f, "Provision")
		})
	}
}

// P1: descriptions name fields but never quote parameter values, which may
// be secrets.
func TestP1_DescriptionHidesParameterValues(t *testing.T) {
	t.Parallel()
	res := do(t, newHandler(t, &fakeBackend{}), provisionCall(t, provisionBody(map[string]any{
		"parameters": map[string]any{"name": "abc", "password": "short!"}}), ""))
	checkRejected(t, res, 400, "", "/password")
	if strings.Contains(string(res.body), "short!") {
		t.Errorf("body %s quotes a parameter value", res.body)
	}
}

func TestP2_P3_P9_P10_Answers(t *testing.T) {
	t.Parallel()
	md := &broker.InstanceMetadata{Labels: map[string]any{"team": "data"}, Attributes: map[string]any{"region": "eu-west-1", "size": 3}}
	mdJSON := map[string]any{"labels": map[string]any{"team": "data"}, "attributes": map[string]any{"region": "eu-west-1", "size": float64(3)}}
	tests := []struct {
		id, name string
		query    string
		resp     broker.ProvisionResponse
		want     reply
		reason   string
	}{
		{id: "P2", name: "created", resp: broker.ProvisionResponse{Outcome: broker.Done},
			want: reply{201, map[string]any{}}, reason: "a synchronous provision is 201 with at least {}"},
		{id: "P2", name: "created with dashboard and metadata", resp: broker.ProvisionResponse{Outcome: broker.Done, DashboardURL: "https://dash/inst-1", Metadata: md},
			want: reply{201, map[string]any{"dashboard_url": "https://dash/inst-1", "metadata": mdJSON}}, reason: "201 carries dashboard_url and metadata"},
		{id: "P2", name: "created drops operation", resp: broker.ProvisionResponse{Outcome: broker.Done, Operation: "op-x"},
			want: reply{201, map[string]any{}}, reason: "an operation belongs to a 202 only"},
		{id: "P2", name: "created though async allowed", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Done},
			want: reply{201, map[string]any{}}, reason: "a broker that finishes synchronously may ignore accepts_incomplete=true"},
		{id: "P3", name: "accepted", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1"},
			want: reply{202, map[string]any{"operation": "op-1"}}, reason: "an asynchronous provision is 202 with the operation"},
		{id: "P3", name: "accepted without operation", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted},
			want: reply{202, map[string]any{}}, reason: "the operation is optional"},
		{id: "P9", name: "dashboard in 202", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1", DashboardURL: "https://dash/inst-1"},
			want: reply{202, map[string]any{"operation": "op-1", "dashboard_url": "https://dash/inst-1"}}, reason: "dashboard_url comes in the initial response, even an async one"},
		{id: "P10", name: "metadata in 202", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1", Metadata: md},
			want: reply{202, map[string]any{"operation": "op-1", "metadata": mdJSON}}, reason: "metadata labels and attributes are passed through"},
		{id: "P10", name: "empty metadata", resp: broker.ProvisionResponse{Outcome: broker.Done, Metadata: &broker.InstanceMetadata{}},
			want: reply{201, map[string]any{"metadata": map[string]any{}}}, reason: "empty metadata is an object"},
		{id: "P10", name: "operation of 10000", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: strings.Repeat("a", 10000)},
			want: reply{202, map[string]any{"operation": strings.Repeat("a", 10000)}}, reason: "operation is at most 10,000 characters"},
		{id: "P10", name: "operation of 10001", query: "accepts_incomplete=true", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: strings.Repeat("a", 10001)},
			want: errReply(500, "", internalDesc), reason: "a longer operation would be a malformed 202"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, provisioning(tc.resp, nil)), provisionCall(t, provisionBody(nil), tc.query))
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%.3000s", tc.reason, diff)
			}
		})
	}
}

func TestP4_ExistedSameBodyAs201(t *testing.T) {
	t.Parallel()
	for _, query := range []string{"", "accepts_incomplete=true"} {
		t.Run("P4/"+query, func(t *testing.T) {
			t.Parallel()
			answer := func(o broker.Outcome) broker.ProvisionResponse {
				return broker.ProvisionResponse{Outcome: o, DashboardURL: "https://dash/inst-1", Operation: "op-ignored",
					Metadata: &broker.InstanceMetadata{Labels: map[string]any{"k": "v"}}}
			}
			created := do(t, newHandler(t, provisioning(answer(broker.Done), nil)), provisionCall(t, provisionBody(nil), query))
			existed := do(t, newHandler(t, provisioning(answer(broker.Existed), nil)), provisionCall(t, provisionBody(nil), query))
			if created.status != 201 || existed.status != 200 {
				t.Fatalf("statuses %d and %d, want 201 for Done and 200 for Existed (also with accepts_incomplete=true)", created.status, existed.status)
			}
			if diff := cmp.Diff(created.json, existed.json); diff != "" {
				t.Errorf("200 body differs from the 201 body (-201 +200):\n%s", diff)
			}
		})
	}
}

func TestP5_OperationPassesThrough(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"op-1", "provision~stack_2024-01-01T00.00.00", "arn%3Aaws%3Acloudformation", "with space/and?query=1&x", "ünïcödé"} {
		t.Run("P5/"+op, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, provisioning(broker.ProvisionResponse{Outcome: broker.Accepted, Operation: op}, nil))
			for i := range 2 { // a repeated PUT gets the same operation
				res := do(t, h, provisionCall(t, provisionBody(nil), "accepts_incomplete=true"))
				if diff := cmp.Diff(reply{202, map[string]any{"operation": op}}, replyOf(res)); diff != "" {
					t.Errorf("request %d (-want +got):\n%s", i+1, diff)
				}
			}
		})
	}
}

func TestP6_Conflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		err      error
		reason   string
	}{
		{"P6", "sentinel", broker.ErrInstanceConflict, "ErrInstanceConflict is 409"},
		{"P6", "wrapped", fmt.Errorf("stack exists with other parameters: %w", broker.ErrInstanceConflict), "also wrapped"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, provisioning(broker.ProvisionResponse{}, tc.err)), provisionCall(t, provisionBody(nil), "accepts_incomplete=true"))
			if diff := cmp.Diff(sentinelReply(broker.ErrInstanceConflict), replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestP7_AsyncRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name     string
		requireAsync broker.Action
		query        string
		backendErr   error
		wantStatus   int
		wantCalled   bool
		reason       string
	}{
		{"P7", "absent", broker.ActionProvision, "", nil, 422, false, "an async-only provision without accepts_incomplete"},
		{"P7", "false", broker.ActionProvision, "accepts_incomplete=false", nil, 422, false, "accepts_incomplete=false is not true"},
		{"P7", "true", broker.ActionProvision, "accepts_incomplete=true", nil, 201, true, "accepts_incomplete=true reaches the backend"},
		{"P7", "other action", broker.ActionUpdate | broker.ActionDeprovision, "", nil, 201, true, "RequireAsync of other actions does not affect a provision"},
		{"P7", "from backend", 0, "", broker.ErrAsyncRequired, 422, true, "a backend may decide per plan and return ErrAsyncRequired"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := provisioning(broker.ProvisionResponse{Outcome: broker.Done}, tc.backendErr)
			h := newHandler(t, f, func(o *broker.Options) { o.RequireAsync = tc.requireAsync })
			res := do(t, h, provisionCall(t, provisionBody(nil), tc.query))
			if tc.wantStatus == 422 {
				checkReply(t, sentinelReply(broker.ErrAsyncRequired), res)
			} else if res.status != tc.wantStatus {
				t.Errorf("status %d, want %d: %s", res.status, tc.wantStatus, tc.reason)
			}
			if got := f.called("Provision") == 1; got != tc.wantCalled {
				t.Errorf("backend called = %v, want %v: %s", got, tc.wantCalled, tc.reason)
			}
		})
	}
}

func TestP8_MaintenanceInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		override map[string]any
		want     int
		wantMI   *catalog.MaintenanceInfo // as seen by the backend
		reason   string
	}{
		{"P8", "other version", map[string]any{"maintenance_info": map[string]any{"version": "9.9.9"}}, 422, nil,
			"a version other than the plan's is MaintenanceInfoConflict"},
		{"P8", "older version", map[string]any{"maintenance_info": map[string]any{"version": "0.9.0"}}, 422, nil,
			"any other version conflicts"},
		{"P8", "plan without maintenance_info", map[string]any{"service_id": svcPlain, "plan_id": planPlain,
			"parameters": nil, "maintenance_info": map[string]any{"version": "1.0.0"}}, 422, nil,
			"a version for a plan that has none conflicts"},
		{"P8", "empty object", map[string]any{"maintenance_info": map[string]any{}}, 201, nil, `"maintenance_info":{} means no check`},
		{"P8", "empty version", map[string]any{"maintenance_info": map[string]any{"version": ""}}, 201, nil, "an empty version means no check"},
		{"P8", "null", map[string]any{"maintenance_info": json.RawMessage("null")}, 201, nil, "null means no check"},
		{"P8", "absent", nil, 201, nil, "absent means no check"},
		{"P8", "matching", map[string]any{"maintenance_info": map[string]any{"version": "1.0.0"}}, 201, &catalog.MaintenanceInfo{Version: "1.0.0"},
			"the plan's version passes and reaches the backend"},
		{"P8", "matching with description", map[string]any{"maintenance_info": map[string]any{"version": "1.0.0", "description": "d"}}, 201,
			&catalog.MaintenanceInfo{Version: "1.0.0"}, "only .version counts"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), provisionCall(t, provisionBody(tc.override), ""))
			if tc.want == 422 {
				checkReply(t, sentinelReply(broker.ErrMaintenanceInfoConflict), res)
				checkNotCalled(t, f, "Provision")
				return
			}
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			got := backendGot[*broker.ProvisionRequest](t, f, "Provision").MaintenanceInfo
			if diff := cmp.Diff(tc.wantMI, got); diff != "" {
				t.Errorf("%s: MaintenanceInfo (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestP11_InvalidOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		outcome  broker.Outcome
		reason   string
	}{
		{"P11", "zero", 0, "a forgotten Outcome is a 500, never a plausible 2xx"},
		{"P11", "out of range", broker.Outcome(99), "an Outcome that is none of the three is a 500"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, provisioning(broker.ProvisionResponse{Outcome: tc.outcome, DashboardURL: "https://d"}, nil)),
				provisionCall(t, provisionBody(nil), "accepts_incomplete=true"))
			if diff := cmp.Diff(errReply(500, "", internalDesc), replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

// provisionSeen is what a test checks of a ProvisionRequest.
type provisionSeen struct {
	InstanceID, ServiceID, PlanID string
	OrganizationGUID, SpaceGUID   string
	Context                       broker.Context
	Parameters                    broker.Parameters
	MaintenanceInfo               *catalog.MaintenanceInfo
	AcceptsIncomplete             bool
}

func seeProvision(r *broker.ProvisionRequest) provisionSeen {
	s := provisionSeen{InstanceID: r.InstanceID, OrganizationGUID: r.OrganizationGUID, SpaceGUID: r.SpaceGUID,
		Context: r.Context, Parameters: r.Parameters, MaintenanceInfo: r.MaintenanceInfo, AcceptsIncomplete: r.AcceptsIncomplete}
	if r.Service != nil {
		s.ServiceID = r.Service.ID
	}
	if r.Plan != nil {
		s.PlanID = r.Plan.ID
	}
	return s
}

func TestP12_RequestReachesBackend(t *testing.T) {
	t.Parallel()
	cfContext := map[string]any{"platform": "cloudfoundry", "organization_guid": "org", "organization_name": "acme",
		"space_guid": "space", "space_name": "dev", "instance_name": "my-queue", "n": 7}
	tests := []struct {
		id, name string
		body     map[string]any
		query    string
		want     provisionSeen
		reason   string
	}{
		{id: "P12", name: "context and org/space",
			body: provisionBody(map[string]any{"context": cfContext, "organization_guid": "org-guid", "space_guid": "space-guid"}),
			want: provisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall, OrganizationGUID: "org-guid", SpaceGUID: "space-guid",
				Context: broker.Context{"platform": "cloudfoundry", "organization_guid": "org", "organization_name": "acme",
					"space_guid": "space", "space_name": "dev", "instance_name": "my-queue", "n": json.Number("7")},
				Parameters: broker.Parameters{"name": "abc"}},
			reason: "the context, whatever it holds, and the deprecated GUIDs reach the backend"},
		{id: "P12", name: "no context",
			body:   provisionBody(map[string]any{"context": nil, "parameters": nil, "plan_id": planLarge}),
			query:  "accepts_incomplete=true",
			want:   provisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planLarge, OrganizationGUID: "org", SpaceGUID: "space", AcceptsIncomplete: true},
			reason: "context is never required; absent parameters are nil (planLarge has no schema)"},
		{id: "P12", name: "exact numbers",
			body: provisionBody(map[string]any{"parameters": json.RawMessage(`{"name":"abc","size":1209600}`)}),
			want: provisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall, OrganizationGUID: "org", SpaceGUID: "space",
				Context: broker.Context{"platform": "kubernetes", "namespace": "ns"}, Parameters: broker.Parameters{"name": "abc", "size": json.Number("1209600")}},
			reason: "numbers arrive as json.Number with their exact text"},
		{id: "P12", name: "huge numbers, no schema",
			body: provisionBody(map[string]any{"service_id": svcPlain, "plan_id": planPlain, "context": nil,
				"parameters": json.RawMessage(`{"big":12345678901234567890123,"frac":0.1000000000000000055511151231257827}`)}),
			want: provisionSeen{InstanceID: instanceID, ServiceID: svcPlain, PlanID: planPlain, OrganizationGUID: "org", SpaceGUID: "space",
				Parameters: broker.Parameters{"big": json.Number("12345678901234567890123"), "frac": json.Number("0.1000000000000000055511151231257827")}},
			reason: "no float64 rounding"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), provisionCall(t, tc.body, tc.query))
			if res.status != 201 {
				t.Fatalf("status %d, want 201; body %s", res.status, res.body)
			}
			got := seeProvision(backendGot[*broker.ProvisionRequest](t, f, "Provision"))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

// --------------------------------------------------------------- FI

func TestFI_FetchInstance(t *testing.T) {
	t.Parallel()
	full := broker.Instance{ServiceID: svcBindable, PlanID: planSmall, DashboardURL: "https://dash/inst-1",
		Parameters:      broker.Parameters{"name": "abc", "size": json.Number("3")},
		MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"},
		Metadata:        &broker.InstanceMetadata{Labels: map[string]any{"team": "data"}, Attributes: map[string]any{"arn": "x"}}}
	tests := []struct {
		id, name   string
		query      string
		inst       broker.Instance
		err        error
		want       reply
		wantCalled bool
		reason     string
	}{
		{id: "FI1", name: "hint of a service not retrievable", query: "service_id=" + svcPlain + "&plan_id=" + planPlain,
			want: sentinelReply(broker.ErrInstanceNotFound), reason: "404 for an offering without instances_retrievable, without calling the backend"},
		{id: "FI1", name: "instance of a service not retrievable", inst: broker.Instance{ServiceID: svcPlain, PlanID: planPlain},
			want: sentinelReply(broker.ErrInstanceNotFound), wantCalled: true, reason: "404 when the instance turns out to be of such an offering"},
		{id: "FI2", name: "body", query: "service_id=" + svcBindable + "&plan_id=" + planSmall, inst: full, wantCalled: true,
			want: reply{200, map[string]any{"service_id": svcBindable, "plan_id": planSmall, "dashboard_url": "https://dash/inst-1",
				"parameters": map[string]any{"name": "abc", "size": float64(3)}, "maintenance_info": map[string]any{"version": "1.0.0"},
				"metadata": map[string]any{"labels": map[string]any{"team": "data"}, "attributes": map[string]any{"arn": "x"}}}},
			reason: "every field of the fetched instance"},
		{id: "FI2", name: "minimal body", inst: broker.Instance{ServiceID: svcBindable, PlanID: planLarge}, wantCalled: true,
			want: reply{200, map[string]any{"service_id": svcBindable, "plan_id": planLarge}}, reason: "optional fields are left out"},
		{id: "FI2", name: "no plan_id from backend", inst: broker.Instance{ServiceID: svcBindable}, wantCalled: true,
			want: errReply(500, "", internalDesc), reason: "service_id and plan_id are required in the body"},
		{id: "FI3", name: "not found", err: broker.ErrInstanceNotFound, wantCalled: true,
			want: sentinelReply(broker.ErrInstanceNotFound), reason: "404 for an unknown or still provisioning instance"},
		{id: "FI3", name: "gone", err: broker.ErrGone, wantCalled: true,
			want: errReply(404, "", broker.ErrGone.Description), reason: "a deleted instance is not found: never 410 on a fetch"},
		{id: "FI4", name: "concurrency", err: fmt.Errorf("updating: %w", broker.ErrConcurrency), wantCalled: true,
			want: sentinelReply(broker.ErrConcurrency), reason: "422 ConcurrencyError while the instance is being updated"},
		{id: "FI5", name: "no hints", inst: broker.Instance{ServiceID: svcBindable, PlanID: planSmall}, wantCalled: true,
			want: reply{200, map[string]any{"service_id": svcBindable, "plan_id": planSmall}}, reason: "service_id and plan_id are never required"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := fetching(tc.inst, tc.err)
			c := call{method: "GET", path: instancePath}
			if tc.query != "" {
				c.path = withQuery(c.path, tc.query)
			}
			res := do(t, newHandler(t, f), c)
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
			if got := f.called("GetInstance") == 1; got != tc.wantCalled {
				t.Errorf("backend called = %v, want %v", got, tc.wantCalled)
			}
		})
	}
}

func TestFI5_HintsReachBackend(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	do(t, newHandler(t, f), call{method: "GET", path: instancePath + "?service_id=" + svcBindable + "&plan_id=" + planSmall})
	got := backendGot[*broker.GetInstanceRequest](t, f, "GetInstance")
	if diff := cmp.Diff([]string{instanceID, svcBindable, planSmall}, []string{got.InstanceID, got.ServiceID, got.PlanID}); diff != "" {
		t.Errorf("GetInstanceRequest IDs (-want +got):\n%s", diff)
	}
}

// ---------------------------------------------------------------- U

func TestU1_BadRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		body     string
		mentions []string
		reason   string
	}{
		{id: "U1", name: "malformed JSON", body: `{"service_id"`, mentions: []string{"JSON"}, reason: "malformed JSON"},
		{id: "U1", name: "JSON array", body: `[{"service_id":"x"}]`, mentions: []string{"object"}, reason: "the body must be an object"},
		{id: "U1", name: "service_id missing", body: `{"plan_id":"` + planSmall + `"}`, mentions: []string{"service_id"}, reason: "service_id is required"},
		{id: "U1", name: "service_id empty", body: `{"service_id":""}`, mentions: []string{"service_id"}, reason: "an empty service_id is missing"},
		{id: "U1", name: "service_id number", body: `{"service_id":1}`, mentions: []string{"service_id"}, reason: "a wrong type names the field"},
		{id: "U1", name: "unknown service_id", body: `{"service_id":"no-such-service"}`, mentions: []string{"service_id"}, reason: "an unknown service_id"},
		{id: "U1", name: "unknown plan_id", body: `{"service_id":"` + svcBindable + `","plan_id":"no-such-plan"}`, mentions: []string{"plan_id"}, reason: "an unknown plan_id"},
		{id: "U1", name: "empty plan_id", body: `{"service_id":"` + svcBindable + `","plan_id":""}`, mentions: []string{"plan_id"}, reason: "a present plan_id must not be empty"},
		{id: "U1", name: "plan of another service", body: `{"service_id":"` + svcBindable + `","plan_id":"` + planPlain + `"}`, mentions: []string{"plan_id"}, reason: "a mismatched service_id and plan_id"},
		{id: "U1", name: "parameters fail update schema, new plan", body: `{"service_id":"` + svcBindable + `","plan_id":"` + planSmall + `","parameters":{"size":0}}`,
			mentions: []string{"/size", "service_instance.update"}, reason: "parameters are checked against the target plan's update schema"},
		{id: "U1", name: "parameters fail update schema, current plan", body: `{"service_id":"` + svcBindable + `","parameters":{"size":"big"},"previous_values":{"plan_id":"` + planSmall + `"}}`,
			mentions: []string{"/size", "service_instance.update"}, reason: "without plan_id, the current plan's update schema applies"},
		{id: "U1", name: "parameters not an object", body: `{"service_id":"` + svcBindable + `","plan_id":"` + planSmall + `","parameters":[1]}`,
			mentions: []string{"object"}, reason: "parameters must be an object"},
		{id: "U1", name: "parameters not an object, plan unknown", body: `{"service_id":"` + svcBindable + `","parameters":"x"}`,
			mentions: []string{"parameters"}, reason: "parameters must be an object even when no schema applies"},
		{id: "U1", name: "context not an object", body: `{"service_id":"` + svcBindable + `","context":"x"}`,
			mentions: []string{"context"}, reason: "context must be an object"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), call{method: "PATCH", path: instancePath, body: tc.body})
			checkRejected(t, res, 400, "", tc.mentions...)
			checkNotCalled(t, f, "Update") // U9: nothing is applied
		})
	}
}

func TestU1_UpdateSchemaNotCreateSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		body     map[string]any
		want     broker.Parameters
		reason   string
	}{
		{"U1", "without create's required name", map[string]any{"service_id": svcBindable, "plan_id": planSmall, "parameters": map[string]any{"size": 2}},
			broker.Parameters{"size": json.Number("2")}, "the create schema's required name does not apply to an update"},
		{"U1", "name create's pattern refuses", map[string]any{"service_id": svcBindable, "plan_id": planSmall, "parameters": map[string]any{"name": "NOT lower case"}},
			broker.Parameters{"name": "NOT lower case"}, "the create schema's pattern does not apply to an update"},
		{"U1", "current plan", map[string]any{"service_id": svcBindable, "parameters": map[string]any{"size": 5},
			"previous_values": map[string]any{"plan_id": planSmall}},
			broker.Parameters{"size": json.Number("5")}, "the current plan's update schema, not its create schema"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), patchCall(t, tc.body, ""))
			if res.status != 200 {
				t.Fatalf("status %d, want 200: %s; body %s", res.status, tc.reason, res.body)
			}
			if diff := cmp.Diff(tc.want, backendGot[*broker.UpdateRequest](t, f, "Update").Parameters); diff != "" {
				t.Errorf("Parameters (-want +got):\n%s", diff)
			}
		})
	}
}

// updateSeen is what a test checks of an UpdateRequest.
type updateSeen struct {
	InstanceID, ServiceID string
	// PlanID is the target plan's ID, or "<nil>" when Plan is nil.
	PlanID          string
	Parameters      broker.Parameters
	Context         broker.Context
	MaintenanceInfo *catalog.MaintenanceInfo
	PreviousValues  broker.PreviousValues
}

func seeUpdate(r *broker.UpdateRequest) updateSeen {
	s := updateSeen{InstanceID: r.InstanceID, PlanID: "<nil>", Parameters: r.Parameters, Context: r.Context,
		MaintenanceInfo: r.MaintenanceInfo, PreviousValues: r.PreviousValues}
	if r.Service != nil {
		s.ServiceID = r.Service.ID
	}
	if r.Plan != nil {
		s.PlanID = r.Plan.ID
	}
	return s
}

func TestU2_AbsentMeansUnchanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		body     map[string]any
		want     updateSeen
		reason   string
	}{
		{id: "U2", name: "nothing but service_id", body: map[string]any{"service_id": svcBindable},
			want:   updateSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: "<nil>"},
			reason: "plan_id absent gives a nil Plan; parameters absent give nil"},
		{id: "U2", name: "null plan_id and parameters", body: map[string]any{"service_id": svcBindable, "plan_id": nil, "parameters": nil},
			want:   updateSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: "<nil>"},
			reason: "null is absent"},
		{id: "U2", name: "partial parameters", body: map[string]any{"service_id": svcBindable, "plan_id": planSmall, "parameters": map[string]any{"size": 9}},
			want:   updateSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall, Parameters: broker.Parameters{"size": json.Number("9")}},
			reason: "present parameters are only what the user specified"},
		{id: "U11", name: "context only", body: map[string]any{"service_id": svcBindable, "context": map[string]any{"platform": "kubernetes", "instance_name": "renamed"}},
			want: updateSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: "<nil>",
				Context: broker.Context{"platform": "kubernetes", "instance_name": "renamed"}},
			reason: "a context-only PATCH reaches the backend"},
		{id: "U2", name: "previous values", body: map[string]any{"service_id": svcBindable, "plan_id": planSmall,
			"previous_values": map[string]any{"plan_id": planSmall, "service_id": svcBindable, "organization_id": "org", "space_id": "space",
				"maintenance_info": map[string]any{"version": "0.9.0"}}},
			want: updateSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall,
				PreviousValues: broker.PreviousValues{PlanID: planSmall, ServiceID: svcBindable, OrganizationID: "org", SpaceID: "space",
					MaintenanceInfo: &catalog.MaintenanceInfo{Version: "0.9.0"}}},
			reason: "previous_values are passed through"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), patchCall(t, tc.body, ""))
			if res.status != 200 {
				t.Fatalf("status %d, want 200; body %s", res.status, res.body)
			}
			if diff := cmp.Diff(tc.want, seeUpdate(backendGot[*broker.UpdateRequest](t, f, "Update"))); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestU3_PlanNotUpdateable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name   string
		from, to   string
		wantCalled bool
		reason     string
	}{
		{"U3", "from a plan that is not plan_updateable", planLarge, planSmall, false, "422 with update_repeatable false, without calling the backend"},
		{"U3", "from a plan_updateable plan", planSmall, planLarge, true, "the plan's own plan_updateable allows the change"},
		{"U3", "same plan", planLarge, planLarge, true, "not a plan change"},
		{"U3", "unknown previous plan", "removed-plan", planSmall, true, "the backend decides when the current plan is unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), patchCall(t, map[string]any{"service_id": svcBindable, "plan_id": tc.to,
				"previous_values": map[string]any{"plan_id": tc.from}}, "accepts_incomplete=true"))
			if tc.wantCalled {
				if res.status != 200 || f.called("Update") != 1 {
					t.Errorf("status %d, backend called %d times, want 200 and 1: %s", res.status, f.called("Update"), tc.reason)
				}
				return
			}
			checkRejected(t, res, 422, "", "plan_updateable")
			if got, ok := res.json["update_repeatable"].(bool); !ok || got {
				t.Errorf("update_repeatable = %v, want false: %s", res.json["update_repeatable"], tc.reason)
			}
			checkNotCalled(t, f, "Update")
		})
	}
}

func TestU5_AsyncRequired(t *testing.T) {
	t.Parallel()
	for _, q := range []string{"", "accepts_incomplete=false"} {
		t.Run("U5/"+q, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f, func(o *broker.Options) { o.RequireAsync = broker.ActionUpdate }),
				patchCall(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall}, q))
			checkReply(t, sentinelReply(broker.ErrAsyncRequired), res)
			checkNotCalled(t, f, "Update")
		})
	}
}

func TestU6_MaintenanceInfoOfTargetPlan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		body     map[string]any
		want     int
		wantMI   *catalog.MaintenanceInfo
		reason   string
	}{
		{"U6", "new plan, its version", map[string]any{"plan_id": planLarge, "maintenance_info": map[string]any{"version": "2.0.0"},
			"previous_values": map[string]any{"plan_id": planSmall}}, 200, &catalog.MaintenanceInfo{Version: "2.0.0"},
			"the target plan's version passes"},
		{"U6", "new plan, current plan's version", map[string]any{"plan_id": planLarge, "maintenance_info": map[string]any{"version": "1.0.0"},
			"previous_values": map[string]any{"plan_id": planSmall}}, 422, nil,
			"the version is checked against the new plan, not the current one"},
		{"U6", "current plan, its version", map[string]any{"maintenance_info": map[string]any{"version": "1.0.0"},
			"previous_values": map[string]any{"plan_id": planSmall, "maintenance_info": map[string]any{"version": "0.9.0"}}}, 200, &catalog.MaintenanceInfo{Version: "1.0.0"},
			"without plan_id the current plan is the target; a version differing from previous_values is an upgrade"},
		{"U6", "current plan, other version", map[string]any{"maintenance_info": map[string]any{"version": "2.0.0"},
			"previous_values": map[string]any{"plan_id": planSmall}}, 422, nil,
			"without plan_id the current plan's version is the one to match"},
		{"U6", "empty", map[string]any{"plan_id": planLarge, "maintenance_info": map[string]any{}}, 200, nil,
			"an empty maintenance_info means no check"},
		{"U6", "empty version", map[string]any{"plan_id": planLarge, "maintenance_info": map[string]any{"version": ""}}, 200, nil,
			"an empty version means no check"},
		{"U6", "plan unknown", map[string]any{"maintenance_info": map[string]any{"version": "7.0.0"}}, 200, &catalog.MaintenanceInfo{Version: "7.0.0"},
			"without any known plan the version goes to the backend unchecked"},
		{"U6", "plan without maintenance_info", map[string]any{"plan_id": planNoBind, "maintenance_info": map[string]any{"version": "1.0.0"}}, 422, nil,
			"a version for a plan that has none conflicts"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			tc.body["service_id"] = svcBindable
			res := do(t, newHandler(t, f), patchCall(t, tc.body, ""))
			if tc.want == 422 {
				checkReply(t, sentinelReply(broker.ErrMaintenanceInfoConflict), res)
				checkNotCalled(t, f, "Update")
				return
			}
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			if diff := cmp.Diff(tc.wantMI, backendGot[*broker.UpdateRequest](t, f, "Update").MaintenanceInfo); diff != "" {
				t.Errorf("%s: MaintenanceInfo (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestU7_U8_U12_Answers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		query    string
		resp     broker.UpdateResponse
		err      error
		want     reply
		reason   string
	}{
		{id: "U7", name: "done", resp: broker.UpdateResponse{Outcome: broker.Done},
			want: reply{200, map[string]any{}}, reason: "a synchronous update is 200 {}"},
		{id: "U7", name: "no effect", resp: broker.UpdateResponse{Outcome: broker.Existed},
			want: reply{200, map[string]any{}}, reason: "a request without effect is 200 too"},
		{id: "U7", name: "done with dashboard and metadata", resp: broker.UpdateResponse{Outcome: broker.Done, DashboardURL: "https://dash/2",
			Metadata: &broker.InstanceMetadata{Labels: map[string]any{"a": "b"}}},
			want:   reply{200, map[string]any{"dashboard_url": "https://dash/2", "metadata": map[string]any{"labels": map[string]any{"a": "b"}}}},
			reason: "200 may carry dashboard_url and metadata"},
		{id: "U7", name: "done drops operation", resp: broker.UpdateResponse{Outcome: broker.Done, Operation: "op-x"},
			want: reply{200, map[string]any{}}, reason: "an operation belongs to a 202 only"},
		{id: "U8", name: "accepted", query: "accepts_incomplete=true", resp: broker.UpdateResponse{Outcome: broker.Accepted, Operation: "op-u"},
			want: reply{202, map[string]any{"operation": "op-u"}}, reason: "an update in progress is 202 with the operation"},
		{id: "U10", name: "accepted with dashboard", query: "accepts_incomplete=true",
			resp: broker.UpdateResponse{Outcome: broker.Accepted, Operation: "op-u", DashboardURL: "https://dash/new"},
			want: reply{202, map[string]any{"operation": "op-u", "dashboard_url": "https://dash/new"}}, reason: "a changed dashboard_url comes in the initial response"},
		{id: "U8", name: "accepted without accepts_incomplete", resp: broker.UpdateResponse{Outcome: broker.Accepted, Operation: "op-u"},
			want: errReply(500, "", internalDesc), reason: "a 202 the platform did not allow is the backend's bug"},
		{id: "U8", name: "zero outcome", resp: broker.UpdateResponse{},
			want: errReply(500, "", internalDesc), reason: "a forgotten Outcome is a 500"},
		{id: "U12", name: "concurrency", err: broker.ErrConcurrency,
			want: sentinelReply(broker.ErrConcurrency), reason: "another operation in flight is 422 ConcurrencyError"},
		{id: "U12", name: "not found", err: fmt.Errorf("no stack: %w", broker.ErrInstanceNotFound),
			want: sentinelReply(broker.ErrInstanceNotFound), reason: "an unknown instance is 404 with an error body"},
		{id: "U4", name: "state refuses", err: &broker.Error{Status: 422, Description: "Over quota."},
			want: errReply(422, "", "Over quota."), reason: "a backend refuses a change its state does not allow with 422"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, updating(tc.resp, tc.err)), patchCall(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall}, tc.query))
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestU9_U13_ErrorBodyCarriesUsableAndRepeatable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		err      error
		want     reply
		reason   string
	}{
		{"U13", "unusable", &broker.Error{Status: 422, Description: "Stack rolled back.", InstanceUsable: broker.Bool(false), UpdateRepeatable: broker.Bool(true)},
			reply{422, map[string]any{"description": "Stack rolled back.", "instance_usable": false, "update_repeatable": true}},
			"an update error may say the instance is unusable and the update repeatable"},
		{"U9", "wrapped", fmt.Errorf("update: %w", &broker.Error{Status: 500, Description: "Failed.", UpdateRepeatable: broker.Bool(false)}),
			reply{500, map[string]any{"description": "Failed.", "update_repeatable": false}}, "the fields survive wrapping, and nil ones are left out"},
		{"U9", "none", &broker.Error{Status: 422, Description: "No."},
			reply{422, map[string]any{"description": "No."}}, "nil fields are left out"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, updating(broker.UpdateResponse{}, tc.err)), patchCall(t, map[string]any{"service_id": svcBindable}, ""))
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

// ---------------------------------------------------------------- D

func TestD1_RequiredQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		query    string
		mentions string
		reason   string
	}{
		{"D1", "none", "", "service_id", "service_id and plan_id are required"},
		{"D1", "service_id missing", "plan_id=" + planSmall, "service_id", "service_id is required"},
		{"D1", "plan_id missing", "service_id=" + svcBindable, "plan_id", "plan_id is required"},
		{"D1", "service_id empty", "service_id=&plan_id=" + planSmall, "service_id", "an empty service_id is missing"},
		{"D1", "plan_id empty", "service_id=" + svcBindable + "&plan_id=", "plan_id", "an empty plan_id is missing"},
		{"D1", "plan of another service", "service_id=" + svcBindable + "&plan_id=" + planPlain, "plan_id", "known IDs must belong together"},
		{"D1", "accepts_incomplete maybe", deleteIDs + "&accepts_incomplete=maybe", "accepts_incomplete", "a malformed query value"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			p := instancePath
			if tc.query != "" {
				p += "?" + tc.query
			}
			res := do(t, newHandler(t, f), call{method: "DELETE", path: p})
			checkRejected(t, res, 400, "", tc.mentions)
			checkNotCalled(t, f, "Deprovision")
		})
	}
}

func TestD3_D4_D6_Answers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		query    string
		resp     broker.DeprovisionResponse
		err      error
		want     reply
		reason   string
	}{
		{id: "D3", name: "done", resp: broker.DeprovisionResponse{Outcome: broker.Done},
			want: reply{200, map[string]any{}}, reason: "a synchronous delete is 200 {}"},
		{id: "D3", name: "done drops operation", resp: broker.DeprovisionResponse{Outcome: broker.Done, Operation: "op-x"},
			want: reply{200, map[string]any{}}, reason: "an operation belongs to a 202 only"},
		{id: "D3", name: "accepted", query: "accepts_incomplete=true", resp: broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: "op-d"},
			want: reply{202, map[string]any{"operation": "op-d"}}, reason: "a delete in progress is 202 {operation}"},
		{id: "D3", name: "accepted without operation", query: "accepts_incomplete=true", resp: broker.DeprovisionResponse{Outcome: broker.Accepted},
			want: reply{202, map[string]any{}}, reason: "the operation is optional"},
		{id: "D3", name: "accepted operation too long", query: "accepts_incomplete=true", resp: broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: strings.Repeat("d", 10001)},
			want: errReply(500, "", internalDesc), reason: "operation ≤ 10,000 characters"},
		{id: "D3", name: "zero outcome", resp: broker.DeprovisionResponse{},
			want: errReply(500, "", internalDesc), reason: "a forgotten Outcome is a 500"},
		{id: "D4", name: "not found", err: broker.ErrInstanceNotFound,
			want: reply{410, map[string]any{}}, reason: "an instance that does not exist is 410 {}, never 404"},
		{id: "D4", name: "gone", err: broker.ErrGone,
			want: reply{410, map[string]any{}}, reason: "an already deleted instance is 410 {}"},
		{id: "D4", name: "wrapped not found", err: fmt.Errorf("describe stack: %w", broker.ErrInstanceNotFound),
			want: reply{410, map[string]any{}}, reason: "wrapping does not change it"},
		{id: "D4", name: "custom 404", err: &broker.Error{Status: 404, Code: "NotHere", Description: "Nothing here."},
			want: reply{410, map[string]any{}}, reason: "no 404 ever leaves a DELETE"},
		{id: "D6", name: "concurrency", err: broker.ErrConcurrency,
			want: sentinelReply(broker.ErrConcurrency), reason: "another operation running is 422 ConcurrencyError"},
		{id: "D10", name: "failure with instance_usable", err: &broker.Error{Status: 500, Description: "Delete failed.", InstanceUsable: broker.Bool(true), UpdateRepeatable: broker.Bool(true)},
			want: reply{500, map[string]any{"description": "Delete failed.", "instance_usable": true}}, reason: "a deprovision error may carry instance_usable, never update_repeatable"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			p := instancePath + "?" + deleteIDs
			if tc.query != "" {
				p += "&" + tc.query
			}
			res := do(t, newHandler(t, deprovisioning(tc.resp, tc.err)), call{method: "DELETE", path: p})
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
			if tc.want.Status == 410 {
				if got := strings.TrimSpace(string(res.body)); got != "{}" {
					t.Errorf("410 body %q, want exactly {}", got)
				}
			}
		})
	}
}

func TestD5_AsyncRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name   string
		query      string
		wantCalled bool
		reason     string
	}{
		{"D5", "absent", "", false, "an async-only delete without accepts_incomplete is 422 AsyncRequired"},
		{"D5", "false", "accepts_incomplete=false", false, "false is not true"},
		{"D5", "true", "accepts_incomplete=true", true, "true reaches the backend"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := deprovisioning(broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: "op-d"}, nil)
			p := instancePath + "?" + deleteIDs
			if tc.query != "" {
				p += "&" + tc.query
			}
			res := do(t, newHandler(t, f, func(o *broker.Options) { o.RequireAsync = broker.ActionDeprovision }), call{method: "DELETE", path: p})
			if !tc.wantCalled {
				checkReply(t, sentinelReply(broker.ErrAsyncRequired), res)
				checkNotCalled(t, f, "Deprovision")
				return
			}
			checkReply(t, reply{202, map[string]any{"operation": "op-d"}}, res)
		})
	}
}

// deprovisionSeen is what a test checks of a DeprovisionRequest.
type deprovisionSeen struct {
	InstanceID, ServiceID, PlanID string
	// CatalogService and CatalogPlan are the IDs of Service and Plan, or
	// "<nil>".
	CatalogService, CatalogPlan string
	AcceptsIncomplete           bool
	OriginatingIdentity         *broker.OriginatingIdentity
}

func seeDeprovision(r *broker.DeprovisionRequest) deprovisionSeen {
	s := deprovisionSeen{InstanceID: r.InstanceID, ServiceID: r.ServiceID, PlanID: r.PlanID,
		CatalogService: "<nil>", CatalogPlan: "<nil>", AcceptsIncomplete: r.AcceptsIncomplete, OriginatingIdentity: r.OriginatingIdentity}
	if r.Service != nil {
		s.CatalogService = r.Service.ID
	}
	if r.Plan != nil {
		s.CatalogPlan = r.Plan.ID
	}
	return s
}

func TestD8_TolerantDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		query    string
		want     deprovisionSeen
		reason   string
	}{
		{"D8", "known IDs", deleteIDs,
			deprovisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall, CatalogService: svcBindable, CatalogPlan: planSmall},
			"known IDs resolve to catalog entries"},
		{"D8", "removed service and plan", "service_id=removed-svc&plan_id=removed-plan",
			deprovisionSeen{InstanceID: instanceID, ServiceID: "removed-svc", PlanID: "removed-plan", CatalogService: "<nil>", CatalogPlan: "<nil>"},
			"IDs removed from the catalog still reach the backend, with nil Service and Plan"},
		{"D8", "removed plan", "service_id=" + svcBindable + "&plan_id=removed-plan",
			deprovisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: "removed-plan", CatalogService: svcBindable, CatalogPlan: "<nil>"},
			"a plan removed from a service that remains"},
		{"D8", "async allowed, no identity", deleteIDs + "&accepts_incomplete=true",
			deprovisionSeen{InstanceID: instanceID, ServiceID: svcBindable, PlanID: planSmall, CatalogService: svcBindable, CatalogPlan: planSmall, AcceptsIncomplete: true},
			"orphan mitigation arrives without an originating identity"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), call{method: "DELETE", path: instancePath + "?" + tc.query})
			if res.status != 200 {
				t.Fatalf("status %d, want 200: %s; body %s", res.status, tc.reason, res.body)
			}
			if diff := cmp.Diff(tc.want, seeDeprovision(backendGot[*broker.DeprovisionRequest](t, f, "Deprovision"))); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

// --------------------------------------------------------------- LI

func TestLI1_States(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		lo       broker.LastOperation
		want     reply
		reason   string
	}{
		{"LI1", "in progress", broker.LastOperation{State: broker.InProgress, Description: "Creating stack."},
			reply{200, map[string]any{"state": "in progress", "description": "Creating stack."}}, "the state and its description"},
		{"LI1", "succeeded", broker.LastOperation{State: broker.Succeeded},
			reply{200, map[string]any{"state": "succeeded"}}, "an empty description is left out"},
		{"LI1", "failed", broker.LastOperation{State: broker.Failed, Description: "Rolled back.", InstanceUsable: broker.Bool(false), UpdateRepeatable: broker.Bool(true)},
			reply{200, map[string]any{"state": "failed", "description": "Rolled back.", "instance_usable": false, "update_repeatable": true}},
			"instance_usable and update_repeatable on a failure"},
		{"LI1", "failed without flags", broker.LastOperation{State: broker.Failed},
			reply{200, map[string]any{"state": "failed"}}, "nil flags are left out"},
		{"LI1", "in progress with flags", broker.LastOperation{State: broker.InProgress, InstanceUsable: broker.Bool(true), UpdateRepeatable: broker.Bool(true)},
			reply{200, map[string]any{"state": "in progress"}}, "the flags appear only when failed"},
		{"LI1", "succeeded with flags", broker.LastOperation{State: broker.Succeeded, InstanceUsable: broker.Bool(true), UpdateRepeatable: broker.Bool(false)},
			reply{200, map[string]any{"state": "succeeded"}}, "the flags appear only when failed"},
		{"LI1", "invalid state", broker.LastOperation{State: "running"},
			errReply(500, "", internalDesc), "a state the spec does not define is the backend's bug"},
		{"LI1", "empty state", broker.LastOperation{},
			errReply(500, "", internalDesc), "a forgotten state is a 500"},
		{"LI1", "state case", broker.LastOperation{State: "Succeeded"},
			errReply(500, "", internalDesc), "states are compared exactly"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, polling(tc.lo, nil)), call{method: "GET", path: instLastOpPath})
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestLI2_LI3_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		err      error
		want     reply
		reason   string
	}{
		{"LI2", "not found", broker.ErrInstanceNotFound, sentinelReply(broker.ErrInstanceNotFound), "404 for an instance that does not exist"},
		{"LI2", "wrapped not found", fmt.Errorf("x: %w", broker.ErrInstanceNotFound), sentinelReply(broker.ErrInstanceNotFound), "also wrapped"},
		{"LI3", "gone", broker.ErrGone, reply{410, map[string]any{}}, "410 after an asynchronous delete, which the platform takes as success"},
		{"LI7", "gone wrapped", fmt.Errorf("tombstone expired: %w", broker.ErrGone), reply{410, map[string]any{}}, "410 once the tombstone is gone"},
		{"LI9", "internal", fmt.Errorf("throttled"), errReply(500, "", internalDesc), "other failures are 500; the platform keeps polling"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, polling(broker.LastOperation{}, tc.err)), call{method: "GET", path: instLastOpPath})
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestLI4_LI5_Query(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		query    string
		want     int
		seen     [3]string // service_id, plan_id, operation at the backend
		reason   string
	}{
		{id: "LI4", name: "no query", want: 200, reason: "service_id, plan_id and operation are optional"},
		{id: "LI4", name: "only operation", query: "operation=op-1", want: 200, seen: [3]string{"", "", "op-1"}, reason: "hints may be missing"},
		{id: "LI4", name: "old plan", query: "service_id=" + svcBindable + "&plan_id=" + planLarge, want: 200,
			seen: [3]string{svcBindable, planLarge, ""}, reason: "during a plan change plan_id is the old plan, passed as is"},
		{id: "LI4", name: "unknown hints", query: "service_id=gone&plan_id=gone", want: 200,
			seen: [3]string{"gone", "gone", ""}, reason: "hints are not checked against the catalog"},
		{id: "LI4", name: "operation of 10000", query: "operation=" + strings.Repeat("o", 10000), want: 200,
			seen: [3]string{"", "", strings.Repeat("o", 10000)}, reason: "a token of the maximum length"},
		{id: "LI4", name: "operation of 10001", query: "operation=" + strings.Repeat("o", 10001), want: 400,
			reason: "a token longer than any the broker issues is malformed"},
		{id: "LI4", name: "malformed escape", query: "operation=%zz", want: 400, reason: "a query that cannot be decoded is malformed"},
		{id: "LI5", name: "percent-encoded", query: "operation=stack%2Fop%3A1%20%2B%26", want: 200,
			seen: [3]string{"", "", "stack/op:1 +&"}, reason: "the operation arrives percent-decoded"},
		{id: "LI5", name: "literal name", query: "operation=provision", want: 200,
			seen: [3]string{"", "", "provision"}, reason: "suites send literal names; the backend treats them as the latest"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			p := instLastOpPath
			if tc.query != "" {
				p += "?" + tc.query
			}
			res := do(t, newHandler(t, f), call{method: "GET", path: p})
			if tc.want == 400 {
				checkRejected(t, res, 400, "")
				checkNotCalled(t, f, "LastOperation")
				return
			}
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			got := backendGot[*broker.LastOperationRequest](t, f, "LastOperation")
			if diff := cmp.Diff(tc.seen, [3]string{got.ServiceID, got.PlanID, got.Operation}); diff != "" {
				t.Errorf("%s: service_id, plan_id, operation (-want +got):\n%.1000s", tc.reason, diff)
			}
			if got.InstanceID != instanceID {
				t.Errorf("InstanceID = %q, want %q", got.InstanceID, instanceID)
			}
		})
	}
}

func TestLI6_RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name   string
		retryAfter time.Duration
		err        error
		want       string // "" for no header
		reason     string
	}{
		{"LI6", "1500ms", 1500 * time.Millisecond, nil, "2", "whole seconds, rounded up"},
		{"LI6", "1s", time.Second, nil, "1", "exact seconds stay"},
		{"LI6", "1ns", time.Nanosecond, nil, "1", "any positive delay is at least a second"},
		{"LI6", "90s", 90 * time.Second, nil, "90", "seconds, not minutes or a date"},
		{"LI6", "zero", 0, nil, "", "no header when zero"},
		{"LI6", "negative", -time.Second, nil, "", "no header when negative"},
		{"LI6", "on error", 5 * time.Second, broker.ErrInstanceNotFound, "", "no header on an error answer"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, polling(broker.LastOperation{State: broker.InProgress, RetryAfter: tc.retryAfter}, tc.err)),
				call{method: "GET", path: instLastOpPath})
			got, present := res.header["Retry-After"]
			switch {
			case tc.want == "" && present:
				t.Errorf("Retry-After = %q, want none: %s", got, tc.reason)
			case tc.want != "" && res.header.Get("Retry-After") != tc.want:
				t.Errorf("Retry-After = %q, want %q: %s", res.header.Get("Retry-After"), tc.want, tc.reason)
			}
		})
	}
}

// ---------------------------------------------------------------- I

// TestI_IdempotencyMatrix expresses each row of the matrix as the backend's
// answer and the handler's response. The backend knows the state; the
// handler must turn each answer into the row's status and body.
func TestI_IdempotencyMatrix(t *testing.T) {
	t.Parallel()
	const async = "accepts_incomplete=true"
	tests := []struct {
		id, name string
		method   string // PUT, PATCH or DELETE
		resp     any    // a ProvisionResponse, UpdateResponse or DeprovisionResponse
		err      error
		want     reply
		reason   string
	}{
		{id: "I", name: "none, sync", method: "PUT", resp: broker.ProvisionResponse{Outcome: broker.Done},
			want: reply{201, map[string]any{}}, reason: "no instance: 201 when provisioned synchronously"},
		{id: "I", name: "none, async", method: "PUT", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1"},
			want: reply{202, map[string]any{"operation": "op-1"}}, reason: "no instance: 202 when provisioning started"},
		{id: "I", name: "in progress, same", method: "PUT", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-1"},
			want: reply{202, map[string]any{"operation": "op-1"}}, reason: "a repeated PUT in progress: 202 with the same operation, never 200"},
		{id: "I", name: "in progress, different", method: "PUT", err: broker.ErrInstanceConflict,
			want: sentinelReply(broker.ErrInstanceConflict), reason: "in progress with other attributes: 409"},
		{id: "I", name: "provisioned, same", method: "PUT", resp: broker.ProvisionResponse{Outcome: broker.Existed, DashboardURL: "https://dash/1"},
			want: reply{200, map[string]any{"dashboard_url": "https://dash/1"}}, reason: "provisioned with the same attributes: 200, body as 201, even with accepts_incomplete=true"},
		{id: "I", name: "provisioned, different", method: "PUT", err: broker.ErrInstanceConflict,
			want: sentinelReply(broker.ErrInstanceConflict), reason: "provisioned with other attributes: 409"},
		{id: "I", name: "failed, waiting for OM", method: "PUT", err: broker.ErrInstanceConflict,
			want: sentinelReply(broker.ErrInstanceConflict), reason: "a failed provision: 409, the platform deletes first"},
		{id: "I", name: "deprovisioning", method: "PUT", err: broker.ErrConcurrency,
			want: sentinelReply(broker.ErrConcurrency), reason: "deprovisioning in progress: 422 ConcurrencyError"},
		{id: "I", name: "tombstone", method: "PUT", resp: broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-2"},
			want: reply{202, map[string]any{"operation": "op-2"}}, reason: "a deleted instance is treated as none"},
		{id: "I", name: "PATCH repeated", method: "PATCH", resp: broker.UpdateResponse{Outcome: broker.Accepted, Operation: "op-u"},
			want: reply{202, map[string]any{"operation": "op-u"}}, reason: "a repeated PATCH before completion: 202 with the same operation"},
		{id: "I", name: "DELETE repeated", method: "DELETE", resp: broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: "op-d"},
			want: reply{202, map[string]any{"operation": "op-d"}}, reason: "a repeated DELETE before completion: 202 with the same operation"},
		{id: "I", name: "DELETE after completion", method: "DELETE", err: broker.ErrInstanceNotFound,
			want: reply{410, map[string]any{}}, reason: "a DELETE after completion: 410"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			var f *fakeBackend
			var c call
			switch tc.method {
			case "PUT":
				r, _ := tc.resp.(broker.ProvisionResponse)
				f, c = provisioning(r, tc.err), provisionCall(t, provisionBody(nil), async)
			case "PATCH":
				r, _ := tc.resp.(broker.UpdateResponse)
				f, c = updating(r, tc.err), patchCall(t, map[string]any{"service_id": svcBindable}, async)
			case "DELETE":
				r, _ := tc.resp.(broker.DeprovisionResponse)
				f, c = deprovisioning(r, tc.err), call{method: "DELETE", path: instancePath + "?" + deleteIDs + "&" + async}
			}
			h := newHandler(t, f)
			for i := range 2 { // the same answer to the same request, twice
				if diff := cmp.Diff(tc.want, replyOf(do(t, h, c))); diff != "" {
					t.Errorf("request %d: %s (-want +got):\n%s", i+1, tc.reason, diff)
				}
			}
		})
	}
}

// TestP1_AbsentParametersMeetRequired: a provision without parameters is
// checked as {} against the create schema, so a required parameter is a
// 400 now rather than a CloudFormation failure (and orphan mitigation)
// later; an update without parameters changes none and is not checked.
func TestP1_AbsentParametersMeetRequired(t *testing.T) {
	f := &fakeBackend{}
	h := newHandler(t, f)
	r := do(t, h, call{method: "PUT", path: "/v2/service_instances/" + instanceID, body: jsonBody(t, provisionBody(map[string]any{"parameters": nil}))})
	if r.status != http.StatusBadRequest || !strings.Contains(r.json["description"].(string), "/name: missing property") {
		t.Errorf("provision without the required parameter: %d %s", r.status, r.body)
	}
	if f.called("Provision") != 0 {
		t.Errorf("the backend was called")
	}
	r = do(t, h, call{method: "PATCH", path: "/v2/service_instances/" + instanceID,
		body: `{"service_id":"` + svcBindable + `","plan_id":"` + planSmall + `"}`})
	if r.status != http.StatusOK {
		t.Errorf("update without parameters: %d %s", r.status, r.body)
	}
}
