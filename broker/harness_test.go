package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
	"github.com/brokerkit/brokerkit/internal/osbspec"
)

// IDs of the test catalog.
const (
	svcBindable = "6b1c8c8e-0000-4000-8000-000000000001" // bindable, retrievable, requires syslog_drain
	planSmall   = "6b1c8c8e-0000-4000-8000-000000000011" // maintenance 1.0.0, schemas, plan_updateable
	planLarge   = "6b1c8c8e-0000-4000-8000-000000000012" // not plan_updateable (inherits), rotatable
	planNoBind  = "6b1c8c8e-0000-4000-8000-000000000013" // bindable: false override
	svcPlain    = "6b1c8c8e-0000-4000-8000-000000000002" // not bindable, not retrievable
	planPlain   = "6b1c8c8e-0000-4000-8000-000000000021"
	instanceID  = "inst-1"
	bindingID   = "bind-1"
	testUser    = "platform"
	testPass    = "s3cret-pa55"
)

func testCatalog() catalog.Catalog {
	createSchema := catalog.Schema{
		"$schema": "http://json-schema.org/draft-04/schema#",
		"type":    "object",
		"properties": map[string]any{
			"name":     map[string]any{"type": "string", "pattern": "^[a-z]+$"},
			"size":     map[string]any{"type": "integer", "minimum": 1},
			"password": map[string]any{"type": "string", "minLength": 8},
		},
		"required": []any{"name"},
	}
	updateSchema := catalog.Schema{
		"$schema":    "http://json-schema.org/draft-04/schema#",
		"type":       "object",
		"properties": map[string]any{"size": map[string]any{"type": "integer", "minimum": 1}},
	}
	bindSchema := catalog.Schema{
		"$schema":    "http://json-schema.org/draft-07/schema#",
		"type":       "object",
		"properties": map[string]any{"role": map[string]any{"enum": []any{"reader", "writer"}}},
	}
	return catalog.Catalog{Services: []catalog.Service{
		{
			ID: svcBindable, Name: "queue", Description: "A queue.", Bindable: true,
			InstancesRetrievable: true, BindingsRetrievable: true, AllowContextUpdates: true,
			Requires: []string{catalog.RequiresSyslogDrain},
			Plans: []catalog.Plan{
				{ID: planSmall, Name: "small", Description: "Small.", PlanUpdateable: catalog.Bool(true),
					MaintenanceInfo: &catalog.MaintenanceInfo{Version: "1.0.0"},
					Schemas: &catalog.Schemas{
						ServiceInstance: &catalog.ServiceInstanceSchemas{
							Create: &catalog.InputParameters{Parameters: createSchema},
							Update: &catalog.InputParameters{Parameters: updateSchema}},
						ServiceBinding: &catalog.ServiceBindingSchemas{Create: &catalog.InputParameters{Parameters: bindSchema}},
					}},
				{ID: planLarge, Name: "large", Description: "Large.", BindingRotatable: true,
					MaintenanceInfo: &catalog.MaintenanceInfo{Version: "2.0.0"}},
				{ID: planNoBind, Name: "unbindable", Description: "Not bindable.", Bindable: catalog.Bool(false)},
			},
		},
		{
			ID: svcPlain, Name: "plain", Description: "Plain.",
			Plans: []catalog.Plan{{ID: planPlain, Name: "only", Description: "The only plan."}},
		},
	}}
}

// fakeBackend is a scripted backend: each method calls its function field
// if set, else answers a plain success. It records the last request of
// each kind.
type fakeBackend struct {
	mu sync.Mutex

	provision     func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error)
	update        func(context.Context, *broker.UpdateRequest) (broker.UpdateResponse, error)
	deprovision   func(context.Context, *broker.DeprovisionRequest) (broker.DeprovisionResponse, error)
	lastOperation func(context.Context, *broker.LastOperationRequest) (broker.LastOperation, error)
	getInstance   func(context.Context, *broker.GetInstanceRequest) (broker.Instance, error)
	bind          func(context.Context, *broker.BindRequest) (broker.BindResponse, error)
	unbind        func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error)
	bindingLastOp func(context.Context, *broker.BindingLastOperationRequest) (broker.LastOperation, error)
	getBinding    func(context.Context, *broker.GetBindingRequest) (broker.Binding, error)

	calls map[string]int
	last  map[string]any
}

var (
	_ broker.ServiceBroker  = (*fakeBackend)(nil)
	_ broker.Binder         = (*fakeBackend)(nil)
	_ broker.InstanceGetter = (*fakeBackend)(nil)
	_ broker.BindingGetter  = (*fakeBackend)(nil)
)

func (f *fakeBackend) record(name string, req any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls, f.last = map[string]int{}, map[string]any{}
	}
	f.calls[name]++
	f.last[name] = req
}

// called returns how often the named method ran.
func (f *fakeBackend) called(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// lastRequest returns the last request the named method got, or nil.
func (f *fakeBackend) lastRequest(name string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last[name]
}

func (f *fakeBackend) Provision(ctx context.Context, req *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
	f.record("Provision", req)
	if f.provision != nil {
		return f.provision(ctx, req)
	}
	return broker.ProvisionResponse{Outcome: broker.Done}, nil
}

func (f *fakeBackend) Update(ctx context.Context, req *broker.UpdateRequest) (broker.UpdateResponse, error) {
	f.record("Update", req)
	if f.update != nil {
		return f.update(ctx, req)
	}
	return broker.UpdateResponse{Outcome: broker.Done}, nil
}

func (f *fakeBackend) Deprovision(ctx context.Context, req *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
	f.record("Deprovision", req)
	if f.deprovision != nil {
		return f.deprovision(ctx, req)
	}
	return broker.DeprovisionResponse{Outcome: broker.Done}, nil
}

func (f *fakeBackend) LastOperation(ctx context.Context, req *broker.LastOperationRequest) (broker.LastOperation, error) {
	f.record("LastOperation", req)
	if f.lastOperation != nil {
		return f.lastOperation(ctx, req)
	}
	return broker.LastOperation{State: broker.Succeeded}, nil
}

func (f *fakeBackend) GetInstance(ctx context.Context, req *broker.GetInstanceRequest) (broker.Instance, error) {
	f.record("GetInstance", req)
	if f.getInstance != nil {
		return f.getInstance(ctx, req)
	}
	return broker.Instance{ServiceID: svcBindable, PlanID: planSmall}, nil
}

func (f *fakeBackend) Bind(ctx context.Context, req *broker.BindRequest) (broker.BindResponse, error) {
	f.record("Bind", req)
	if f.bind != nil {
		return f.bind(ctx, req)
	}
	return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{Credentials: broker.Credentials{"QueueURL": "https://q"}}}, nil
}

func (f *fakeBackend) Unbind(ctx context.Context, req *broker.UnbindRequest) (broker.UnbindResponse, error) {
	f.record("Unbind", req)
	if f.unbind != nil {
		return f.unbind(ctx, req)
	}
	return broker.UnbindResponse{Outcome: broker.Done}, nil
}

func (f *fakeBackend) BindingLastOperation(ctx context.Context, req *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
	f.record("BindingLastOperation", req)
	if f.bindingLastOp != nil {
		return f.bindingLastOp(ctx, req)
	}
	return broker.LastOperation{State: broker.Succeeded}, nil
}

func (f *fakeBackend) GetBinding(ctx context.Context, req *broker.GetBindingRequest) (broker.Binding, error) {
	f.record("GetBinding", req)
	if f.getBinding != nil {
		return f.getBinding(ctx, req)
	}
	return broker.Binding{Credentials: broker.Credentials{"QueueURL": "https://q"}}, nil
}

// newHandler builds a handler over testCatalog and f with basic auth.
func newHandler(t testing.TB, f *fakeBackend, optFns ...func(*broker.Options)) *broker.Handler {
	t.Helper()
	idx, err := catalog.NewIndex(testCatalog())
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	h, err := broker.New(idx, f, broker.Options{Authenticator: broker.BasicAuth(broker.Credential{Username: testUser, Password: testPass}),
		Logger: canary.Logger(t)}, optFns...)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return h
}

// call is one request to the handler.
type call struct {
	method, path string
	body         string
	// header overrides; a nil value deletes the header.
	header map[string]*string
}

func str(s string) *string { return &s }

// response is a recorded answer, already checked for the rules every
// response obeys.
type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// do sends c to h as a platform would (basic auth, version 2.17) and
// checks what every answer must be (G7, G11) and, for the routes the OSB
// OpenAPI document knows, its schema.
func do(t testing.TB, h http.Handler, c call) response {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, c.path, body)
	req.SetBasicAuth(testUser, testPass)
	req.Header.Set("X-Broker-API-Version", "2.17")
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		if v == nil {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, *v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkCommon(t, req, &res)
	return res
}

// checkCommon asserts G7 and G11 and validates against openapi.yaml.
func checkCommon(t testing.TB, req *http.Request, res *response) {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json (G11)", req.Method, req.URL, ct)
	}
	if err := json.Unmarshal(res.body, &res.json); err != nil {
		t.Errorf("%s %s: body %q is not a JSON object (G11): %v", req.Method, req.URL, res.body, err)
	}
	if res.status >= 400 {
		for _, k := range []string{"error", "description"} {
			if v, ok := res.json[k]; ok {
				if s, isStr := v.(string); !isStr || s == "" {
					t.Errorf("%s %s: error body field %q = %v, want a non-empty string (G7)", req.Method, req.URL, k, v)
				}
			}
		}
	}
	if res.status >= 500 {
		return // the document defines no 5xx bodies
	}
	v, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateResponse(req, res.status, res.header, res.body); err != nil && !errors.Is(err, osbspec.ErrUnknownRoute) {
		t.Errorf("openapi.yaml: %v", err)
	}
}

// jsonBody marshals v for a call body.
func jsonBody(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// provisionBody is a valid provision body for planSmall.
func provisionBody(overrides map[string]any) map[string]any {
	b := map[string]any{
		"service_id": svcBindable, "plan_id": planSmall,
		"organization_guid": "org", "space_guid": "space",
		"parameters": map[string]any{"name": "abc"},
		"context":    map[string]any{"platform": "kubernetes", "namespace": "ns"},
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
