package brokertest_test

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/osbspec"
)

// The IDs of the test catalog.
const (
	dbServiceID    = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a01"
	smallPlanID    = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a02"
	largePlanID    = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a03"
	queueServiceID = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a11"
	basicPlanID    = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a12"
	premiumPlanID  = "6f0e8d3e-3b57-4a8e-9a36-0c7f1f0b5a13"
)

// testCatalog has one bindable, retrievable, plan_updateable service with
// two plans, and one service that is neither bindable nor
// plan_updateable.
func testCatalog() catalog.Catalog {
	createSchema := func() *catalog.Schemas {
		return &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
			Create: &catalog.InputParameters{Parameters: catalog.Schema{
				"$schema":  "http://json-schema.org/draft-07/schema#",
				"type":     "object",
				"required": []any{"name"},
				"properties": map[string]any{
					"name": map[string]any{"type": "string", "minLength": 1},
					"size": map[string]any{"type": "integer", "minimum": 1},
				},
			}},
		}}
	}
	mi := func() *catalog.MaintenanceInfo {
		return &catalog.MaintenanceInfo{Version: "1.0.0", Description: "The first release."}
	}
	return catalog.Catalog{Services: []catalog.Service{
		{
			ID: dbServiceID, Name: "brokertest-db", Description: "A database that exists only in memory.",
			Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true, PlanUpdateable: true,
			Tags: []string{"test"},
			Plans: []catalog.Plan{
				{ID: smallPlanID, Name: "small", Description: "A small database.", Schemas: createSchema(), MaintenanceInfo: mi()},
				{ID: largePlanID, Name: "large", Description: "A large database.", Free: catalog.Bool(false), Schemas: createSchema(), MaintenanceInfo: mi()},
			},
		},
		{
			ID: queueServiceID, Name: "brokertest-queue", Description: "A queue that cannot be bound.",
			Plans: []catalog.Plan{
				{ID: basicPlanID, Name: "basic", Description: "A basic queue."},
				{ID: premiumPlanID, Name: "premium", Description: "A premium queue."},
			},
		},
	}}
}

func testIndex(t testing.TB) *catalog.Index {
	t.Helper()
	idx, err := catalog.NewIndex(testCatalog())
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	return idx
}

var testCredential = broker.Credential{Username: "platform", Password: "s3cret-brokertest"}

// handlerFor serves the test catalog through backend, with Basic auth.
func handlerFor(t testing.TB, backend broker.ServiceBroker, optFns ...func(*broker.Options)) http.Handler {
	t.Helper()
	h, err := broker.New(testIndex(t), backend, broker.Options{Authenticator: broker.BasicAuth(testCredential)}, optFns...)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return h
}

const allActions = broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind

func TestRun(t *testing.T) {
	cat := testCatalog()
	base := brokertest.Config{
		Username: testCredential.Username, Password: testCredential.Password,
		Catalog:             &cat,
		ServiceID:           dbServiceID,
		PlanID:              smallPlanID,
		UpdatePlanID:        largePlanID,
		ProvisionParameters: map[string]any{"name": "alpha", "size": 1},
		UpdateParameters:    map[string]any{"size": 2},
		BindParameters:      map[string]any{"role": "reader"},
		PollOptions:         brokertest.PollOptions{Interval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Timeout: 10 * time.Second},
	}
	tests := []struct {
		name    string
		memory  brokertest.MemoryOptions
		options func(*broker.Options)
		config  func(*brokertest.Config)
	}{{
		name:   "async",
		memory: brokertest.MemoryOptions{Async: true, RetryAfter: time.Hour},
		config: func(c *brokertest.Config) { c.Async, c.RequireAsync = true, allActions },
	}, {
		// The handler, not the backend, answers AsyncRequired.
		name:    "async-handler-requires-async",
		memory:  brokertest.MemoryOptions{Async: true, PollsToComplete: 3},
		options: func(o *broker.Options) { o.RequireAsync = allActions },
		config:  func(c *brokertest.Config) { c.Async, c.RequireAsync = true, allActions },
	}, {
		name:   "sync",
		memory: brokertest.MemoryOptions{},
	}, {
		// A synchronous backend may ignore accepts_incomplete=true.
		name:   "sync-accepts-incomplete",
		memory: brokertest.MemoryOptions{},
		config: func(c *brokertest.Config) { c.Async = true },
	}, {
		name:    "missing-version-400",
		memory:  brokertest.MemoryOptions{Async: true},
		options: func(o *broker.Options) { o.MissingVersionStatus = http.StatusBadRequest },
		config: func(c *brokertest.Config) {
			c.Async, c.RequireAsync, c.MissingVersionStatus = true, allActions, http.StatusBadRequest
		},
	}, {
		name:   "not-bindable-unauthenticated",
		memory: brokertest.MemoryOptions{Async: true},
		options: func(o *broker.Options) {
			o.Authenticator, o.Unauthenticated = nil, true
		},
		config: func(c *brokertest.Config) {
			c.Username, c.Password = "", ""
			c.ServiceID, c.PlanID, c.UpdatePlanID = queueServiceID, basicPlanID, ""
			c.ProvisionParameters, c.UpdateParameters, c.BindParameters = map[string]any{"name": "q"}, map[string]any{"depth": 5}, nil
			c.Async, c.RequireAsync = true, broker.ActionProvision|broker.ActionUpdate|broker.ActionDeprovision
		},
	}, {
		name:   "picked-by-the-suite",
		memory: brokertest.MemoryOptions{},
		config: func(c *brokertest.Config) {
			c.ServiceID, c.PlanID, c.UpdatePlanID = "", "", ""
			c.ProvisionParameters = map[string]any{"name": "picked"}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := brokertest.NewMemory(testIndex(t), tt.memory)
			var optFns []func(*broker.Options)
			if tt.options != nil {
				optFns = append(optFns, tt.options)
			}
			cfg := base
			cfg.Check = osbspec.Check(t)
			if tt.config != nil {
				tt.config(&cfg)
			}
			t.Run("suite", func(t *testing.T) {
				brokertest.Run(t, handlerFor(t, m, optFns...), cfg)
			})
			if ids := m.InstanceIDs(); len(ids) > 0 {
				t.Errorf("instances left after the suite's cleanup: %v", ids)
			}
		})
	}
}

// TestOpenAPICheck makes sure the openapi.yaml check used by TestRun
// can fail.
func TestOpenAPICheck(t *testing.T) {
	v, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		method, path string
		status       int
		body         string
		valid        bool
	}{
		{"GET", "/v2/service_instances/x/last_operation", 200, `{"state":"succeeded"}`, true},
		{"GET", "/v2/service_instances/x/last_operation", 200, `{"description":"no state"}`, false},
		{"GET", "/v2/service_instances/x/last_operation", 200, `{"state":"bogus"}`, false},
		{"GET", "/v2/catalog", 200, `{"services":[]}`, true},
		{"GET", "/v2/catalog", 200, `{"services":[{"id":"x"}]}`, false},
		{"PUT", "/v2/service_instances/x/service_bindings/y", 201, `{"credentials":"not an object"}`, false},
		{"PUT", "/v2/service_instances/x", 412, `not even JSON`, true}, // 412 is not in openapi.yaml
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		err := v.ValidateResponse(r, tt.status, json, []byte(tt.body))
		if (err == nil) != tt.valid {
			t.Errorf("%s %s %d %s: err = %v; want valid = %v", tt.method, tt.path, tt.status, tt.body, err, tt.valid)
		}
	}
}

// faults are handlers with one known fault each, and the checks that
// must catch it: a suite that passes everything is worth nothing.
var faults = map[string]struct {
	wrap   func(next http.Handler) http.Handler
	failed []string
}{
	"catalog-without-auth": {
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/catalog" {
					r.SetBasicAuth(testCredential.Username, testCredential.Password)
				}
				next.ServeHTTP(w, r)
			})
		},
		failed: []string{"G1/no-credentials-401/catalog", "G1/wrong-credentials-401/catalog"},
	},
	"catalog-breaks-rules": {
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/catalog" {
					next.ServeHTTP(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"services":[
					{"id":"s1","name":"bad name","description":"d","bindable":"yes","plans":[
						{"id":"p1","name":"p","description":"","free":"no","maintenance_info":{"version":"1.x"},
						 "schemas":{"service_instance":{"create":{"parameters":{"type":"object","$ref":"http://example.com/s.json"}}}}}]},
					{"id":"p1","name":"other","description":"x","bindable":false,"plans":[]}]}`)
			})
		},
		failed: []string{"C2/ids-unique-and-stable", "C3/service-names", "C5/descriptions", "C6/bindable", "C7/plans",
			"C13/free-and-binding-rotatable", "C14/schemas", "C16/maintenance-info"},
	},
	"404-on-delete": {
		wrap: rewrite(func(r *http.Request, h http.Header, code int) int {
			if code == http.StatusGone && r.Method == http.MethodDelete {
				return http.StatusNotFound
			}
			return code
		}),
		failed: []string{"D4/deprovision-again-410", "D4/unknown-instance-410", "UB4/unbind-again-410"},
	},
	"plain-text-412": {
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Broker-API-Version") == "" {
					http.Error(w, "version required", http.StatusPreconditionFailed)
					return
				}
				next.ServeHTTP(w, r)
			})
		},
		failed: []string{"G3/missing-version-412/catalog", "G3/missing-version-412/bind"},
	},
	"request-identity-not-echoed": {
		wrap: rewrite(func(_ *http.Request, h http.Header, code int) int {
			h.Del("X-Broker-API-Request-Identity")
			return code
		}),
		failed: []string{"G6/request-identity-echoed"},
	},
	"retry-after-date": {
		wrap: rewrite(func(_ *http.Request, h http.Header, code int) int {
			if h.Get("Retry-After") != "" {
				h.Set("Retry-After", time.Now().Add(time.Second).UTC().Format(http.TimeFormat))
			}
			return code
		}),
		failed: []string{"LI1/in-progress", "LB1/in-progress"},
	},
	"unknown-fields-rejected": {
		wrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Body != nil {
					b, _ := io.ReadAll(r.Body)
					if bytes.Contains(b, []byte("brokertest_unknown_field")) {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusBadRequest)
						_, _ = w.Write([]byte(`{"description":"unknown field"}`))
						return
					}
					r.Body = io.NopCloser(bytes.NewReader(b))
				}
				next.ServeHTTP(w, r)
			})
		},
		failed: []string{"G13/unknown-fields-ignored"},
	},
	"same-operation-forgotten": {
		wrap: func(next http.Handler) http.Handler {
			seen := map[string]bool{}
			var mu sync.Mutex
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// A second PUT of an instance in progress gets 500.
				if r.Method == http.MethodPut && r.URL.Query().Get("accepts_incomplete") == "true" {
					mu.Lock()
					again := seen[r.URL.Path]
					seen[r.URL.Path] = true
					mu.Unlock()
					if again {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusInternalServerError)
						_, _ = w.Write([]byte(`{"description":"again?"}`))
						return
					}
				}
				next.ServeHTTP(w, r)
			})
		},
		failed: []string{"P5/repeat-in-progress-202-same-operation", "B4/repeat-in-progress-202-same-operation"},
	},
}

// rewrite returns a fault that edits the status and headers of every
// response.
func rewrite(f func(r *http.Request, h http.Header, code int) int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&rewriter{ResponseWriter: w, r: r, f: f}, r)
		})
	}
}

type rewriter struct {
	http.ResponseWriter
	r *http.Request
	f func(r *http.Request, h http.Header, code int) int
}

func (rw *rewriter) WriteHeader(code int) {
	rw.ResponseWriter.WriteHeader(rw.f(rw.r, rw.ResponseWriter.Header(), code))
}

// TestRunFindsFaults runs the suite against each faulty handler in a
// child process, since a failing subtest would fail this test too, and
// reads the verdicts from its -test.v output.
func TestRunFindsFaults(t *testing.T) {
	if os.Getenv("BROKERTEST_FAULT") != "" {
		t.Skip("running as a child")
	}
	if testing.Short() {
		t.Skip("starts a child process per fault")
	}
	for _, name := range slices.Sorted(maps.Keys(faults)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFaultyBroker$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "BROKERTEST_FAULT="+name)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("the child should fail; err = %v\n%s", err, out)
			}
			for _, check := range faults[name].failed {
				if !bytes.Contains(out, []byte("--- FAIL: TestFaultyBroker/"+check+" ")) {
					t.Errorf("the suite did not fail %s", check)
				}
			}
			if t.Failed() {
				t.Logf("child output:\n%s", out)
			}
		})
	}
}

// TestFaultyBroker is run by TestRunFindsFaults; on its own it skips.
func TestFaultyBroker(t *testing.T) {
	name := os.Getenv("BROKERTEST_FAULT")
	if name == "" {
		t.Skip("run by TestRunFindsFaults")
	}
	m := brokertest.NewMemory(testIndex(t), brokertest.MemoryOptions{Async: true, RetryAfter: time.Second})
	brokertest.Run(t, faults[name].wrap(handlerFor(t, m)), brokertest.Config{
		Username: testCredential.Username, Password: testCredential.Password,
		ServiceID: dbServiceID, PlanID: smallPlanID,
		ProvisionParameters: map[string]any{"name": "x"},
		Async:               true,
		PollOptions:         brokertest.PollOptions{Interval: time.Millisecond, MaxInterval: time.Millisecond, Timeout: 10 * time.Second},
	})
}
