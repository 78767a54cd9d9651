package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

// Tests for the binding endpoints: CHECKLIST.md sections B, FB, UB, LB,
// and the O items the binding endpoints carry. Test and case names carry
// the checklist IDs.

const (
	bindingPath       = "/v2/service_instances/" + instanceID + "/service_bindings/" + bindingID
	bindingLastOpPath = bindingPath + "/last_operation"
	// bindSecret is a credential value that must never appear where the
	// handler refuses a backend's answer.
	bindSecret = "pa55-that-must-not-leak"
)

// bindReqBody is a valid bind body for planSmall; overrides replace fields,
// and a nil override deletes one.
func bindReqBody(overrides map[string]any) map[string]any {
	b := map[string]any{
		"service_id":    svcBindable,
		"plan_id":       planSmall,
		"bind_resource": map[string]any{"app_guid": "app-1"},
		"parameters":    map[string]any{"role": "reader"},
		"context":       map[string]any{"platform": "cloudfoundry", "organization_guid": "org", "space_guid": "space"},
	}
	for k, v := range overrides {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

// asyncOnly sets Options.RequireAsync for a.
func asyncOnly(a broker.Action) func(*broker.Options) {
	return func(o *broker.Options) { o.RequireAsync |= a }
}

// lastBindRequest returns the BindRequest the backend got last, failing
// the test if there was none.
func lastBindRequest(t *testing.T, f *fakeBackend) *broker.BindRequest {
	t.Helper()
	req, _ := f.lastRequest("Bind").(*broker.BindRequest)
	if req == nil {
		t.Fatal("the backend's Bind was not called")
	}
	return req
}

// TestB1_NotBindable: a bind on a plan or service whose effective bindable
// is false is a bad request, and the backend never sees it.
func TestB1_NotBindable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		serviceID        string
		planID           string
	}{
		{id: "B1", name: "plan overrides bindable to false", reason: "planNoBind sets bindable:false over a bindable offering",
			serviceID: svcBindable, planID: planNoBind},
		{id: "B1", name: "service not bindable", reason: "svcPlain is not bindable and its plan does not override it",
			serviceID: svcPlain, planID: planPlain},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			h := newHandler(t, f)
			body := bindReqBody(map[string]any{"service_id": tt.serviceID, "plan_id": tt.planID, "parameters": nil})
			res := do(t, h, call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, body)})
			if res.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400 (%s); body %s", res.status, tt.reason, res.body)
			}
			if n := f.called("Bind"); n != 0 {
				t.Errorf("backend Bind called %d times, want 0", n)
			}
		})
	}
}

// TestB2_BadRequest: malformed input, missing IDs, IDs the catalog does
// not know, and parameters that fail the binding schema are 400, and the
// backend is never called.
func TestB2_BadRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		body             string
		header           map[string]*string
	}{
		{id: "B2", name: "malformed JSON", reason: "malformed input is 400",
			body: `{"service_id":`},
		{id: "B2", name: "body is an array", reason: "the body must be a JSON object",
			body: `[]`},
		{id: "B2", name: "body is null", reason: "null has no service_id",
			body: `null`},
		{id: "B2", name: "missing service_id", reason: "service_id is required",
			body: jsonBody(t, bindReqBody(map[string]any{"service_id": nil}))},
		{id: "B2", name: "empty service_id", reason: "service_id must not be empty",
			body: jsonBody(t, bindReqBody(map[string]any{"service_id": ""}))},
		{id: "B2", name: "missing plan_id", reason: "plan_id is required",
			body: jsonBody(t, bindReqBody(map[string]any{"plan_id": nil}))},
		{id: "B2", name: "empty plan_id", reason: "plan_id must not be empty",
			body: jsonBody(t, bindReqBody(map[string]any{"plan_id": ""}))},
		{id: "B2", name: "service_id of the wrong type", reason: "a number is not an ID",
			body: jsonBody(t, bindReqBody(map[string]any{"service_id": 42}))},
		{id: "B2", name: "unknown service_id", reason: "D: IDs not in the catalog are 400",
			body: jsonBody(t, bindReqBody(map[string]any{"service_id": "no-such-service"}))},
		{id: "B2", name: "unknown plan_id", reason: "D: IDs not in the catalog are 400",
			body: jsonBody(t, bindReqBody(map[string]any{"plan_id": "no-such-plan"}))},
		{id: "B2", name: "plan of another service", reason: "D: the plan must belong to the service",
			body: jsonBody(t, bindReqBody(map[string]any{"plan_id": planPlain}))},
		{id: "B2", name: "parameters fail the binding schema", reason: "D: role must be reader or writer",
			body: jsonBody(t, bindReqBody(map[string]any{"parameters": map[string]any{"role": "admin-" + bindSecret}}))},
		{id: "B2", name: "parameter of the wrong type", reason: "D: the schema's enum holds strings",
			body: jsonBody(t, bindReqBody(map[string]any{"parameters": map[string]any{"role": 12345}}))},
		{id: "B2", name: "parameters not an object", reason: "parameters must be a JSON object",
			body: jsonBody(t, bindReqBody(map[string]any{"parameters": []any{"role"}}))},
		{id: "B2", name: "empty app_guid", reason: "app_guid must be non-empty when present",
			body: jsonBody(t, bindReqBody(map[string]any{"app_guid": ""}))},
		{id: "B2", name: "app_guid not a string", reason: "app_guid is a string",
			body: jsonBody(t, bindReqBody(map[string]any{"app_guid": true}))},
		{id: "B2", name: "bind_resource not an object", reason: "bind_resource is an object",
			body: jsonBody(t, bindReqBody(map[string]any{"bind_resource": "app-1"}))},
		{id: "B2", name: "context not an object", reason: "context is an object",
			body: jsonBody(t, bindReqBody(map[string]any{"context": []any{}}))},
		{id: "B2", name: "bad accepts_incomplete", reason: "accepts_incomplete is a boolean",
			query: "?accepts_incomplete=maybe", body: jsonBody(t, bindReqBody(nil))},
		{id: "B2/G15", name: "accepts_incomplete=1", reason: "only the literal true allows 202; other spellings are malformed",
			query: "?accepts_incomplete=1", body: jsonBody(t, bindReqBody(nil))},
		{id: "B2/G15", name: "accepts_incomplete=TRUE", reason: "only the literal true allows 202; other spellings are malformed",
			query: "?accepts_incomplete=TRUE", body: jsonBody(t, bindReqBody(nil))},
		{id: "B2", name: "wrong content type", reason: "G12: a body that is not application/json is 400",
			body: jsonBody(t, bindReqBody(nil)), header: map[string]*string{"Content-Type": str("text/plain")}},
		{id: "B2", name: "empty body", reason: "an empty body has no service_id", body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			h := newHandler(t, f)
			res := do(t, h, call{method: http.MethodPut, path: bindingPath + tt.query, body: tt.body, header: tt.header})
			if res.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400 (%s); body %s", res.status, tt.reason, res.body)
			}
			if _, ok := res.json["description"].(string); !ok {
				t.Errorf("body %s has no description", res.body)
			}
			if strings.Contains(string(res.body), bindSecret) {
				t.Errorf("body %s quotes a parameter value", res.body)
			}
			if n := f.called("Bind"); n != 0 {
				t.Errorf("backend Bind called %d times, want 0", n)
			}
		})
	}
}

// TestB3_Created: a synchronous bind is 201 with everything the backend
// returned, and the backend gets the decoded request.
func TestB3_Created(t *testing.T) {
	t.Parallel()
	expires := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
		return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{
			Credentials:    broker.Credentials{"username": "u", "password": bindSecret, "port": 5672},
			Metadata:       &broker.BindingMetadata{ExpiresAt: expires, RenewBefore: expires.Add(-time.Hour)},
			SyslogDrainURL: "syslog-tls://logs.example.com:6514",
			Endpoints: []broker.Endpoint{
				{Host: "q.example.com", Ports: []string{"5671"}, Protocol: "tcp"},
				{Host: "10.0.0.1", Ports: []string{"9000-9010", "443"}},
			},
			Parameters: broker.Parameters{"role": "reader"}, // GET binding only
		}}, nil
	}}
	h := newHandler(t, f)
	res := do(t, h, call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
	if res.status != http.StatusCreated {
		t.Fatalf("status %d, want 201 (B3); body %s", res.status, res.body)
	}
	want := map[string]any{
		"credentials": map[string]any{"username": "u", "password": bindSecret, "port": float64(5672)},
		"metadata":    map[string]any{"expires_at": "2026-12-31T23:59:59.0Z", "renew_before": "2026-12-31T22:59:59.0Z"},
		"endpoints": []any{
			map[string]any{"host": "q.example.com", "ports": []any{"5671"}, "protocol": "tcp"},
			map[string]any{"host": "10.0.0.1", "ports": []any{"9000-9010", "443"}},
		},
		"syslog_drain_url": "syslog-tls://logs.example.com:6514",
	}
	if diff := cmp.Diff(want, res.json); diff != "" {
		t.Errorf("B3 body mismatch (-want +got):\n%s", diff)
	}

	req := lastBindRequest(t, f)
	type fields struct {
		InstanceID, BindingID, ServiceID, PlanID, AppGUID string
		Parameters                                        broker.Parameters
		AcceptsIncomplete                                 bool
	}
	got := fields{req.InstanceID, req.BindingID, req.Service.ID, req.Plan.ID, req.AppGUID, req.Parameters, req.AcceptsIncomplete}
	wantReq := fields{instanceID, bindingID, svcBindable, planSmall, "app-1", broker.Parameters{"role": "reader"}, false}
	if diff := cmp.Diff(wantReq, got); diff != "" {
		t.Errorf("BindRequest mismatch (-want +got):\n%s", diff)
	}
}

// TestB4_Accepted: a 202 carries an operation at most, never binding data
// (above all no credentials), and only where the platform allowed it and
// the credentials can later be fetched.
func TestB4_Accepted(t *testing.T) {
	t.Parallel()
	notRetrievable := testCatalog()
	notRetrievable.Services[0].BindingsRetrievable = false
	tests := []struct {
		id, name, reason string
		catalog          *catalog.Catalog
		query            string
		resp             broker.BindResponse
		wantStatus       int
		wantBody         map[string]any
	}{
		{id: "B4", name: "operation", reason: "202 with the backend's operation",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: "op-1"},
			wantStatus: http.StatusAccepted, wantBody: map[string]any{"operation": "op-1"}},
		{id: "B4", name: "no operation", reason: "operation is optional; the body is then {}",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted},
			wantStatus: http.StatusAccepted, wantBody: map[string]any{}},
		{id: "B4/O2", name: "credentials with Accepted", reason: "no credentials may be sent in a 202: the handler refuses",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: "op-1",
				Binding: broker.Binding{Credentials: broker.Credentials{"password": bindSecret}}},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/O2", name: "endpoints with Accepted", reason: "a 202 carries no binding data at all",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted,
				Binding: broker.Binding{Endpoints: []broker.Endpoint{{Host: "h", Ports: []string{"1"}}}}},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/O2", name: "metadata with Accepted", reason: "a 202 carries no binding data at all",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted,
				Binding: broker.Binding{Metadata: &broker.BindingMetadata{ExpiresAt: time.Now()}}},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/C9", name: "Accepted on a service that is not bindings_retrievable", reason: "credentials of an async bind could never be fetched",
			catalog: &notRetrievable, query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: "op-1"},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/G15", name: "Accepted without accepts_incomplete", reason: "only accepts_incomplete=true allows a 202",
			resp: broker.BindResponse{Outcome: broker.Accepted, Operation: "op-1"}, wantStatus: http.StatusInternalServerError},
		{id: "B4/G15", name: "Accepted with accepts_incomplete=false", reason: "only accepts_incomplete=true allows a 202",
			query: "?accepts_incomplete=false", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: "op-1"},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/G17", name: "operation too long", reason: "operation tokens are at most 10,000 characters",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: strings.Repeat("o", 10001)},
			wantStatus: http.StatusInternalServerError},
		{id: "B4/G17", name: "operation of 10,000 characters", reason: "the limit itself is allowed",
			query: "?accepts_incomplete=true", resp: broker.BindResponse{Outcome: broker.Accepted, Operation: strings.Repeat("o", 10000)},
			wantStatus: http.StatusAccepted, wantBody: map[string]any{"operation": strings.Repeat("o", 10000)}},
		{id: "O2", name: "zero Outcome", reason: "a forgotten Outcome is a backend bug, not a plausible answer",
			resp: broker.BindResponse{}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return tt.resp, nil
			}}
			var h *broker.Handler
			if tt.catalog != nil {
				h, _ = newHandlerFor(t, *tt.catalog, f)
			} else {
				h = newHandler(t, f)
			}
			res := do(t, h, call{method: http.MethodPut, path: bindingPath + tt.query, body: jsonBody(t, bindReqBody(nil))})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if strings.Contains(string(res.body), bindSecret) {
				t.Errorf("body %s leaks a credential", res.body)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, res.json); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestB5_Existed: an identical binding that already existed is 200 with
// the same body a 201 would have.
func TestB5_Existed(t *testing.T) {
	t.Parallel()
	binding := broker.Binding{
		Credentials: broker.Credentials{"uri": "amqps://u:p@q"},
		Metadata:    &broker.BindingMetadata{ExpiresAt: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)},
		Endpoints:   []broker.Endpoint{{Host: "q", Ports: []string{"5671"}}},
	}
	answer := func(o broker.Outcome) []byte {
		f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
			return broker.BindResponse{Outcome: o, Binding: binding}, nil
		}}
		res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
		want := map[broker.Outcome]int{broker.Done: http.StatusCreated, broker.Existed: http.StatusOK}[o]
		if res.status != want {
			t.Errorf("%v: status %d, want %d; body %s", o, res.status, want, res.body)
		}
		return res.body
	}
	created, existed := answer(broker.Done), answer(broker.Existed)
	if diff := cmp.Diff(string(created), string(existed)); diff != "" {
		t.Errorf("B5: the 200 body differs from the 201 body (-201 +200):\n%s", diff)
	}
}

// TestB6_Conflict: a binding ID that exists with other attributes is 409,
// also when the backend wraps the sentinel.
func TestB6_Conflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		err              error
	}{
		{id: "B6", name: "sentinel", reason: "ErrBindingConflict is 409", err: broker.ErrBindingConflict},
		{id: "B6", name: "wrapped", reason: "errors.As finds a wrapped sentinel", err: fmt.Errorf("binding %s: %w", bindingID, broker.ErrBindingConflict)},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return broker.BindResponse{}, tt.err
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
			if res.status != http.StatusConflict {
				t.Errorf("status %d, want 409 (%s); body %s", res.status, tt.reason, res.body)
			}
			want := map[string]any{"description": broker.ErrBindingConflict.Description}
			if diff := cmp.Diff(want, res.json); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestB7_UnprocessableEntity: RequiresApp, ConcurrencyError and
// AsyncRequired are 422 with the spec's codes (G9).
func TestB7_UnprocessableEntity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		body             map[string]any
		async            bool // Options.RequireAsync has ActionBind
		err              error
		wantCode         string
		wantBackend      int
	}{
		{id: "B7", name: "RequiresApp", reason: "a backend that needs app_guid answers ErrRequiresApp",
			body: bindReqBody(map[string]any{"bind_resource": nil}), err: broker.ErrRequiresApp, wantCode: "RequiresApp", wantBackend: 1},
		{id: "B7", name: "ConcurrencyError", reason: "a concurrent operation on the instance",
			err: broker.ErrConcurrency, wantCode: "ConcurrencyError", wantBackend: 1},
		{id: "B7/B14", name: "ConcurrencyError wrapped", reason: "an instance not ready yet; wrapping keeps the meaning",
			err: fmt.Errorf("instance still provisioning: %w", broker.ErrConcurrency), wantCode: "ConcurrencyError", wantBackend: 1},
		{id: "B7", name: "AsyncRequired from RequireAsync", reason: "binds are async-only and accepts_incomplete is absent: the backend is not asked",
			async: true, wantCode: "AsyncRequired", wantBackend: 0},
		{id: "B7", name: "AsyncRequired with accepts_incomplete=false", reason: "only true allows async",
			async: true, query: "?accepts_incomplete=false", wantCode: "AsyncRequired", wantBackend: 0},
		{id: "B7", name: "AsyncRequired from the backend", reason: "a backend may decide per request",
			err: broker.ErrAsyncRequired, wantCode: "AsyncRequired", wantBackend: 1},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return broker.BindResponse{}, tt.err
			}}
			var opts []func(*broker.Options)
			if tt.async {
				opts = append(opts, asyncOnly(broker.ActionBind))
			}
			body := tt.body
			if body == nil {
				body = bindReqBody(nil)
			}
			res := do(t, newHandler(t, f, opts...), call{method: http.MethodPut, path: bindingPath + tt.query, body: jsonBody(t, body)})
			if res.status != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422 (%s); body %s", res.status, tt.reason, res.body)
			}
			if got := res.json["error"]; got != tt.wantCode {
				t.Errorf("error %v, want %q (G9)", got, tt.wantCode)
			}
			if _, ok := res.json["instance_usable"]; ok {
				t.Errorf("body %s has instance_usable, which is for update and deprovision only (G8)", res.body)
			}
			if n := f.called("Bind"); n != tt.wantBackend {
				t.Errorf("backend Bind called %d times, want %d", n, tt.wantBackend)
			}
		})
	}
}

// TestB7_AsyncRequiredAllowsTrue: with RequireAsync, accepts_incomplete=true
// reaches the backend, which may answer 202.
func TestB7_AsyncRequiredAllowsTrue(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{bind: func(_ context.Context, req *broker.BindRequest) (broker.BindResponse, error) {
		if !req.AcceptsIncomplete {
			t.Error("AcceptsIncomplete false, want true")
		}
		return broker.BindResponse{Outcome: broker.Accepted, Operation: "op"}, nil
	}}
	res := do(t, newHandler(t, f, asyncOnly(broker.ActionBind)), call{method: http.MethodPut,
		path: bindingPath + "?accepts_incomplete=true", body: jsonBody(t, bindReqBody(nil))})
	if res.status != http.StatusAccepted {
		t.Errorf("status %d, want 202; body %s", res.status, res.body)
	}
}

// TestB9_Metadata: expires_at and renew_before are sent as
// yyyy-mm-ddThh:mm:ss.sZ in UTC, and renew_before after expires_at is a
// malformed answer the handler refuses to send (O2).
func TestB9_Metadata(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	expires := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	tests := []struct {
		id, name, reason string
		md               *broker.BindingMetadata
		wantStatus       int
		wantMetadata     any // nil: no metadata key
	}{
		{id: "B9", name: "whole seconds", reason: "one fractional digit, even when it is zero",
			md:         &broker.BindingMetadata{ExpiresAt: expires, RenewBefore: expires.Add(-24 * time.Hour)},
			wantStatus: http.StatusCreated, wantMetadata: map[string]any{"expires_at": "2026-12-31T23:59:59.0Z", "renew_before": "2026-12-30T23:59:59.0Z"}},
		{id: "B9", name: "fractional seconds", reason: "the format has exactly one fractional digit",
			md:         &broker.BindingMetadata{ExpiresAt: expires.Add(987654321 * time.Nanosecond)},
			wantStatus: http.StatusCreated, wantMetadata: map[string]any{"expires_at": "2026-12-31T23:59:59.9Z"}},
		{id: "B9", name: "other time zone", reason: "times are sent in UTC with a Z",
			md:         &broker.BindingMetadata{ExpiresAt: time.Date(2027, 1, 1, 0, 59, 59, 0, berlin)},
			wantStatus: http.StatusCreated, wantMetadata: map[string]any{"expires_at": "2026-12-31T23:59:59.0Z"}},
		{id: "B9", name: "renew_before equals expires_at", reason: "renew_before ≤ expires_at allows equality",
			md:         &broker.BindingMetadata{ExpiresAt: expires, RenewBefore: expires},
			wantStatus: http.StatusCreated, wantMetadata: map[string]any{"expires_at": "2026-12-31T23:59:59.0Z", "renew_before": "2026-12-31T23:59:59.0Z"}},
		{id: "B9", name: "zero times", reason: "zero times are left out",
			md: &broker.BindingMetadata{}, wantStatus: http.StatusCreated, wantMetadata: map[string]any{}},
		{id: "B9", name: "no metadata", reason: "nil metadata is left out",
			wantStatus: http.StatusCreated},
		{id: "B9/O2", name: "renew_before after expires_at", reason: "renew_before must not be after expires_at",
			md:         &broker.BindingMetadata{ExpiresAt: expires, RenewBefore: expires.Add(time.Second)},
			wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{
					Credentials: broker.Credentials{"password": bindSecret}, Metadata: tt.md}}, nil
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if tt.wantStatus >= 500 {
				if strings.Contains(string(res.body), bindSecret) {
					t.Errorf("the 500 body %s leaks a credential", res.body)
				}
				return
			}
			if diff := cmp.Diff(tt.wantMetadata, res.json["metadata"]); diff != "" {
				t.Errorf("metadata mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestB10_BindingFields: endpoints are checked before they are sent, and
// syslog_drain_url, route_service_url and volume_mounts need the service's
// matching requires (C11). A malformed 201 would make the platform
// orphan-mitigate, so the handler answers 500 instead (O2).
func TestB10_BindingFields(t *testing.T) {
	t.Parallel()
	ep := func(host, protocol string, ports ...string) broker.Binding {
		return broker.Binding{Endpoints: []broker.Endpoint{{Host: host, Ports: ports, Protocol: protocol}}}
	}
	tests := []struct {
		id, name, reason string
		binding          broker.Binding
		wantStatus       int
	}{
		{id: "B10", name: "single port", reason: `"443" is a port`, binding: ep("h", "", "443"), wantStatus: http.StatusCreated},
		{id: "B10", name: "port range", reason: `"9000-9010" is a range`, binding: ep("h", "", "9000-9010"), wantStatus: http.StatusCreated},
		{id: "B10", name: "several ports", reason: "ports is a list", binding: ep("h", "", "80", "443", "8000-8080"), wantStatus: http.StatusCreated},
		{id: "B10", name: "highest port", reason: "65535 is a port", binding: ep("h", "", "65535"), wantStatus: http.StatusCreated},
		{id: "B10", name: "protocol tcp", reason: "tcp is allowed", binding: ep("h", "tcp", "1"), wantStatus: http.StatusCreated},
		{id: "B10", name: "protocol udp", reason: "udp is allowed", binding: ep("h", "udp", "1"), wantStatus: http.StatusCreated},
		{id: "B10", name: "protocol all", reason: "all is allowed", binding: ep("h", "all", "1"), wantStatus: http.StatusCreated},
		{id: "B10/O2", name: "empty host", reason: "host is required", binding: ep("", "", "443"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "no ports", reason: "ports needs at least one entry", binding: ep("h", ""), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "empty port", reason: `"" is no port`, binding: ep("h", "", ""), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "port out of range", reason: "70000 > 65535", binding: ep("h", "", "70000"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "reversed range", reason: "9010-9000 is empty", binding: ep("h", "", "9010-9000"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "open range", reason: "9000- has no end", binding: ep("h", "", "9000-"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "negative port", reason: "-1 is no port", binding: ep("h", "", "-1"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "port name", reason: "https is not a number", binding: ep("h", "", "https"), wantStatus: http.StatusInternalServerError},
		{id: "B10/O2", name: "protocol sctp", reason: "protocol is tcp, udp or all", binding: ep("h", "sctp", "443"), wantStatus: http.StatusInternalServerError},
		{id: "B3/C11", name: "syslog_drain_url", reason: "svcBindable requires syslog_drain",
			binding: broker.Binding{SyslogDrainURL: "syslog://h:514"}, wantStatus: http.StatusCreated},
		{id: "B3/C11/O2", name: "route_service_url", reason: "svcBindable does not require route_forwarding",
			binding: broker.Binding{RouteServiceURL: "https://route"}, wantStatus: http.StatusInternalServerError},
		{id: "B3/C11/O2", name: "volume_mounts", reason: "svcBindable does not require volume_mount",
			binding: broker.Binding{VolumeMounts: []broker.VolumeMount{{Driver: "nfs", ContainerDir: "/data", Mode: "rw",
				DeviceType: "shared", Device: broker.VolumeDevice{VolumeID: "v"}}}}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				b := tt.binding
				b.Credentials = broker.Credentials{"password": bindSecret}
				return broker.BindResponse{Outcome: broker.Done, Binding: b}, nil
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
			if res.status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if res.status >= 500 && strings.Contains(string(res.body), bindSecret) {
				t.Errorf("the 500 body %s leaks a credential", res.body)
			}
		})
	}
}

// TestB12_Rotation: predecessor_binding_id is only for binding_rotatable
// plans and must not be empty.
func TestB12_Rotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		planID           string
		predecessor      any
		wantStatus       int
		wantPredecessor  string
	}{
		{id: "B12", name: "rotatable plan", reason: "planLarge is binding_rotatable: the backend decides",
			planID: planLarge, predecessor: "bind-0", wantStatus: http.StatusCreated, wantPredecessor: "bind-0"},
		{id: "B12", name: "plan not rotatable", reason: "D: planSmall does not allow rotation",
			planID: planSmall, predecessor: "bind-0", wantStatus: http.StatusBadRequest},
		{id: "B12", name: "empty predecessor", reason: "an empty ID names no binding",
			planID: planLarge, predecessor: "", wantStatus: http.StatusBadRequest},
		{id: "B12", name: "predecessor not a string", reason: "binding IDs are strings",
			planID: planLarge, predecessor: 7, wantStatus: http.StatusBadRequest},
		{id: "B12", name: "no predecessor", reason: "an ordinary bind on a rotatable plan",
			planID: planLarge, wantStatus: http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			body := bindReqBody(map[string]any{"plan_id": tt.planID, "parameters": nil})
			if tt.predecessor != nil {
				body["predecessor_binding_id"] = tt.predecessor
			}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, body)})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if tt.wantStatus >= 400 {
				if n := f.called("Bind"); n != 0 {
					t.Errorf("backend Bind called %d times, want 0", n)
				}
				return
			}
			if got := lastBindRequest(t, f).PredecessorBindingID; got != tt.wantPredecessor {
				t.Errorf("PredecessorBindingID %q, want %q", got, tt.wantPredecessor)
			}
		})
	}
}

// TestB14_InstanceNotFound: a bind on an unknown instance is 404 with an
// error body (D); ErrGone, meant for last_operation, is not-found too.
func TestB14_InstanceNotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		err              error
		wantDescription  string
	}{
		{id: "B14", name: "ErrInstanceNotFound", reason: "D: unknown instance is 404",
			err: broker.ErrInstanceNotFound, wantDescription: broker.ErrInstanceNotFound.Description},
		{id: "B14", name: "wrapped", reason: "errors.As finds the sentinel",
			err: fmt.Errorf("lookup: %w", broker.ErrInstanceNotFound), wantDescription: broker.ErrInstanceNotFound.Description},
		{id: "B14", name: "ErrGone", reason: "410 is not defined for bind; a deleted instance is not found",
			err: broker.ErrGone, wantDescription: broker.ErrGone.Description},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return broker.BindResponse{}, tt.err
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
			if res.status != http.StatusNotFound {
				t.Errorf("status %d, want 404 (%s); body %s", res.status, tt.reason, res.body)
			}
			if diff := cmp.Diff(map[string]any{"description": tt.wantDescription}, res.json); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBind_RequestFields: app_guid from the top level or from bind_resource
// reaches BindRequest.AppGUID, and bind_resource reaches the backend whole.
func TestBind_RequestFields(t *testing.T) {
	t.Parallel()
	cfResource := map[string]any{
		"app_guid":             "app-2",
		"space_guid":           "space-1",
		"credential_client_id": "client-1",
		"route":                "www.example.com",
		"app_annotations":      map[string]any{"example.com/team": "blue", "nested": map[string]any{"n": 1}},
	}
	tests := []struct {
		id, name, reason string
		overrides        map[string]any
		wantAppGUID      string
		wantResource     broker.BindResource
		wantRoute        string
	}{
		{id: "B", name: "app_guid at the top level", reason: "the deprecated field still counts",
			overrides: map[string]any{"app_guid": "app-top", "bind_resource": nil}, wantAppGUID: "app-top"},
		{id: "B", name: "app_guid in bind_resource", reason: "the current place for app_guid",
			overrides:   map[string]any{"bind_resource": map[string]any{"app_guid": "app-res"}},
			wantAppGUID: "app-res", wantResource: broker.BindResource{"app_guid": "app-res"}},
		{id: "B", name: "both agree", reason: "platforms send both with the same value",
			overrides:   map[string]any{"app_guid": "app-1", "bind_resource": map[string]any{"app_guid": "app-1"}},
			wantAppGUID: "app-1", wantResource: broker.BindResource{"app_guid": "app-1"}},
		{id: "B7", name: "no app_guid", reason: "a service key: the backend decides whether it needs an app",
			overrides: map[string]any{"bind_resource": nil}, wantAppGUID: ""},
		{id: "X2", name: "Cloud Foundry bind_resource fields", reason: "bind_resource is passed on whole, numbers kept exact",
			overrides: map[string]any{"bind_resource": cfResource}, wantAppGUID: "app-2", wantRoute: "www.example.com",
			wantResource: broker.BindResource{
				"app_guid":             "app-2",
				"space_guid":           "space-1",
				"credential_client_id": "client-1",
				"route":                "www.example.com",
				"app_annotations":      map[string]any{"example.com/team": "blue", "nested": map[string]any{"n": json.Number("1")}},
			}},
		{id: "G13", name: "unknown fields", reason: "vendor extensions are ignored",
			overrides:   map[string]any{"x-vendor": map[string]any{"a": 1}, "bind_resource": map[string]any{"app_guid": "a"}},
			wantAppGUID: "a", wantResource: broker.BindResource{"app_guid": "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(tt.overrides))})
			if res.status != http.StatusCreated {
				t.Fatalf("status %d, want 201 (%s); body %s", res.status, tt.reason, res.body)
			}
			req := lastBindRequest(t, f)
			if req.AppGUID != tt.wantAppGUID {
				t.Errorf("AppGUID %q, want %q", req.AppGUID, tt.wantAppGUID)
			}
			if diff := cmp.Diff(tt.wantResource, req.BindResource); diff != "" {
				t.Errorf("BindResource mismatch (-want +got):\n%s", diff)
			}
			if got := req.BindResource.Route(); got != tt.wantRoute {
				t.Errorf("BindResource.Route() %q, want %q", got, tt.wantRoute)
			}
		})
	}
}

// TestO4_BackendErrorKept: a backend's own *broker.Error keeps its 4xx,
// wrapped or not, so a request we cannot complete is not turned into a 5xx
// (which would trigger orphan mitigation). Any other error is a 500 that
// shows nothing of the error's text.
func TestO4_BackendErrorKept(t *testing.T) {
	t.Parallel()
	custom := &broker.Error{Status: http.StatusUnprocessableEntity, Code: "QuotaExceeded", Description: "The account has no room for more users.",
		Err: errors.New("iam: LimitExceeded for " + bindSecret)}
	tests := []struct {
		id, name, reason string
		err              error
		wantStatus       int
		wantBody         map[string]any
	}{
		{id: "O4", name: "422 Error", reason: "a defined 4xx stays a 4xx", err: custom,
			wantStatus: http.StatusUnprocessableEntity, wantBody: map[string]any{"error": "QuotaExceeded", "description": custom.Description}},
		{id: "O4", name: "wrapped 422 Error", reason: "errors.As, not a type switch", err: fmt.Errorf("bind: %w", custom),
			wantStatus: http.StatusUnprocessableEntity, wantBody: map[string]any{"error": "QuotaExceeded", "description": custom.Description}},
		{id: "O4", name: "400 Error without description", reason: "the status text fills an empty description (G7)",
			err: &broker.Error{Status: http.StatusBadRequest}, wantStatus: http.StatusBadRequest, wantBody: map[string]any{"description": "Bad Request"}},
		{id: "O4", name: "plain error", reason: "unknown errors are 500 and their text is only logged",
			err: errors.New("database at 10.0.0.5 with " + bindSecret + " unreachable"), wantStatus: http.StatusInternalServerError},
		{id: "O4", name: "Error with an invalid status", reason: "a status outside 4xx/5xx cannot be sent as an error",
			err: &broker.Error{Status: http.StatusOK, Description: "fine"}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
				return broker.BindResponse{}, tt.err
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
			if res.status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if strings.Contains(string(res.body), bindSecret) {
				t.Errorf("body %s shows the error's cause", res.body)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, res.json); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestO4_BackendPanic: a panicking backend is a 500 with a JSON body, not
// a dropped connection.
func TestO4_BackendPanic(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
		panic("backend bug: " + bindSecret)
	}}
	res := do(t, newHandler(t, f), call{method: http.MethodPut, path: bindingPath, body: jsonBody(t, bindReqBody(nil))})
	if res.status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500; body %s", res.status, res.body)
	}
	if strings.Contains(string(res.body), bindSecret) {
		t.Errorf("body %s shows the panic value", res.body)
	}
}

// --- FB: fetch a binding ---

// TestFB1_NotRetrievable: a service_id hint of a service that is not
// bindings_retrievable is 404 without asking the backend.
func TestFB1_NotRetrievable(t *testing.T) {
	t.Parallel()
	notRetrievable := testCatalog()
	notRetrievable.Services[0].BindingsRetrievable = false
	tests := []struct {
		id, name, reason string
		catalog          *catalog.Catalog
		query            string
		wantStatus       int
		wantBackend      int
	}{
		{id: "FB1", name: "plain service hint", reason: "svcPlain is not bindings_retrievable",
			query: "?service_id=" + svcPlain + "&plan_id=" + planPlain, wantStatus: http.StatusNotFound},
		{id: "FB1", name: "retrievable turned off", reason: "svcBindable without bindings_retrievable",
			catalog: &notRetrievable, query: "?service_id=" + svcBindable, wantStatus: http.StatusNotFound},
		{id: "FB1/FB4", name: "retrievable service hint", reason: "svcBindable is bindings_retrievable",
			query: "?service_id=" + svcBindable + "&plan_id=" + planSmall, wantStatus: http.StatusOK, wantBackend: 1},
		{id: "FB4", name: "no hints", reason: "hints are optional; the backend is asked",
			wantStatus: http.StatusOK, wantBackend: 1},
		{id: "FB4", name: "unknown service hint", reason: "a hint we cannot judge does not block the fetch",
			query: "?service_id=unknown", wantStatus: http.StatusOK, wantBackend: 1},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			var h *broker.Handler
			if tt.catalog != nil {
				h, _ = newHandlerFor(t, *tt.catalog, f)
			} else {
				h = newHandler(t, f)
			}
			res := do(t, h, call{method: http.MethodGet, path: bindingPath + tt.query})
			if res.status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if n := f.called("GetBinding"); n != tt.wantBackend {
				t.Errorf("backend GetBinding called %d times, want %d", n, tt.wantBackend)
			}
		})
	}
}

// TestFB2_Body: a fetched binding has everything a 201 has, plus the
// parameters; the hints reach the backend.
func TestFB2_Body(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{getBinding: func(context.Context, *broker.GetBindingRequest) (broker.Binding, error) {
		return broker.Binding{
			Credentials:    broker.Credentials{"uri": "amqps://q", "password": "pw"},
			Metadata:       &broker.BindingMetadata{ExpiresAt: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
			SyslogDrainURL: "syslog://h:514",
			Endpoints:      []broker.Endpoint{{Host: "q", Ports: []string{"5671"}, Protocol: "tcp"}},
			Parameters:     broker.Parameters{"role": "writer", "count": 3},
		}, nil
	}}
	res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingPath + "?service_id=" + svcBindable + "&plan_id=" + planSmall})
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200 (FB2); body %s", res.status, res.body)
	}
	want := map[string]any{
		"credentials":      map[string]any{"uri": "amqps://q", "password": "pw"},
		"metadata":         map[string]any{"expires_at": "2026-12-31T23:59:59.0Z"},
		"syslog_drain_url": "syslog://h:514",
		"endpoints":        []any{map[string]any{"host": "q", "ports": []any{"5671"}, "protocol": "tcp"}},
		"parameters":       map[string]any{"role": "writer", "count": float64(3)},
	}
	if diff := cmp.Diff(want, res.json); diff != "" {
		t.Errorf("FB2 body mismatch (-want +got):\n%s", diff)
	}
	req, _ := f.lastRequest("GetBinding").(*broker.GetBindingRequest)
	if req == nil {
		t.Fatal("GetBinding not called")
	}
	got := [4]string{req.InstanceID, req.BindingID, req.ServiceID, req.PlanID}
	if diff := cmp.Diff([4]string{instanceID, bindingID, svcBindable, planSmall}, got); diff != "" {
		t.Errorf("GetBindingRequest IDs mismatch (-want +got):\n%s", diff)
	}
}

// TestFB2_Malformed: a fetched binding is checked like a created one (O2).
func TestFB2_Malformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		binding          broker.Binding
	}{
		{id: "FB2/O2", name: "route_service_url", reason: "svcBindable does not require route_forwarding",
			binding: broker.Binding{RouteServiceURL: "https://r"}},
		{id: "FB2/O2", name: "bad endpoint", reason: "70000 is no port",
			binding: broker.Binding{Endpoints: []broker.Endpoint{{Host: "h", Ports: []string{"70000"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{getBinding: func(context.Context, *broker.GetBindingRequest) (broker.Binding, error) { return tt.binding, nil }}
			res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingPath + "?service_id=" + svcBindable})
			if res.status != http.StatusInternalServerError {
				t.Errorf("status %d, want 500 (%s); body %s", res.status, tt.reason, res.body)
			}
		})
	}
}

// TestFB3_NotFound: a binding that does not exist, or is still being
// created, is 404.
func TestFB3_NotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		err              error
	}{
		{id: "FB3", name: "ErrBindingNotFound", reason: "no such binding, or not yet created", err: broker.ErrBindingNotFound},
		{id: "FB3", name: "ErrInstanceNotFound", reason: "no such instance, so no such binding", err: broker.ErrInstanceNotFound},
		{id: "FB3", name: "ErrGone", reason: "a deleted binding is not found", err: broker.ErrGone},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{getBinding: func(context.Context, *broker.GetBindingRequest) (broker.Binding, error) {
				return broker.Binding{}, tt.err
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingPath})
			if res.status != http.StatusNotFound {
				t.Errorf("status %d, want 404 (%s); body %s", res.status, tt.reason, res.body)
			}
		})
	}
}

// --- UB: unbind ---

// TestUB1_RequiredQuery: service_id and plan_id are required query
// parameters of an unbind.
func TestUB1_RequiredQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		wantStatus       int
	}{
		{id: "UB1", name: "no query", reason: "both are required", query: "", wantStatus: http.StatusBadRequest},
		{id: "UB1", name: "missing service_id", reason: "service_id is required", query: "?plan_id=" + planSmall, wantStatus: http.StatusBadRequest},
		{id: "UB1", name: "missing plan_id", reason: "plan_id is required", query: "?service_id=" + svcBindable, wantStatus: http.StatusBadRequest},
		{id: "UB1", name: "empty service_id", reason: "empty counts as missing", query: "?service_id=&plan_id=" + planSmall, wantStatus: http.StatusBadRequest},
		{id: "UB1", name: "empty plan_id", reason: "empty counts as missing", query: "?service_id=" + svcBindable + "&plan_id=", wantStatus: http.StatusBadRequest},
		{id: "UB1", name: "plan of another service", reason: "known IDs that do not belong together",
			query: "?service_id=" + svcBindable + "&plan_id=" + planPlain, wantStatus: http.StatusBadRequest},
		{id: "UB1/UB6", name: "IDs the catalog no longer has", reason: "a binding of a removed plan must still be deletable",
			query: "?service_id=gone-svc&plan_id=gone-plan", wantStatus: http.StatusOK},
		{id: "UB1", name: "both present", reason: "the ordinary unbind",
			query: "?service_id=" + svcBindable + "&plan_id=" + planSmall, wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), call{method: http.MethodDelete, path: bindingPath + tt.query})
			if res.status != tt.wantStatus {
				t.Errorf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			wantCalls := 0
			if tt.wantStatus < 400 {
				wantCalls = 1
			}
			if n := f.called("Unbind"); n != wantCalls {
				t.Errorf("backend Unbind called %d times, want %d", n, wantCalls)
			}
		})
	}
}

const unbindQuery = "?service_id=" + svcBindable + "&plan_id=" + planSmall

// TestUB3_Answers: 200 {} when done, 202 {"operation"} when in progress.
func TestUB3_Answers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		resp             broker.UnbindResponse
		wantStatus       int
		wantBody         map[string]any
	}{
		{id: "UB3", name: "done", reason: "a synchronous unbind is 200 {}",
			resp: broker.UnbindResponse{Outcome: broker.Done, Operation: "ignored"}, wantStatus: http.StatusOK, wantBody: map[string]any{}},
		{id: "UB3", name: "existed", reason: "nothing to do is still 200 {}",
			resp: broker.UnbindResponse{Outcome: broker.Existed}, wantStatus: http.StatusOK, wantBody: map[string]any{}},
		{id: "UB3", name: "accepted", reason: "an asynchronous unbind is 202 with the operation",
			query: "&accepts_incomplete=true", resp: broker.UnbindResponse{Outcome: broker.Accepted, Operation: "unbind-1"},
			wantStatus: http.StatusAccepted, wantBody: map[string]any{"operation": "unbind-1"}},
		{id: "UB3", name: "accepted without operation", reason: "operation is optional",
			query: "&accepts_incomplete=true", resp: broker.UnbindResponse{Outcome: broker.Accepted},
			wantStatus: http.StatusAccepted, wantBody: map[string]any{}},
		{id: "UB3/G15", name: "accepted without accepts_incomplete", reason: "a 202 the platform did not allow is a backend bug",
			resp: broker.UnbindResponse{Outcome: broker.Accepted, Operation: "unbind-1"}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{unbind: func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error) { return tt.resp, nil }}
			res := do(t, newHandler(t, f), call{method: http.MethodDelete, path: bindingPath + unbindQuery + tt.query})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, res.json); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestUB4_Gone: an unbind of a binding, or instance, that does not exist
// is 410 with {} and never 404.
func TestUB4_Gone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		err              error
	}{
		{id: "UB4", name: "ErrBindingNotFound", reason: "no such binding is 410", err: broker.ErrBindingNotFound},
		{id: "UB4", name: "ErrInstanceNotFound", reason: "no such instance, so no such binding", err: broker.ErrInstanceNotFound},
		{id: "UB4", name: "ErrGone", reason: "already deleted", err: broker.ErrGone},
		{id: "UB4", name: "wrapped", reason: "errors.As finds the sentinel", err: fmt.Errorf("x: %w", broker.ErrBindingNotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{unbind: func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error) {
				return broker.UnbindResponse{}, tt.err
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodDelete, path: bindingPath + unbindQuery})
			if res.status != http.StatusGone {
				t.Errorf("status %d, want 410 (%s); body %s", res.status, tt.reason, res.body)
			}
			if diff := cmp.Diff(map[string]any{}, res.json); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUB5_UnprocessableEntity: AsyncRequired and ConcurrencyError on unbind.
func TestUB5_UnprocessableEntity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		async            bool
		err              error
		wantCode         string
		wantBackend      int
	}{
		{id: "UB5", name: "AsyncRequired from RequireAsync", reason: "unbinds are async-only and accepts_incomplete is absent",
			async: true, wantCode: "AsyncRequired"},
		{id: "UB5", name: "AsyncRequired with accepts_incomplete=false", reason: "only true allows async",
			async: true, query: "&accepts_incomplete=false", wantCode: "AsyncRequired"},
		{id: "UB5", name: "AsyncRequired from the backend", reason: "a backend may decide per request",
			err: broker.ErrAsyncRequired, wantCode: "AsyncRequired", wantBackend: 1},
		{id: "UB5", name: "ConcurrencyError", reason: "another operation on the binding",
			err: broker.ErrConcurrency, wantCode: "ConcurrencyError", wantBackend: 1},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{unbind: func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error) {
				return broker.UnbindResponse{}, tt.err
			}}
			var opts []func(*broker.Options)
			if tt.async {
				opts = append(opts, asyncOnly(broker.ActionUnbind))
			}
			res := do(t, newHandler(t, f, opts...), call{method: http.MethodDelete, path: bindingPath + unbindQuery + tt.query})
			if res.status != http.StatusUnprocessableEntity {
				t.Errorf("status %d, want 422 (%s); body %s", res.status, tt.reason, res.body)
			}
			if got := res.json["error"]; got != tt.wantCode {
				t.Errorf("error %v, want %q", got, tt.wantCode)
			}
			if _, ok := res.json["instance_usable"]; ok {
				t.Errorf("body %s has instance_usable, which is for update and deprovision only (G8)", res.body)
			}
			if n := f.called("Unbind"); n != tt.wantBackend {
				t.Errorf("backend Unbind called %d times, want %d", n, tt.wantBackend)
			}
		})
	}
}

// TestUB_RequestFields: the unbind request carries the IDs and the
// catalog entries.
func TestUB_RequestFields(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	res := do(t, newHandler(t, f), call{method: http.MethodDelete, path: bindingPath + unbindQuery + "&accepts_incomplete=true"})
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.status, res.body)
	}
	req, _ := f.lastRequest("Unbind").(*broker.UnbindRequest)
	if req == nil {
		t.Fatal("Unbind not called")
	}
	type fields struct {
		InstanceID, BindingID, ServiceID, PlanID string
		HasService, HasPlan, Async               bool
	}
	got := fields{req.InstanceID, req.BindingID, req.ServiceID, req.PlanID, req.Service != nil, req.Plan != nil, req.AcceptsIncomplete}
	want := fields{instanceID, bindingID, svcBindable, planSmall, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UnbindRequest mismatch (-want +got):\n%s", diff)
	}
}

// --- LB: binding last operation ---

// TestLB1_State: the state and description are sent, instance_usable and
// update_repeatable never, even when the backend sets them.
func TestLB1_State(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		lo               broker.LastOperation
		wantStatus       int
		wantBody         map[string]any
	}{
		{id: "LB1", name: "in progress", reason: "the ordinary poll",
			lo: broker.LastOperation{State: broker.InProgress, Description: "Creating the user."}, wantStatus: http.StatusOK,
			wantBody: map[string]any{"state": "in progress", "description": "Creating the user."}},
		{id: "LB1", name: "succeeded", reason: "description is optional",
			lo: broker.LastOperation{State: broker.Succeeded}, wantStatus: http.StatusOK, wantBody: map[string]any{"state": "succeeded"}},
		{id: "LB1/G8", name: "failed with instance fields", reason: "there is no instance_usable or update_repeatable for bindings",
			lo:         broker.LastOperation{State: broker.Failed, Description: "IAM refused.", InstanceUsable: broker.Bool(false), UpdateRepeatable: broker.Bool(false)},
			wantStatus: http.StatusOK, wantBody: map[string]any{"state": "failed", "description": "IAM refused."}},
		{id: "LB1/O2", name: "unknown state", reason: "only the three states exist",
			lo: broker.LastOperation{State: "done"}, wantStatus: http.StatusInternalServerError},
		{id: "LB1/O2", name: "empty state", reason: "a forgotten state is a backend bug",
			lo: broker.LastOperation{}, wantStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bindingLastOp: func(context.Context, *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
				return tt.lo, nil
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingLastOpPath})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, res.json); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestLB2_Statuses: 404 for an unknown binding, 410 only via ErrGone, and
// never 400 because an optional hint is missing.
func TestLB2_Statuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		query            string
		err              error
		wantStatus       int
		wantBody         map[string]any
		wantReq          [3]string // service_id, plan_id, operation
	}{
		{id: "LB2", name: "ErrBindingNotFound", reason: "the binding does not exist",
			err: broker.ErrBindingNotFound, wantStatus: http.StatusNotFound,
			wantBody: map[string]any{"description": broker.ErrBindingNotFound.Description}},
		{id: "LB2", name: "ErrGone", reason: "an async unbind finished and is forgotten: 410 {}",
			err: broker.ErrGone, wantStatus: http.StatusGone, wantBody: map[string]any{}},
		{id: "LB2", name: "no hints", reason: "service_id, plan_id and operation are optional",
			wantStatus: http.StatusOK, wantBody: map[string]any{"state": "succeeded"}},
		{id: "LB2", name: "all hints", reason: "the hints and the percent-decoded operation reach the backend (G14)",
			query:      "?service_id=" + svcBindable + "&plan_id=" + planSmall + "&operation=op%2F1%20x",
			wantStatus: http.StatusOK, wantBody: map[string]any{"state": "succeeded"},
			wantReq: [3]string{svcBindable, planSmall, "op/1 x"}},
		{id: "LB2", name: "malformed query", reason: "a query that cannot be parsed is malformed",
			query: "?operation=%zz", wantStatus: http.StatusBadRequest},
		{id: "LB2/G17", name: "operation too long", reason: "tokens are at most 10,000 characters",
			query: "?operation=" + strings.Repeat("o", 10001), wantStatus: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bindingLastOp: func(context.Context, *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
				if tt.err != nil {
					return broker.LastOperation{}, tt.err
				}
				return broker.LastOperation{State: broker.Succeeded}, nil
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingLastOpPath + tt.query})
			if res.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s); body %s", res.status, tt.wantStatus, tt.reason, res.body)
			}
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, res.json); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
			if tt.wantStatus == http.StatusOK {
				req, _ := f.lastRequest("BindingLastOperation").(*broker.BindingLastOperationRequest)
				if req == nil {
					t.Fatal("BindingLastOperation not called")
				}
				if req.InstanceID != instanceID || req.BindingID != bindingID {
					t.Errorf("IDs %q/%q, want %q/%q", req.InstanceID, req.BindingID, instanceID, bindingID)
				}
				if diff := cmp.Diff(tt.wantReq, [3]string{req.ServiceID, req.PlanID, req.Operation}); diff != "" {
					t.Errorf("hints mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestLB4_RetryAfter: a positive RetryAfter is sent in whole seconds,
// rounded up.
func TestLB4_RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		retryAfter       time.Duration
		want             string
	}{
		{id: "LB4", name: "whole seconds", reason: "a duration in seconds, not a date", retryAfter: 30 * time.Second, want: "30"},
		{id: "LB4", name: "rounded up", reason: "1.5 s must not become 1 s", retryAfter: 1500 * time.Millisecond, want: "2"},
		{id: "LB4", name: "less than a second", reason: "a positive value never becomes 0", retryAfter: time.Millisecond, want: "1"},
		{id: "LB4", name: "zero", reason: "no header without a value", retryAfter: 0, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{bindingLastOp: func(context.Context, *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
				return broker.LastOperation{State: broker.InProgress, RetryAfter: tt.retryAfter}, nil
			}}
			res := do(t, newHandler(t, f), call{method: http.MethodGet, path: bindingLastOpPath})
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", res.status, res.body)
			}
			if got := res.header.Get("Retry-After"); got != tt.want {
				t.Errorf("Retry-After %q, want %q (%s)", got, tt.want, tt.reason)
			}
		})
	}
}

// TestFB1_PlanHintOnly: a plan_id hint alone is enough to know that the
// service does not allow fetching bindings.
func TestFB1_PlanHintOnly(t *testing.T) {
	f := &fakeBackend{}
	h := newHandler(t, f)
	r := do(t, h, call{method: "GET", path: "/v2/service_instances/i/service_bindings/b?plan_id=" + planPlain})
	if r.status != http.StatusNotFound || f.called("GetBinding") != 0 {
		t.Errorf("status %d, GetBinding called %d times; want 404 without a call", r.status, f.called("GetBinding"))
	}
}
