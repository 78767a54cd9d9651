package brokertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
)

// Config tells [Run] what to expect of a broker and what to ask of it.
// The zero value drives an unauthenticated broker that answers
// synchronously, with the first service and plan of its catalog.
type Config struct {
	// Username and Password are the broker's HTTP Basic credentials.
	// Empty means the broker is unauthenticated, and the 401 checks are
	// skipped.
	Username string
	Password string

	// Catalog, if not nil, is the catalog the broker must serve: the one
	// it serves must equal it as JSON.
	Catalog *catalog.Catalog
	// ServiceID and PlanID name the plan to provision. Empty picks one: the
	// first service with a bindable plan (or else the first service), and
	// its first bindable plan (or else its first plan).
	ServiceID string
	PlanID    string
	// UpdatePlanID, if not empty, is a plan of the same service to change
	// to; the plan change is checked when PlanID is plan_updateable.
	UpdatePlanID string

	// ProvisionParameters, UpdateParameters and BindParameters are the
	// parameters sent; each may be nil. They must satisfy the plan's
	// schemas. UpdateParameters should differ from ProvisionParameters so
	// that the update changes something. If ProvisionParameters or
	// BindParameters have a string value, the conflict checks (P6, B6)
	// change it to get different attributes.
	ProvisionParameters map[string]any
	UpdateParameters    map[string]any
	BindParameters      map[string]any

	// Async sends accepts_incomplete=true with every provision, update,
	// deprovision, bind and unbind, and allows 202 answers.
	Async bool
	// RequireAsync lists the actions the broker performs only
	// asynchronously: their requests without accepts_incomplete=true must
	// be answered 422 AsyncRequired (P7, U5, D5, B7, UB5). It needs Async.
	RequireAsync broker.Action
	// MissingVersionStatus is the status expected for a request without
	// X-Broker-API-Version: 412 (when zero) or 400.
	MissingVersionStatus int

	// PollOptions pace the last_operation polling (see [PollOptions]);
	// their ServiceID and PlanID are ignored.
	PollOptions PollOptions

	// Check, if not nil, is called with every response the suite
	// receives, within the subtest that received it, after the body was
	// read into body. Use it to validate responses against the OSB
	// openapi.yaml, for instance.
	Check func(t *testing.T, r *http.Request, resp *http.Response, body []byte)

	// Skip names checks not to run, such as "G14/percent-encoded-ids",
	// each with the reason, which the skipped subtest reports: known
	// deviations of a broker, to be removed once fixed.
	Skip map[string]string
}

// Run checks that handler serves the OSB API v2.17 as the conformance
// checklist requires. It serves handler with an [httptest.Server] and
// drives it over HTTP with a [Client], as a platform would: it fetches and
// checks the catalog, probes authentication, versioning and validation on
// every endpoint, and then walks one instance through provision, update,
// bind, unbind and deprovision, repeating and conflicting requests along
// the way to check the idempotency rules.
//
// Each check is a subtest named after its checklist ID and what it checks,
// such as "G1/no-credentials-401" or "P5/repeat-in-progress-202-same-operation";
// a check that does not apply is skipped, saying why. Checks that run on
// every response (JSON content type and body, error body fields, status
// codes the spec never uses, operation tokens, last_operation bodies and
// Retry-After) report failures with the ID first, in the subtest that
// received the response.
//
// Every instance and binding ID is a fresh random UUID. Every instance or
// binding the suite may have created is deleted at the end, through the
// broker, even when a check fails; a failing delete fails the test.
//
// The checks run in order, and later ones build on earlier ones: the
// lifecycle checks skip themselves when the instance they need could not
// be created, and selecting checks with -run skips those whose
// prerequisites were not selected. Run must be called from the test's own
// goroutine; it calls t.Fatal if cfg is inconsistent or the catalog cannot
// be fetched.
func Run(t *testing.T, handler http.Handler, cfg Config) {
	t.Helper()
	if cfg.RequireAsync != 0 && !cfg.Async {
		t.Fatal("brokertest: Config.RequireAsync needs Config.Async")
	}
	switch cfg.MissingVersionStatus {
	case 0:
		cfg.MissingVersionStatus = http.StatusPreconditionFailed
	case http.StatusPreconditionFailed, http.StatusBadRequest:
	default:
		t.Fatalf("brokertest: Config.MissingVersionStatus must be 412 or 400, not %d", cfg.MissingVersionStatus)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close) // registered first, so it runs after every delete
	s := &suite{t: t, cfg: cfg, url: srv.URL, poll: cfg.PollOptions.withDefaults(),
		org: NewUUID(), space: NewUUID(), appGUID: NewUUID(), tracked: map[string]*trackedInstance{}}
	s.poll.ServiceID, s.poll.PlanID = "", ""

	// The catalog is fetched outside any subtest, so that -run can select
	// any check; C1/catalog-200 reports on it.
	err := s.fetchCatalog(t.Context(), s.client(t))
	if s.rawCatalog == nil {
		t.Fatalf("brokertest: cannot go on without a catalog: %v", err)
	}
	s.run("C1/catalog-200", func(t *testing.T, c *Client) {
		resp, err := c.Catalog(t.Context())
		want(t, resp, err, http.StatusOK)
	})
	s.catalogChecks()
	if err != nil {
		t.Fatalf("brokertest: cannot go on with this catalog: %v", err)
	}
	if !s.pick(t) {
		return
	}
	s.generalChecks()
	s.provisionChecks()
	s.updateChecks()
	s.bindingChecks()
	s.deprovisionChecks()
}

// suite is one run of the conformance checks. Its methods run on the
// test's goroutine, one subtest at a time.
type suite struct {
	t    *testing.T
	cfg  Config
	url  string
	poll PollOptions

	org, space, appGUID string

	rawCatalog map[string]any
	catalog    catalog.Catalog
	svc        *catalog.Service
	plan       *catalog.Plan
	updatePlan *catalog.Plan
	otherPlan  *catalog.Plan    // another plan of svc, or nil
	otherSvc   *catalog.Service // another service with a plan, or nil

	tracked map[string]*trackedInstance

	// The instance the lifecycle checks walk through, and what happened
	// to it.
	inst           *trackedInstance
	provisioned    bool
	provisionAsync bool
	deleted        bool
	bound          bool
}

type trackedInstance struct {
	id     string
	planID string // its plan now, for the delete's query
}

type trackedBinding struct {
	instanceID, id, planID string
}

// run runs f as a subtest with a Client whose responses are checked.
func (s *suite) run(name string, f func(t *testing.T, c *Client)) bool {
	return s.t.Run(name, func(t *testing.T) {
		if reason, ok := s.cfg.Skip[name]; ok {
			t.Skip("Config.Skip: " + reason)
		}
		f(t, s.client(t))
	})
}

// client returns a Client for t: every response it receives is checked
// and handed to Config.Check, failing t.
func (s *suite) client(t *testing.T) *Client {
	return NewClient(s.url, ClientOptions{
		Username:            s.cfg.Username,
		Password:            s.cfg.Password,
		OriginatingIdentity: OriginatingIdentity("brokertest", map[string]any{"user_id": "brokertest"}),
		OnResponse: func(r *http.Request, resp *http.Response, body []byte) {
			t.Helper()
			checkResponse(t, r, resp, body)
			if s.cfg.Check != nil {
				s.cfg.Check(t, r, resp, body)
			}
		},
	})
}

func (s *suite) context() map[string]any {
	return map[string]any{"platform": "brokertest", "instance_name": "brokertest"}
}

func (s *suite) async() url.Values { return incomplete(s.cfg.Async) }

func (s *suite) pollOpts(planID string) PollOptions {
	o := s.poll
	o.ServiceID, o.PlanID = s.svc.ID, planID
	return o
}

// trackInstance makes sure the instance id is deleted at the end.
func (s *suite) trackInstance(id, planID string) *trackedInstance {
	if tr := s.tracked[id]; tr != nil {
		return tr
	}
	tr := &trackedInstance{id: id, planID: planID}
	s.tracked[id] = tr
	s.t.Cleanup(func() { s.deleteInstance(tr) })
	return tr
}

// trackBinding makes sure the binding is deleted at the end, before its
// instance.
func (s *suite) trackBinding(instanceID, id, planID string) {
	tb := &trackedBinding{instanceID: instanceID, id: id, planID: planID}
	s.t.Cleanup(func() { s.deleteBinding(tb) })
}

// cleanupContext is for deletes at the end: t.Context is canceled by then.
func (s *suite) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.poll.Timeout)
}

func (s *suite) deleteInstance(tr *trackedInstance) {
	t := s.t
	c := s.client(t)
	ctx, cancel := s.cleanupContext()
	defer cancel()
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := c.Deprovision(ctx, DeprovisionRequest{InstanceID: tr.id, ServiceID: s.svc.ID, PlanID: tr.planID, AcceptsIncomplete: true})
		if err != nil {
			t.Errorf("cleanup: deprovisioning instance %s: %v", tr.id, err)
			return
		}
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusGone:
			return
		case resp.StatusCode == http.StatusAccepted:
			lo, err := c.PollLastOperation(ctx, tr.id, resp.Value.Operation, s.pollOpts(tr.planID))
			switch {
			case errors.Is(err, ErrGone):
			case err != nil:
				t.Errorf("cleanup: deprovisioning instance %s: %v", tr.id, err)
			case lo.State == broker.Failed:
				t.Errorf("cleanup: deprovisioning instance %s failed: %s", tr.id, lo.Description)
			}
			return
		case isConcurrencyError(resp):
			// Another operation is running: wait for it, then try again.
			_, _ = c.PollLastOperation(ctx, tr.id, "", s.pollOpts(tr.planID))
		default:
			t.Errorf("cleanup: deprovisioning instance %s: %v", tr.id, resp.Err())
			return
		}
	}
	t.Errorf("cleanup: deprovisioning instance %s: still ConcurrencyError after 3 tries", tr.id)
}

func (s *suite) deleteBinding(tb *trackedBinding) {
	t := s.t
	c := s.client(t)
	ctx, cancel := s.cleanupContext()
	defer cancel()
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := c.Unbind(ctx, UnbindRequest{InstanceID: tb.instanceID, BindingID: tb.id, ServiceID: s.svc.ID,
			PlanID: tb.planID, AcceptsIncomplete: true})
		if err != nil {
			t.Errorf("cleanup: unbinding %s: %v", tb.id, err)
			return
		}
		switch {
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusGone:
			return
		case resp.StatusCode == http.StatusAccepted:
			lo, err := c.PollBindingLastOperation(ctx, tb.instanceID, tb.id, resp.Value.Operation, s.pollOpts(tb.planID))
			switch {
			case errors.Is(err, ErrGone):
			case err != nil:
				t.Errorf("cleanup: unbinding %s: %v", tb.id, err)
			case lo.State == broker.Failed:
				t.Errorf("cleanup: unbinding %s failed: %s", tb.id, lo.Description)
			}
			return
		case isConcurrencyError(resp):
			_, _ = c.PollBindingLastOperation(ctx, tb.instanceID, tb.id, "", s.pollOpts(tb.planID))
		default:
			t.Errorf("cleanup: unbinding %s: %v", tb.id, resp.Err())
			return
		}
	}
	t.Errorf("cleanup: unbinding %s: still ConcurrencyError after 3 tries", tb.id)
}

// --- expectations ---

// want reports whether resp has one of the statuses, and fails t if not.
func want[T any](t *testing.T, resp *Response[T], err error, statuses ...int) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%v", err)
		return false
	}
	if slices.Contains(statuses, resp.StatusCode) {
		return true
	}
	t.Errorf("%s %s answered %s; want %s", resp.method, resp.path, describe(resp), statusList(statuses))
	return false
}

// wantError is want for an error status with an OSB error code ("" for
// any).
func wantError[T any](t *testing.T, resp *Response[T], err error, status int, code string) bool {
	t.Helper()
	if !want(t, resp, err, status) {
		return false
	}
	if code != "" && (resp.Error == nil || resp.Error.Code != code) {
		got := ""
		if resp.Error != nil {
			got = resp.Error.Code
		}
		t.Errorf("%s %s answered %d with error %q; want %q", resp.method, resp.path, resp.StatusCode, got, code)
		return false
	}
	return true
}

func isConcurrencyError[T any](resp *Response[T]) bool {
	return resp.StatusCode == http.StatusUnprocessableEntity && resp.Error != nil && resp.Error.Code == broker.CodeConcurrencyError
}

// describe summarises a response without its body, which may hold
// credentials: the status, and for errors the code and description.
func describe[T any](resp *Response[T]) string {
	s := strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	if resp.Error != nil {
		if resp.Error.Code != "" {
			s += " (" + resp.Error.Code + ")"
		}
		if resp.Error.Description != "" {
			s += ": " + strconv.Quote(resp.Error.Description)
		}
	}
	return s
}

func statusList(statuses []int) string {
	parts := make([]string, len(statuses))
	for i, st := range statuses {
		parts[i] = strconv.Itoa(st)
	}
	return strings.Join(parts, " or ")
}

// pollInstance polls to the end of an operation and reports whether it
// succeeded (or, with goneOK, ended in 410 Gone).
func (s *suite) pollInstance(t *testing.T, c *Client, id, op, planID string, goneOK bool) bool {
	t.Helper()
	lo, err := c.PollLastOperation(t.Context(), id, op, s.pollOpts(planID))
	return s.pollResult(t, lo, err, goneOK)
}

func (s *suite) pollBinding(t *testing.T, c *Client, instanceID, id, op, planID string, goneOK bool) bool {
	t.Helper()
	lo, err := c.PollBindingLastOperation(t.Context(), instanceID, id, op, s.pollOpts(planID))
	return s.pollResult(t, lo, err, goneOK)
}

func (s *suite) pollResult(t *testing.T, lo LastOperation, err error, goneOK bool) bool {
	t.Helper()
	switch {
	case errors.Is(err, ErrGone) && goneOK:
		return true
	case errors.Is(err, ErrGone):
		t.Errorf("%v; 410 is valid only for an asynchronous delete (LI3)", err)
		return false
	case err != nil:
		t.Errorf("%v", err)
		return false
	case lo.State != broker.Succeeded:
		t.Errorf("the operation ended %q: %s", lo.State, lo.Description)
		return false
	}
	return true
}

// lastOpSucceeded reports whether the instance's latest operation has
// succeeded, for checks that accept the answer to a finished operation
// when the broker was faster than the suite.
func (s *suite) lastOpSucceeded(t *testing.T, c *Client, id string) bool {
	resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.inst.planID})
	return err == nil && resp.StatusCode == http.StatusOK && resp.Value.State == broker.Succeeded
}

// --- catalog ---

// fetchCatalog sets rawCatalog when the broker serves a JSON object with
// a services array, and catalog when that decodes too; the error says
// what went wrong.
func (s *suite) fetchCatalog(ctx context.Context, c *Client) error {
	resp, decodeErr := c.Catalog(ctx)
	if resp == nil {
		return decodeErr
	}
	if resp.StatusCode != http.StatusOK {
		return resp.Err()
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Body, &raw); err != nil || raw == nil {
		return errors.New("the catalog is not a JSON object")
	}
	if _, ok := raw["services"].([]any); !ok {
		return errors.New(`the catalog has no "services" array`)
	}
	s.rawCatalog, s.catalog = raw, resp.Value
	return decodeErr
}

func (s *suite) catalogChecks() {
	services, _ := s.rawCatalog["services"].([]any)
	var svcs, plans []named
	for i, x := range services {
		so, _ := x.(map[string]any)
		p := fmt.Sprintf("services[%d]", i)
		svcs = append(svcs, named{p, so})
		ps, _ := so["plans"].([]any)
		for j, y := range ps {
			po, _ := y.(map[string]any)
			plans = append(plans, named{fmt.Sprintf("%s.plans[%d]", p, j), po})
		}
	}
	all := append(slices.Clone(svcs), plans...)

	if s.cfg.Catalog != nil {
		s.run("C1/expected-catalog", func(t *testing.T, _ *Client) {
			b, err := json.Marshal(s.cfg.Catalog)
			if err != nil {
				t.Fatalf("Config.Catalog cannot be encoded: %v", err)
			}
			var wantCat map[string]any
			_ = json.Unmarshal(b, &wantCat)
			if !jsonValueEqual(wantCat, s.rawCatalog) {
				t.Errorf("the broker serves another catalog than Config.Catalog")
			}
		})
	}
	s.run("C2/ids-unique-and-stable", func(t *testing.T, c *Client) {
		seen := map[string]string{}
		for _, e := range all {
			id, ok := e.obj["id"].(string)
			if !ok || id == "" {
				t.Errorf("%s.id must be a non-empty string", e.path)
				continue
			}
			if first, dup := seen[id]; dup {
				t.Errorf("%s.id %q is already the id of %s", e.path, id, first)
			}
			seen[id] = e.path
		}
		resp, err := c.Catalog(t.Context())
		if !want(t, resp, err, http.StatusOK) {
			return
		}
		var again []string
		for _, sv := range resp.Value.Services {
			again = append(again, sv.ID)
		}
		for _, sv := range resp.Value.Services {
			for _, p := range sv.Plans {
				again = append(again, p.ID)
			}
		}
		var first []string
		for _, sv := range s.catalog.Services {
			first = append(first, sv.ID)
		}
		for _, sv := range s.catalog.Services {
			for _, p := range sv.Plans {
				first = append(first, p.ID)
			}
		}
		if !slices.Equal(first, again) {
			t.Errorf("the ids changed between two catalog fetches")
		}
	})
	s.run("C3/service-names", func(t *testing.T, _ *Client) {
		checkNames(t, svcs)
	})
	s.run("C4/plan-names", func(t *testing.T, _ *Client) {
		for _, sv := range svcs {
			ps, _ := sv.obj["plans"].([]any)
			var es []named
			for j, y := range ps {
				po, _ := y.(map[string]any)
				es = append(es, named{fmt.Sprintf("%s.plans[%d]", sv.path, j), po})
			}
			checkNames(t, es)
		}
	})
	s.run("C5/descriptions", func(t *testing.T, _ *Client) {
		for _, e := range all {
			d, ok := e.obj["description"].(string)
			switch {
			case !ok || d == "":
				t.Errorf("%s.description must be a non-empty string", e.path)
			case len([]rune(d)) > 255:
				t.Errorf("%s.description has %d characters; it should have at most 255", e.path, len([]rune(d)))
			}
		}
	})
	s.run("C6/bindable", func(t *testing.T, _ *Client) {
		for _, e := range svcs {
			if _, ok := e.obj["bindable"].(bool); !ok {
				t.Errorf("%s.bindable must be a boolean", e.path)
			}
		}
		checkOptionalBool(t, plans, "bindable")
	})
	s.run("C7/plans", func(t *testing.T, _ *Client) {
		for _, e := range svcs {
			if ps, ok := e.obj["plans"].([]any); !ok || len(ps) == 0 {
				t.Errorf("%s.plans must be an array of at least one plan", e.path)
			}
		}
	})
	s.run("C8/plan-updateable", func(t *testing.T, _ *Client) {
		checkOptionalBool(t, all, "plan_updateable")
	})
	s.run("C9/retrievable", func(t *testing.T, _ *Client) {
		checkOptionalBool(t, svcs, "instances_retrievable")
		checkOptionalBool(t, svcs, "bindings_retrievable")
		checkOptionalBool(t, svcs, "allow_context_updates")
	})
	s.run("C11/requires", func(t *testing.T, _ *Client) {
		for _, e := range svcs {
			x, ok := e.obj["requires"]
			if !ok {
				continue
			}
			rs, ok := x.([]any)
			if !ok {
				t.Errorf("%s.requires must be an array", e.path)
				continue
			}
			for _, r := range rs {
				if r != "syslog_drain" && r != "route_forwarding" && r != "volume_mount" {
					t.Errorf("%s.requires has %v; only syslog_drain, route_forwarding and volume_mount are defined", e.path, r)
				}
			}
		}
	})
	s.run("C12/tags-and-metadata", func(t *testing.T, _ *Client) {
		for _, e := range svcs {
			if x, ok := e.obj["tags"]; ok {
				ts, ok := x.([]any)
				for _, tag := range ts {
					if _, isStr := tag.(string); !isStr {
						ok = false
					}
				}
				if !ok {
					t.Errorf("%s.tags must be an array of strings", e.path)
				}
			}
		}
		for _, e := range all {
			if x, ok := e.obj["metadata"]; ok && x != nil {
				if _, ok := x.(map[string]any); !ok {
					t.Errorf("%s.metadata must be an object", e.path)
				}
			}
		}
	})
	s.run("C13/free-and-binding-rotatable", func(t *testing.T, _ *Client) {
		checkOptionalBool(t, plans, "free")
		checkOptionalBool(t, plans, "binding_rotatable")
	})
	s.run("C14/schemas", func(t *testing.T, _ *Client) {
		for _, e := range plans {
			checkSchemas(t, e.path, e.obj)
		}
	})
	s.run("C15/maximum-polling-duration", func(t *testing.T, _ *Client) {
		for _, e := range plans {
			if x, ok := e.obj["maximum_polling_duration"]; ok {
				n, isNum := x.(float64)
				if !isNum || n != float64(int64(n)) || n < 0 {
					t.Errorf("%s.maximum_polling_duration must be a non-negative integer", e.path)
				}
			}
		}
	})
	s.run("C16/maintenance-info", func(t *testing.T, _ *Client) {
		for _, e := range plans {
			x, ok := e.obj["maintenance_info"]
			if !ok {
				continue
			}
			mi, _ := x.(map[string]any)
			v, _ := mi["version"].(string)
			if !semverRE.MatchString(v) {
				t.Errorf("%s.maintenance_info.version must be a semantic version 2.0", e.path)
			}
			if d, ok := mi["description"]; ok {
				if ds, _ := d.(string); ds == "" {
					t.Errorf("%s.maintenance_info.description must be a non-empty string when present", e.path)
				}
			}
		}
	})
}

type named struct {
	path string
	obj  map[string]any
}

var (
	cliFriendlyRE = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)
	// semverRE is the regular expression semver.org recommends.
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	// unreservedRE matches RFC 3986 unreserved characters (G14).
	unreservedRE = regexp.MustCompile(`^[A-Za-z0-9._~-]*$`)
)

func checkNames(t *testing.T, es []named) {
	t.Helper()
	seen := map[string]string{}
	for _, e := range es {
		name, ok := e.obj["name"].(string)
		switch {
		case !ok || name == "":
			t.Errorf("%s.name must be a non-empty string", e.path)
			continue
		case seen[name] != "":
			t.Errorf("%s.name %q is already the name of %s", e.path, name, seen[name])
		case !cliFriendlyRE.MatchString(name):
			t.Errorf("%s.name %q should be CLI-friendly: letters, digits, periods and hyphens", e.path, name)
		}
		seen[name] = e.path
	}
}

func checkOptionalBool(t *testing.T, es []named, field string) {
	t.Helper()
	for _, e := range es {
		if x, ok := e.obj[field]; ok {
			if _, ok := x.(bool); !ok {
				t.Errorf("%s.%s must be a boolean", e.path, field)
			}
		}
	}
}

func checkSchemas(t *testing.T, path string, plan map[string]any) {
	t.Helper()
	x, ok := plan["schemas"]
	if !ok || x == nil {
		return
	}
	schemas, ok := x.(map[string]any)
	if !ok {
		t.Errorf("%s.schemas must be an object", path)
		return
	}
	for _, where := range [][2]string{{"service_instance", "create"}, {"service_instance", "update"}, {"service_binding", "create"}} {
		group, _ := schemas[where[0]].(map[string]any)
		ip, ok := group[where[1]].(map[string]any)
		if !ok {
			continue
		}
		p := fmt.Sprintf("%s.schemas.%s.%s.parameters", path, where[0], where[1])
		sch, ok := ip["parameters"].(map[string]any)
		if !ok {
			if _, present := ip["parameters"]; present {
				t.Errorf("%s must be a JSON Schema object", p)
			}
			continue
		}
		if v, _ := sch["$schema"].(string); v == "" {
			t.Errorf(`%s must have a "$schema"`, p)
		}
		if ref := externalRef(sch); ref != "" {
			t.Errorf("%s refers to an external document (%q)", p, ref)
		}
		if b, _ := json.Marshal(sch); len(b) > 64*1024 {
			t.Errorf("%s is %d bytes; at most 65536 are allowed", p, len(b))
		}
	}
}

// externalRef returns the first "$ref" in v that does not start with "#".
func externalRef(v any) string {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok && !strings.HasPrefix(r, "#") {
			return r
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if r := externalRef(v[k]); r != "" {
				return r
			}
		}
	case []any:
		for _, x := range v {
			if r := externalRef(x); r != "" {
				return r
			}
		}
	}
	return ""
}

// pick chooses the service and plans to drive.
func (s *suite) pick(t *testing.T) bool {
	t.Helper()
	svcs := s.catalog.Services
	if s.cfg.ServiceID != "" {
		for i := range svcs {
			if svcs[i].ID == s.cfg.ServiceID {
				s.svc = &svcs[i]
			}
		}
		if s.svc == nil {
			t.Fatalf("brokertest: the catalog has no service with Config.ServiceID %q", s.cfg.ServiceID)
		}
	} else {
		for i := range svcs {
			if s.svc == nil && len(svcs[i].Plans) > 0 && anyBindable(&svcs[i]) {
				s.svc = &svcs[i]
			}
		}
		for i := range svcs {
			if s.svc == nil && len(svcs[i].Plans) > 0 {
				s.svc = &svcs[i]
			}
		}
		if s.svc == nil {
			t.Log("brokertest: the catalog has no service with a plan; the instance checks are skipped")
			return false
		}
	}
	plans := s.svc.Plans
	if s.cfg.PlanID != "" {
		for i := range plans {
			if plans[i].ID == s.cfg.PlanID {
				s.plan = &plans[i]
			}
		}
		if s.plan == nil {
			t.Fatalf("brokertest: service %q has no plan with Config.PlanID %q", s.svc.Name, s.cfg.PlanID)
		}
	} else {
		for i := range plans {
			if s.plan == nil && s.svc.IsBindable(&plans[i]) {
				s.plan = &plans[i]
			}
		}
		if s.plan == nil && len(plans) > 0 {
			s.plan = &plans[0]
		}
		if s.plan == nil {
			t.Fatalf("brokertest: service %q has no plan", s.svc.Name)
		}
	}
	if s.cfg.UpdatePlanID != "" {
		for i := range plans {
			if plans[i].ID == s.cfg.UpdatePlanID {
				s.updatePlan = &plans[i]
			}
		}
		if s.updatePlan == nil || s.updatePlan == s.plan {
			t.Fatalf("brokertest: Config.UpdatePlanID %q is not another plan of service %q", s.cfg.UpdatePlanID, s.svc.Name)
		}
	}
	s.otherPlan = s.updatePlan
	for i := range plans {
		if s.otherPlan == nil && &plans[i] != s.plan {
			s.otherPlan = &plans[i]
		}
	}
	for i := range svcs {
		if s.otherSvc == nil && &svcs[i] != s.svc && len(svcs[i].Plans) > 0 {
			s.otherSvc = &svcs[i]
		}
	}
	return true
}

func anyBindable(svc *catalog.Service) bool {
	for i := range svc.Plans {
		if svc.IsBindable(&svc.Plans[i]) {
			return true
		}
	}
	return false
}

// --- every endpoint ---

// probe is one request to one endpoint, with a valid body where one is
// needed.
type probe struct {
	name   string
	method string
	path   string
	query  url.Values
	body   []byte
	// instanceID is set for a provision, whose unexpected success must
	// be cleaned up.
	instanceID string
}

func (s *suite) probes() []probe {
	iid, bid := NewUUID(), NewUUID()
	ip, bp := InstancePath(iid), BindingPath(iid, bid)
	ids := url.Values{"service_id": {s.svc.ID}, "plan_id": {s.plan.ID}}
	bindBody, _ := json.Marshal(map[string]any{"service_id": s.svc.ID, "plan_id": s.plan.ID})
	updateBody, _ := json.Marshal(map[string]any{"service_id": s.svc.ID})
	return []probe{
		{name: "catalog", method: http.MethodGet, path: "/v2/catalog"},
		{name: "provision", method: http.MethodPut, path: ip, query: s.async(), body: s.provisionBody(nil), instanceID: iid},
		{name: "update", method: http.MethodPatch, path: ip, query: s.async(), body: updateBody},
		{name: "deprovision", method: http.MethodDelete, path: ip, query: ids},
		{name: "get-instance", method: http.MethodGet, path: ip},
		{name: "instance-last-operation", method: http.MethodGet, path: ip + "/last_operation"},
		{name: "bind", method: http.MethodPut, path: bp, query: s.async(), body: bindBody},
		{name: "unbind", method: http.MethodDelete, path: bp, query: ids},
		{name: "get-binding", method: http.MethodGet, path: bp},
		{name: "binding-last-operation", method: http.MethodGet, path: bp + "/last_operation"},
	}
}

// send sends p, with edit applied, and cleans up after a provision that
// should have failed but did not.
func (s *suite) send(t *testing.T, c *Client, p probe, edit func(*http.Request)) (*Response[json.RawMessage], error) {
	resp, err := c.Do(t.Context(), p.method, p.path, p.query, p.body, edit)
	if err == nil && resp.OK() && p.instanceID != "" {
		s.trackInstance(p.instanceID, s.plan.ID)
	}
	return resp, err
}

// provisionBody is the body of a valid provision, with edit applied to it
// as a map.
func (s *suite) provisionBody(edit func(map[string]any)) []byte {
	m := map[string]any{
		"service_id":        s.svc.ID,
		"plan_id":           s.plan.ID,
		"organization_guid": s.org,
		"space_guid":        s.space,
		"context":           s.context(),
	}
	if s.cfg.ProvisionParameters != nil {
		m["parameters"] = s.cfg.ProvisionParameters
	}
	if mi := s.plan.MaintenanceInfo; mi != nil {
		m["maintenance_info"] = map[string]any{"version": mi.Version}
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("brokertest: the provision body cannot be encoded")
	}
	return b
}

func (s *suite) provisionRequest(id string) ProvisionRequest {
	r := ProvisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, OrganizationGUID: s.org,
		SpaceGUID: s.space, Context: s.context(), Parameters: copyMap(s.cfg.ProvisionParameters), AcceptsIncomplete: s.cfg.Async}
	if mi := s.plan.MaintenanceInfo; mi != nil {
		r.MaintenanceInfo = &MaintenanceInfo{Version: mi.Version}
	}
	return r
}

func withoutAuth(r *http.Request) { r.Header.Del("Authorization") }

func wrongAuth(r *http.Request) {
	u, _, _ := r.BasicAuth()
	r.SetBasicAuth(u, "brokertest-wrong-"+randomHex(4))
}

func withVersion(v string) func(*http.Request) {
	return func(r *http.Request) {
		if v == "" {
			r.Header.Del("X-Broker-API-Version")
		} else {
			r.Header.Set("X-Broker-API-Version", v)
		}
	}
}

func both(fs ...func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) {
		for _, f := range fs {
			f(r)
		}
	}
}

func (s *suite) generalChecks() {
	auth := s.cfg.Username != "" || s.cfg.Password != ""
	eachEndpoint := func(name string, edit func(*http.Request), status int, needAuth bool) {
		s.run(name, func(t *testing.T, c *Client) {
			if needAuth && !auth {
				t.Skip("the broker is unauthenticated (Config.Username is empty)")
			}
			for _, p := range s.probes() {
				t.Run(p.name, func(t *testing.T) {
					resp, err := s.send(t, s.client(t), p, edit)
					want(t, resp, err, status)
				})
			}
		})
	}
	eachEndpoint("G1/no-credentials-401", withoutAuth, http.StatusUnauthorized, true)
	eachEndpoint("G1/wrong-credentials-401", wrongAuth, http.StatusUnauthorized, true)
	mv := s.cfg.MissingVersionStatus
	eachEndpoint(fmt.Sprintf("G3/missing-version-%d", mv), withVersion(""), mv, false)
	eachEndpoint(fmt.Sprintf("G3/empty-version-%d", mv), func(r *http.Request) { r.Header.Set("X-Broker-API-Version", "") }, mv, false)
	eachEndpoint("G3/version-1.0-412", withVersion("1.0"), http.StatusPreconditionFailed, false)
	eachEndpoint("G3/version-3.0-412", withVersion("3.0"), http.StatusPreconditionFailed, false)

	// G4: the probes of conformance suites send empty or invalid bodies.
	bodies := map[string][]byte{"empty-body": {}, "invalid-body": []byte(`{"service_id":`)}
	g4 := []struct {
		name     string
		edit     func(*http.Request)
		status   int
		needAuth bool
	}{
		{"bad-credentials-401", wrongAuth, http.StatusUnauthorized, true},
		{"bad-credentials-bad-version-401", both(wrongAuth, withVersion("1.0")), http.StatusUnauthorized, true},
		{"bad-version-412", withVersion("1.0"), http.StatusPreconditionFailed, false},
		{fmt.Sprintf("missing-version-%d", mv), withVersion(""), mv, false},
	}
	for _, bodyName := range []string{"empty-body", "invalid-body"} {
		for _, g := range g4 {
			s.run("G4/"+bodyName+"-"+g.name, func(t *testing.T, c *Client) {
				if g.needAuth && !auth {
					t.Skip("the broker is unauthenticated (Config.Username is empty)")
				}
				for _, p := range s.probes() {
					if p.body == nil {
						continue
					}
					p.body = bodies[bodyName]
					t.Run(p.name, func(t *testing.T) {
						resp, err := s.send(t, s.client(t), p, g.edit)
						want(t, resp, err, g.status)
					})
				}
			})
		}
	}

	s.run("G6/request-identity-echoed", func(t *testing.T, c *Client) {
		edits := map[string]func(*http.Request){"ok": nil, "bad-version": withVersion("1.0")}
		if auth {
			edits["bad-credentials"] = wrongAuth
		}
		for _, name := range slices.Sorted(maps.Keys(edits)) {
			for _, p := range s.probes() {
				if p.method != http.MethodGet {
					continue
				}
				id := "brokertest-" + NewUUID()
				edit := both(func(r *http.Request) { r.Header.Set("X-Broker-API-Request-Identity", id) })
				if e := edits[name]; e != nil {
					edit = both(edit, e)
				}
				resp, err := s.send(t, c, p, edit)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				if got := resp.Header.Get("X-Broker-API-Request-Identity"); got != id {
					t.Errorf("%s %s (%s) answered %d with X-Broker-API-Request-Identity %q; want the request's %q",
						p.method, p.path, name, resp.StatusCode, got, id)
				}
			}
		}
	})

	s.run("G7/G11/error-bodies", func(t *testing.T, c *Client) {
		// Provoke a few errors; checkResponse examines every body.
		iid := NewUUID()
		resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: iid})
		want(t, resp, err, http.StatusNotFound)
		raw, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(iid), query: s.async(),
			body: []byte(`{"service_id":`), instanceID: iid}, nil)
		want(t, raw, err, http.StatusBadRequest)
		if raw != nil && raw.Error != nil && raw.Error.Description == "" {
			t.Logf("the 400 for malformed JSON has no description; the spec recommends one")
		}
	})

	s.run("G5/originating-identity-optional", func(t *testing.T, c *Client) {
		for _, oi := range []string{"", "garbage", "brokertest not-base64!", "kubernetes " + base64.StdEncoding.EncodeToString([]byte("[1]"))} {
			edit := func(r *http.Request) {
				if oi == "" {
					r.Header.Del("X-Broker-API-Originating-Identity")
				} else {
					r.Header.Set("X-Broker-API-Originating-Identity", oi)
				}
			}
			resp, err := c.Do(t.Context(), http.MethodGet, "/v2/catalog", nil, nil, edit)
			if !want(t, resp, err, http.StatusOK) {
				t.Logf("with X-Broker-API-Originating-Identity %q", oi)
			}
			resp, err = c.Do(t.Context(), http.MethodGet, InstancePath(NewUUID())+"/last_operation", nil, nil, edit)
			if !want(t, resp, err, http.StatusNotFound) {
				t.Logf("with X-Broker-API-Originating-Identity %q", oi)
			}
		}
	})

	s.run("G12/wrong-content-type-400", func(t *testing.T, c *Client) {
		id := NewUUID()
		resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: s.async(),
			body: s.provisionBody(nil), instanceID: id}, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
		want(t, resp, err, http.StatusBadRequest)
	})
	s.run("G12/missing-content-type-accepted", func(t *testing.T, c *Client) {
		id := NewUUID()
		s.trackInstance(id, s.plan.ID)
		resp, err := c.Do(t.Context(), http.MethodPut, InstancePath(id), s.async(), s.provisionBody(nil),
			func(r *http.Request) { r.Header.Del("Content-Type") })
		if want(t, resp, err, s.createdStatuses()...) && resp.StatusCode == http.StatusAccepted {
			var pr ProvisionResponse
			_ = json.Unmarshal(resp.Body, &pr)
			s.pollInstance(t, c, id, pr.Operation, s.plan.ID, false)
		}
	})

	s.run("G14/percent-encoded-ids", func(t *testing.T, c *Client) {
		// Any character may be in an ID, percent-encoded; a trailing or
		// doubled slash, a dot segment, a percent sign and non-ASCII
		// letters must all survive the trip.
		for _, id := range []string{"brokertest " + NewUUID() + " é%?#&+=/", "brokertest//" + NewUUID(), ".."} {
			if id == ".." {
				id = "..brokertest-" + NewUUID()[:8] // ".." itself would collide between runs
			}
			req := s.provisionRequest(id)
			resp, err := c.Provision(t.Context(), req)
			if !want(t, resp, err, s.createdStatuses()...) {
				t.Logf("for the instance ID %q", id)
				continue
			}
			s.trackInstance(id, s.plan.ID)
			if resp.StatusCode == http.StatusAccepted && !s.pollInstance(t, c, id, resp.Value.Operation, s.plan.ID, false) {
				continue
			}
			if s.svc.InstancesRetrievable {
				g, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID})
				if !want(t, g, err, http.StatusOK) {
					t.Logf("for the instance ID %q", id)
				}
			}
			d, err := c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, AcceptsIncomplete: s.cfg.Async})
			if !want(t, d, err, s.doneStatuses()...) {
				t.Logf("for the instance ID %q", id)
				continue
			}
			if d.StatusCode == http.StatusAccepted {
				s.pollInstance(t, c, id, d.Value.Operation, s.plan.ID, true)
			}
		}
	})

	s.run("G15/accepts-incomplete-must-be-true", func(t *testing.T, c *Client) {
		if s.cfg.RequireAsync&broker.ActionProvision == 0 {
			t.Skip("the broker can provision synchronously (Config.RequireAsync)")
		}
		for _, v := range []string{"1", "t", "yes"} {
			id := NewUUID()
			resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: url.Values{"accepts_incomplete": {v}},
				body: s.provisionBody(nil), instanceID: id}, nil)
			if !want(t, resp, err, http.StatusUnprocessableEntity, http.StatusBadRequest) {
				t.Logf("with accepts_incomplete=%s, which is not true", v)
			}
		}
	})

	s.run("G13/unknown-fields-ignored", func(t *testing.T, c *Client) {
		id := NewUUID()
		body := s.provisionBody(func(m map[string]any) {
			m["brokertest_unknown_field"] = map[string]any{"nested": []any{1, "two"}}
			m["x-brokertest-extension"] = true
			if mi, ok := m["maintenance_info"].(map[string]any); ok {
				mi["brokertest_unknown_field"] = "ignored"
			}
			m["context"].(map[string]any)["brokertest_unknown_field"] = 1
		})
		s.trackInstance(id, s.plan.ID)
		resp, err := c.Do(t.Context(), http.MethodPut, InstancePath(id), s.async(), body, nil)
		if !want(t, resp, err, s.createdStatuses()...) {
			return
		}
		if resp.StatusCode == http.StatusAccepted {
			var pr ProvisionResponse
			_ = json.Unmarshal(resp.Body, &pr)
			s.pollInstance(t, c, id, pr.Operation, s.plan.ID, false)
		}
	})
}

// createdStatuses are the answers to a provision or bind that creates.
func (s *suite) createdStatuses() []int {
	if s.cfg.Async {
		return []int{http.StatusCreated, http.StatusAccepted}
	}
	return []int{http.StatusCreated}
}

// doneStatuses are the answers to an update, delete or unbind.
func (s *suite) doneStatuses() []int {
	if s.cfg.Async {
		return []int{http.StatusOK, http.StatusAccepted}
	}
	return []int{http.StatusOK}
}

// --- provision ---

func (s *suite) provisionChecks() {
	s.run("P1/malformed-json-400", func(t *testing.T, c *Client) {
		for _, body := range []string{`{"service_id":`, `[]`, `"x"`, `null`, ``} {
			id := NewUUID()
			resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: s.async(),
				body: []byte(body), instanceID: id}, nil)
			if !want(t, resp, err, http.StatusBadRequest) {
				t.Logf("for the body %q", body)
			}
		}
	})
	for _, field := range []string{"service_id", "plan_id", "organization_guid", "space_guid"} {
		s.run("P1/missing-"+field+"-400", func(t *testing.T, c *Client) {
			for _, edit := range []func(map[string]any){
				func(m map[string]any) { delete(m, field) },
				func(m map[string]any) { m[field] = "" },
			} {
				id := NewUUID()
				resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: s.async(),
					body: s.provisionBody(edit), instanceID: id}, nil)
				want(t, resp, err, http.StatusBadRequest)
			}
		})
	}
	s.provisionFails("P1/unknown-service_id-400", http.StatusBadRequest, "", func(m map[string]any) {
		m["service_id"] = "brokertest-unknown-" + NewUUID()
	})
	s.provisionFails("P1/unknown-plan_id-400", http.StatusBadRequest, "", func(m map[string]any) {
		m["plan_id"] = "brokertest-unknown-" + NewUUID()
	})
	if s.otherSvc != nil {
		s.provisionFails("P1/plan-of-another-service-400", http.StatusBadRequest, "", func(m map[string]any) {
			m["plan_id"] = s.otherSvc.Plans[0].ID
		})
	}
	s.provisionFails("P1/parameters-not-an-object-400", http.StatusBadRequest, "", func(m map[string]any) {
		m["parameters"] = "brokertest"
	})
	if sch := s.plan.InstanceCreateSchema(); sch != nil {
		if req, _ := sch["required"].([]any); len(req) > 0 {
			s.provisionFails("P1/parameters-fail-schema-400", http.StatusBadRequest, "", func(m map[string]any) {
				m["parameters"] = map[string]any{}
			})
		}
	}
	if s.cfg.RequireAsync&broker.ActionProvision != 0 {
		for _, q := range []url.Values{nil, {"accepts_incomplete": {"false"}}} {
			name := "P7/async-required-422"
			if q != nil {
				name = "P7/accepts-incomplete-false-422"
			}
			s.run(name, func(t *testing.T, c *Client) {
				id := NewUUID()
				resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: q,
					body: s.provisionBody(nil), instanceID: id}, nil)
				wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeAsyncRequired)
			})
		}
	}
	if s.plan.MaintenanceInfo != nil {
		s.provisionFails("P8/maintenance-info-conflict-422", http.StatusUnprocessableEntity, broker.CodeMaintenanceInfoConflict,
			func(m map[string]any) {
				m["maintenance_info"] = map[string]any{"version": "0.0.0-brokertest.conflict"}
			})
	}

	// The instance the lifecycle checks walk through.
	id := NewUUID()
	s.inst = s.trackInstance(id, s.plan.ID)
	var op string
	s.run("P2/P3/provision", func(t *testing.T, c *Client) {
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		if !want(t, resp, err, s.createdStatuses()...) {
			return
		}
		s.provisioned = resp.StatusCode == http.StatusCreated
		s.provisionAsync = resp.StatusCode == http.StatusAccepted
		op = resp.Value.Operation
	})
	inProgress := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.provisionAsync {
				t.Skip("the provision was not accepted asynchronously")
			}
			f(t, c)
		})
	}
	inProgress("P5/repeat-in-progress-202-same-operation", func(t *testing.T, c *Client) {
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		if !want(t, resp, err, http.StatusAccepted, http.StatusOK) {
			return
		}
		if resp.StatusCode == http.StatusOK && !s.lastOpSucceeded(t, c, id) {
			t.Errorf("answered 200 while the provision is in progress; want 202")
		}
		if resp.StatusCode == http.StatusAccepted && resp.Value.Operation != op {
			t.Errorf("answered operation %q; want the first answer's %q", resp.Value.Operation, op)
		}
	})
	inProgress("I/in-progress-different-409", func(t *testing.T, c *Client) {
		req := s.provisionRequest(id)
		req.SpaceGUID = NewUUID()
		resp, err := c.Provision(t.Context(), req)
		want(t, resp, err, http.StatusConflict)
	})
	inProgress("FI3/get-while-provisioning-404", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		resp, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID})
		if !want(t, resp, err, http.StatusNotFound, http.StatusOK) {
			return
		}
		if resp.StatusCode == http.StatusOK && !s.lastOpSucceeded(t, c, id) {
			t.Errorf("answered 200 while the provision is in progress; want 404")
		}
	})
	inProgress("U12/update-while-provisioning-422", func(t *testing.T, c *Client) {
		// An update that changes nothing: if the provision has finished
		// after all, it is harmless.
		resp, err := c.Update(t.Context(), UpdateRequest{InstanceID: id, ServiceID: s.svc.ID, AcceptsIncomplete: s.cfg.Async})
		if err == nil && resp.StatusCode == http.StatusOK && s.lastOpSucceeded(t, c, id) {
			return
		}
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	inProgress("B14/bind-while-provisioning-422", func(t *testing.T, c *Client) {
		if !s.svc.IsBindable(s.plan) {
			t.Skip("the plan is not bindable")
		}
		bid := NewUUID()
		s.trackBinding(id, bid, s.plan.ID)
		resp, err := c.Bind(t.Context(), s.bindRequest(id, bid))
		if err == nil && resp.OK() && s.lastOpSucceeded(t, c, id) {
			return
		}
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	inProgress("LI1/in-progress", func(t *testing.T, c *Client) {
		resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, Operation: op})
		if !want(t, resp, err, http.StatusOK) {
			return
		}
		if st := resp.Value.State; st != broker.InProgress && st != broker.Succeeded {
			t.Errorf("state %q; want %q (or %q if already done)", st, broker.InProgress, broker.Succeeded)
		}
	})
	inProgress("LI1/poll-until-succeeded", func(t *testing.T, c *Client) {
		s.provisioned = s.pollInstance(t, c, id, op, s.plan.ID, false)
	})

	ready := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.provisioned {
				t.Skip("the instance was not provisioned")
			}
			f(t, c)
		})
	}
	ready("P4/identical-after-success-200", func(t *testing.T, c *Client) {
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		want(t, resp, err, http.StatusOK)
	})
	ready("P6/different-space-409", func(t *testing.T, c *Client) {
		req := s.provisionRequest(id)
		req.SpaceGUID = NewUUID()
		resp, err := c.Provision(t.Context(), req)
		want(t, resp, err, http.StatusConflict)
	})
	ready("P6/different-plan-409", func(t *testing.T, c *Client) {
		if s.otherPlan == nil {
			t.Skip("the service has one plan")
		}
		req := s.provisionRequest(id)
		req.PlanID, req.MaintenanceInfo = s.otherPlan.ID, nil
		resp, err := c.Provision(t.Context(), req)
		want(t, resp, err, http.StatusConflict)
	})
	ready("P6/different-parameters-409", func(t *testing.T, c *Client) {
		params, ok := changed(s.cfg.ProvisionParameters)
		if !ok {
			t.Skip("Config.ProvisionParameters has no string value to change")
		}
		req := s.provisionRequest(id)
		req.Parameters = params
		resp, err := c.Provision(t.Context(), req)
		want(t, resp, err, http.StatusConflict)
	})
	ready("LI5/unknown-operation-means-latest", func(t *testing.T, c *Client) {
		if !s.provisionAsync {
			t.Skip("the provision was synchronous")
		}
		for _, token := range []string{"provision", "brokertest-" + NewUUID()} {
			resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, Operation: token})
			if want(t, resp, err, http.StatusOK) && resp.Value.State != broker.Succeeded {
				t.Errorf("operation %q: state %q; want the latest operation's %q", token, resp.Value.State, broker.Succeeded)
			}
		}
	})
	ready("LI4/no-hints-200", func(t *testing.T, c *Client) {
		if !s.provisionAsync {
			t.Skip("the provision was synchronous")
		}
		resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: id})
		if want(t, resp, err, http.StatusOK) && resp.Value.State != broker.Succeeded {
			t.Errorf("state %q; want %q", resp.Value.State, broker.Succeeded)
		}
	})
	s.run("LI2/unknown-instance-404", func(t *testing.T, c *Client) {
		resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: NewUUID(), ServiceID: s.svc.ID, PlanID: s.plan.ID})
		want(t, resp, err, http.StatusNotFound)
	})
	s.run("LI4/malformed-query-400", func(t *testing.T, c *Client) {
		resp, err := c.Do(t.Context(), http.MethodGet, InstancePath(id)+"/last_operation", nil, nil,
			func(r *http.Request) { r.URL.RawQuery = "operation=%zz" })
		want(t, resp, err, http.StatusBadRequest)
	})
	ready("FI1/get-instance-200", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		s.checkFetch(t, c, s.plan.ID)
	})
	s.run("FI3/unknown-instance-404", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		resp, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: NewUUID()})
		want(t, resp, err, http.StatusNotFound)
	})
}

// provisionFails checks that a provision with an edited body fails.
func (s *suite) provisionFails(name string, status int, code string, edit func(map[string]any)) {
	s.run(name, func(t *testing.T, c *Client) {
		id := NewUUID()
		resp, err := s.send(t, c, probe{method: http.MethodPut, path: InstancePath(id), query: s.async(),
			body: s.provisionBody(edit), instanceID: id}, nil)
		wantError(t, resp, err, status, code)
	})
}

// checkFetch checks GET instance on the main instance.
func (s *suite) checkFetch(t *testing.T, c *Client, planID string) {
	t.Helper()
	resp, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: s.inst.id, ServiceID: s.svc.ID, PlanID: planID})
	if !want(t, resp, err, http.StatusOK) {
		return
	}
	if resp.Value.ServiceID != s.svc.ID || resp.Value.PlanID != planID {
		t.Errorf("service_id %q and plan_id %q; want %q and %q", resp.Value.ServiceID, resp.Value.PlanID, s.svc.ID, planID)
	}
}

// changed returns params with one string value changed, in a way a
// schema is likely to accept.
func changed(params map[string]any) (broker.Parameters, bool) {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if v, ok := params[k].(string); ok {
			out := copyMap(broker.Parameters(params))
			out[k] = v + "-2"
			return out, true
		}
	}
	return nil, false
}

// --- update ---

func (s *suite) updateRequest() UpdateRequest {
	params := s.cfg.UpdateParameters
	if params == nil {
		params = s.cfg.ProvisionParameters
	}
	return UpdateRequest{InstanceID: s.inst.id, ServiceID: s.svc.ID, Parameters: copyMap(params), Context: s.context(),
		PreviousValues: &PreviousValues{PlanID: s.inst.planID, ServiceID: s.svc.ID}, AcceptsIncomplete: s.cfg.Async}
}

func (s *suite) updateChecks() {
	ready := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.provisioned {
				t.Skip("the instance was not provisioned")
			}
			f(t, c)
		})
	}
	patch := func(t *testing.T, c *Client, body string) (*Response[json.RawMessage], error) {
		return c.Do(t.Context(), http.MethodPatch, InstancePath(s.inst.id), s.async(), []byte(body), nil)
	}
	ready("U1/malformed-json-400", func(t *testing.T, c *Client) {
		resp, err := patch(t, c, `{"service_id":`)
		want(t, resp, err, http.StatusBadRequest)
	})
	ready("U1/missing-service_id-400", func(t *testing.T, c *Client) {
		resp, err := patch(t, c, `{"parameters":{}}`)
		want(t, resp, err, http.StatusBadRequest)
	})
	ready("U1/unknown-service_id-400", func(t *testing.T, c *Client) {
		req := s.updateRequest()
		req.ServiceID = "brokertest-unknown-" + NewUUID()
		resp, err := c.Update(t.Context(), req)
		want(t, resp, err, http.StatusBadRequest)
	})
	ready("U1/unknown-plan_id-400", func(t *testing.T, c *Client) {
		req := s.updateRequest()
		req.PlanID = "brokertest-unknown-" + NewUUID()
		resp, err := c.Update(t.Context(), req)
		want(t, resp, err, http.StatusBadRequest)
	})
	s.run("U12/unknown-instance-404", func(t *testing.T, c *Client) {
		req := s.updateRequest()
		req.InstanceID = NewUUID()
		resp, err := c.Update(t.Context(), req)
		want(t, resp, err, http.StatusNotFound)
	})
	if s.cfg.RequireAsync&broker.ActionUpdate != 0 {
		ready("U5/async-required-422", func(t *testing.T, c *Client) {
			req := s.updateRequest()
			req.AcceptsIncomplete = false
			resp, err := c.Update(t.Context(), req)
			wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeAsyncRequired)
		})
	}
	ready("U6/maintenance-info-conflict-422", func(t *testing.T, c *Client) {
		if s.plan.MaintenanceInfo == nil {
			t.Skip("the plan has no maintenance_info")
		}
		req := s.updateRequest()
		req.MaintenanceInfo = &MaintenanceInfo{Version: "0.0.0-brokertest.conflict"}
		resp, err := c.Update(t.Context(), req)
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeMaintenanceInfoConflict)
	})
	ready("U3/plan-not-updateable-422", func(t *testing.T, c *Client) {
		if s.svc.IsPlanUpdateable(s.plan) || s.otherPlan == nil {
			t.Skip("the plan is plan_updateable, or the service has one plan")
		}
		req := UpdateRequest{InstanceID: s.inst.id, ServiceID: s.svc.ID, PlanID: s.otherPlan.ID,
			PreviousValues: &PreviousValues{PlanID: s.plan.ID}, AcceptsIncomplete: s.cfg.Async}
		resp, err := c.Update(t.Context(), req)
		want(t, resp, err, http.StatusUnprocessableEntity)
	})

	// An update of parameters.
	var op string
	var accepted bool
	ready("U7/U8/update-parameters", func(t *testing.T, c *Client) {
		resp, err := c.Update(t.Context(), s.updateRequest())
		if !want(t, resp, err, s.doneStatuses()...) {
			return
		}
		op, accepted = resp.Value.Operation, resp.StatusCode == http.StatusAccepted
	})
	updating := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !accepted {
				t.Skip("the update was not accepted asynchronously")
			}
			f(t, c)
		})
	}
	updating("U8/repeat-in-progress-202-same-operation", func(t *testing.T, c *Client) {
		resp, err := c.Update(t.Context(), s.updateRequest())
		if !want(t, resp, err, http.StatusAccepted, http.StatusOK) {
			return
		}
		if resp.StatusCode == http.StatusOK && !s.lastOpSucceeded(t, c, s.inst.id) {
			t.Errorf("answered 200 while the update is in progress; want 202")
		}
		if resp.StatusCode == http.StatusAccepted && resp.Value.Operation != op {
			t.Errorf("answered operation %q; want the first answer's %q", resp.Value.Operation, op)
		}
	})
	updating("FI4/get-while-updating-422", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		resp, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: s.inst.id, ServiceID: s.svc.ID, PlanID: s.inst.planID})
		if err == nil && resp.StatusCode == http.StatusOK && s.lastOpSucceeded(t, c, s.inst.id) {
			return
		}
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	updating("G16/provision-while-updating-422", func(t *testing.T, c *Client) {
		resp, err := c.Provision(t.Context(), s.provisionRequest(s.inst.id))
		if err == nil && resp.StatusCode == http.StatusConflict {
			return // the instance's attributes are changing: a conflict is right too
		}
		if err == nil && resp.StatusCode == http.StatusOK && s.lastOpSucceeded(t, c, s.inst.id) {
			return
		}
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	updating("LI1/update-poll-until-succeeded", func(t *testing.T, c *Client) {
		if !s.pollInstance(t, c, s.inst.id, op, s.inst.planID, false) {
			s.provisioned = false
		}
	})

	// A plan change.
	op, accepted = "", false
	oldPlan := s.inst.planID
	ready("U7/U8/plan-change", func(t *testing.T, c *Client) {
		if s.updatePlan == nil {
			t.Skip("Config.UpdatePlanID is empty")
		}
		if !s.svc.IsPlanUpdateable(s.plan) {
			t.Skip("the plan is not plan_updateable")
		}
		req := UpdateRequest{InstanceID: s.inst.id, ServiceID: s.svc.ID, PlanID: s.updatePlan.ID, Context: s.context(),
			PreviousValues: &PreviousValues{PlanID: oldPlan, ServiceID: s.svc.ID}, AcceptsIncomplete: s.cfg.Async}
		if mi := s.updatePlan.MaintenanceInfo; mi != nil {
			req.MaintenanceInfo = &MaintenanceInfo{Version: mi.Version}
		}
		if mi := s.plan.MaintenanceInfo; mi != nil {
			req.PreviousValues.MaintenanceInfo = &MaintenanceInfo{Version: mi.Version}
		}
		resp, err := c.Update(t.Context(), req)
		if !want(t, resp, err, s.doneStatuses()...) {
			return
		}
		if resp.StatusCode == http.StatusAccepted {
			// During a plan change, last_operation gets the old plan (LI4).
			if !s.pollInstance(t, c, s.inst.id, resp.Value.Operation, oldPlan, false) {
				return
			}
		}
		s.inst.planID = s.updatePlan.ID
	})
	ready("FI1/get-after-plan-change", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		if s.inst.planID == oldPlan {
			t.Skip("the plan was not changed")
		}
		s.checkFetch(t, c, s.inst.planID)
	})
}

// --- bindings ---

func (s *suite) currentPlan() *catalog.Plan {
	for i := range s.svc.Plans {
		if s.svc.Plans[i].ID == s.inst.planID {
			return &s.svc.Plans[i]
		}
	}
	return s.plan
}

func (s *suite) bindRequest(instanceID, bindingID string) BindRequest {
	return BindRequest{InstanceID: instanceID, BindingID: bindingID, ServiceID: s.svc.ID, PlanID: s.inst.planID,
		BindResource: map[string]any{"app_guid": s.appGUID}, Context: s.context(),
		Parameters: copyMap(s.cfg.BindParameters), AcceptsIncomplete: s.cfg.Async}
}

func (s *suite) bindingChecks() {
	plan := s.currentPlan()
	if !s.svc.IsBindable(plan) {
		s.run("B1/not-bindable-400", func(t *testing.T, c *Client) {
			if !s.provisioned {
				t.Skip("the instance was not provisioned")
			}
			bid := NewUUID()
			s.trackBinding(s.inst.id, bid, s.inst.planID)
			resp, err := c.Bind(t.Context(), s.bindRequest(s.inst.id, bid))
			want(t, resp, err, http.StatusBadRequest)
		})
		return
	}
	ready := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.provisioned {
				t.Skip("the instance was not provisioned")
			}
			f(t, c)
		})
	}
	bindFails := func(name string, status int, body func(m map[string]any)) {
		ready(name, func(t *testing.T, c *Client) {
			bid := NewUUID()
			m := map[string]any{"service_id": s.svc.ID, "plan_id": s.inst.planID, "bind_resource": map[string]any{"app_guid": s.appGUID}}
			body(m)
			b, _ := json.Marshal(m)
			resp, err := c.Do(t.Context(), http.MethodPut, BindingPath(s.inst.id, bid), s.async(), b, nil)
			if err == nil && resp.OK() {
				s.trackBinding(s.inst.id, bid, s.inst.planID)
			}
			want(t, resp, err, status)
		})
	}
	ready("B2/malformed-json-400", func(t *testing.T, c *Client) {
		resp, err := c.Do(t.Context(), http.MethodPut, BindingPath(s.inst.id, NewUUID()), s.async(), []byte(`{"service_id":`), nil)
		want(t, resp, err, http.StatusBadRequest)
	})
	for _, field := range []string{"service_id", "plan_id"} {
		bindFails("B2/missing-"+field+"-400", http.StatusBadRequest, func(m map[string]any) { delete(m, field) })
		bindFails("B2/empty-"+field+"-400", http.StatusBadRequest, func(m map[string]any) { m[field] = "" })
	}
	bindFails("B2/unknown-service_id-400", http.StatusBadRequest, func(m map[string]any) { m["service_id"] = "brokertest-unknown-" + NewUUID() })
	bindFails("B2/unknown-plan_id-400", http.StatusBadRequest, func(m map[string]any) { m["plan_id"] = "brokertest-unknown-" + NewUUID() })
	bindFails("B2/parameters-not-an-object-400", http.StatusBadRequest, func(m map[string]any) { m["parameters"] = []any{1} })
	s.run("B14/unknown-instance-404", func(t *testing.T, c *Client) {
		iid, bid := NewUUID(), NewUUID()
		req := s.bindRequest(iid, bid)
		resp, err := c.Bind(t.Context(), req)
		if err == nil && resp.OK() {
			s.trackBinding(iid, bid, s.inst.planID)
		}
		want(t, resp, err, http.StatusNotFound)
	})
	if s.cfg.RequireAsync&broker.ActionBind != 0 {
		ready("B7/async-required-422", func(t *testing.T, c *Client) {
			bid := NewUUID()
			req := s.bindRequest(s.inst.id, bid)
			req.AcceptsIncomplete = false
			resp, err := c.Bind(t.Context(), req)
			if err == nil && resp.OK() {
				s.trackBinding(s.inst.id, bid, s.inst.planID)
			}
			wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeAsyncRequired)
		})
	}

	bid := NewUUID()
	var op string
	var accepted bool
	ready("B3/B4/bind", func(t *testing.T, c *Client) {
		s.trackBinding(s.inst.id, bid, s.inst.planID)
		resp, err := c.Bind(t.Context(), s.bindRequest(s.inst.id, bid))
		if !want(t, resp, err, s.createdStatuses()...) {
			return
		}
		accepted = resp.StatusCode == http.StatusAccepted
		s.bound = !accepted
		op = resp.Value.Operation
		if accepted && !s.svc.BindingsRetrievable {
			t.Errorf("C9: an asynchronous bind needs the service to be bindings_retrievable")
		}
	})
	binding := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !accepted {
				t.Skip("the bind was not accepted asynchronously")
			}
			f(t, c)
		})
	}
	binding("B4/repeat-in-progress-202-same-operation", func(t *testing.T, c *Client) {
		resp, err := c.Bind(t.Context(), s.bindRequest(s.inst.id, bid))
		if !want(t, resp, err, http.StatusAccepted, http.StatusOK) {
			return
		}
		if resp.StatusCode == http.StatusAccepted && resp.Value.Operation != op {
			t.Errorf("answered operation %q; want the first answer's %q", resp.Value.Operation, op)
		}
	})
	binding("FB3/get-while-binding-404", func(t *testing.T, c *Client) {
		resp, err := c.GetBinding(t.Context(), GetBindingRequest{InstanceID: s.inst.id, BindingID: bid, ServiceID: s.svc.ID, PlanID: s.inst.planID})
		want(t, resp, err, http.StatusNotFound, http.StatusOK)
	})
	binding("LB1/in-progress", func(t *testing.T, c *Client) {
		resp, err := c.BindingLastOperation(t.Context(), BindingLastOperationRequest{InstanceID: s.inst.id, BindingID: bid,
			ServiceID: s.svc.ID, PlanID: s.inst.planID, Operation: op})
		if !want(t, resp, err, http.StatusOK) {
			return
		}
		if st := resp.Value.State; st != broker.InProgress && st != broker.Succeeded {
			t.Errorf("state %q; want %q (or %q if already done)", st, broker.InProgress, broker.Succeeded)
		}
	})
	binding("LB1/poll-until-succeeded", func(t *testing.T, c *Client) {
		s.bound = s.pollBinding(t, c, s.inst.id, bid, op, s.inst.planID, false)
	})
	bound := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.bound {
				t.Skip("the binding was not created")
			}
			f(t, c)
		})
	}
	bound("B5/identical-after-success-200", func(t *testing.T, c *Client) {
		resp, err := c.Bind(t.Context(), s.bindRequest(s.inst.id, bid))
		want(t, resp, err, http.StatusOK)
	})
	bound("B6/different-parameters-409", func(t *testing.T, c *Client) {
		req := s.bindRequest(s.inst.id, bid)
		params, ok := changed(s.cfg.BindParameters)
		switch {
		case ok:
			req.Parameters = params
		case s.cfg.BindParameters == nil && plan.BindingCreateSchema() == nil:
			req.Parameters = broker.Parameters{"brokertest": "conflict"}
		default:
			t.Skip("Config.BindParameters has no string value to change")
		}
		resp, err := c.Bind(t.Context(), req)
		want(t, resp, err, http.StatusConflict)
	})
	bound("FB1/get-binding-200", func(t *testing.T, c *Client) {
		if !s.svc.BindingsRetrievable {
			t.Skip("the service is not bindings_retrievable")
		}
		resp, err := c.GetBinding(t.Context(), GetBindingRequest{InstanceID: s.inst.id, BindingID: bid, ServiceID: s.svc.ID, PlanID: s.inst.planID})
		want(t, resp, err, http.StatusOK)
	})
	s.run("FB3/unknown-binding-404", func(t *testing.T, c *Client) {
		if !s.svc.BindingsRetrievable {
			t.Skip("the service is not bindings_retrievable")
		}
		resp, err := c.GetBinding(t.Context(), GetBindingRequest{InstanceID: s.inst.id, BindingID: NewUUID()})
		want(t, resp, err, http.StatusNotFound)
	})
	s.run("LB2/unknown-binding-404", func(t *testing.T, c *Client) {
		resp, err := c.BindingLastOperation(t.Context(), BindingLastOperationRequest{InstanceID: s.inst.id, BindingID: NewUUID()})
		want(t, resp, err, http.StatusNotFound)
	})
	for _, field := range []string{"service_id", "plan_id"} {
		bound("UB1/missing-"+field+"-400", func(t *testing.T, c *Client) {
			q := url.Values{"service_id": {s.svc.ID}, "plan_id": {s.inst.planID}}
			if s.cfg.Async {
				q.Set("accepts_incomplete", "true")
			}
			q.Del(field)
			resp, err := c.Do(t.Context(), http.MethodDelete, BindingPath(s.inst.id, bid), q, nil, nil)
			want(t, resp, err, http.StatusBadRequest)
		})
	}
	if s.cfg.RequireAsync&broker.ActionUnbind != 0 {
		bound("UB5/async-required-422", func(t *testing.T, c *Client) {
			resp, err := c.Unbind(t.Context(), UnbindRequest{InstanceID: s.inst.id, BindingID: bid, ServiceID: s.svc.ID, PlanID: s.inst.planID})
			wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeAsyncRequired)
		})
	}
	unbind := UnbindRequest{InstanceID: s.inst.id, BindingID: bid, ServiceID: s.svc.ID, PlanID: s.inst.planID, AcceptsIncomplete: s.cfg.Async}
	var unbound, unbindAccepted bool
	op = ""
	bound("UB3/unbind", func(t *testing.T, c *Client) {
		resp, err := c.Unbind(t.Context(), unbind)
		if !want(t, resp, err, s.doneStatuses()...) {
			return
		}
		unbindAccepted = resp.StatusCode == http.StatusAccepted
		unbound = !unbindAccepted
		op = resp.Value.Operation
	})
	unbinding := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !unbindAccepted {
				t.Skip("the unbind was not accepted asynchronously")
			}
			f(t, c)
		})
	}
	unbinding("UB3/repeat-in-progress-202-same-operation", func(t *testing.T, c *Client) {
		resp, err := c.Unbind(t.Context(), unbind)
		if !want(t, resp, err, http.StatusAccepted, http.StatusGone) {
			return
		}
		if resp.StatusCode == http.StatusAccepted && resp.Value.Operation != op {
			t.Errorf("answered operation %q; want the first answer's %q", resp.Value.Operation, op)
		}
	})
	unbinding("LB2/poll-unbind-until-done", func(t *testing.T, c *Client) {
		unbound = s.pollBinding(t, c, s.inst.id, bid, op, s.inst.planID, true)
	})
	s.run("UB4/unbind-again-410", func(t *testing.T, c *Client) {
		if !unbound {
			t.Skip("the binding was not deleted")
		}
		resp, err := c.Unbind(t.Context(), unbind)
		want(t, resp, err, http.StatusGone)
	})
	unbinding("LB4/after-unbind", func(t *testing.T, c *Client) {
		if !unbound {
			t.Skip("the binding was not deleted")
		}
		resp, err := c.BindingLastOperation(t.Context(), BindingLastOperationRequest{InstanceID: s.inst.id, BindingID: bid,
			ServiceID: s.svc.ID, PlanID: s.inst.planID, Operation: op})
		if !want(t, resp, err, http.StatusOK, http.StatusGone) {
			return
		}
		if resp.StatusCode == http.StatusOK && resp.Value.State != broker.Succeeded {
			t.Errorf("state %q after the unbind succeeded; want %q", resp.Value.State, broker.Succeeded)
		}
	})
}

// --- deprovision ---

func (s *suite) deprovisionChecks() {
	ready := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !s.provisioned {
				t.Skip("the instance was not provisioned")
			}
			f(t, c)
		})
	}
	s.run("D7/deprovision-while-provisioning", func(t *testing.T, c *Client) {
		if !s.cfg.Async {
			t.Skip("Config.Async is false")
		}
		id := NewUUID()
		s.trackInstance(id, s.plan.ID)
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		if !want(t, resp, err, s.createdStatuses()...) {
			return
		}
		d, err := c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, AcceptsIncomplete: true})
		if err == nil && isConcurrencyError(d) {
			// Refusing is allowed while the create runs, but not forever.
			if !s.pollInstance(t, c, id, resp.Value.Operation, s.plan.ID, false) {
				return
			}
			d, err = c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, AcceptsIncomplete: true})
		}
		if !want(t, d, err, http.StatusOK, http.StatusAccepted) {
			return
		}
		if d.StatusCode == http.StatusAccepted && !s.pollInstance(t, c, id, d.Value.Operation, s.plan.ID, true) {
			return
		}
		again, err := c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.plan.ID, AcceptsIncomplete: true})
		want(t, again, err, http.StatusGone)
	})
	id := s.inst.id
	for _, field := range []string{"service_id", "plan_id"} {
		ready("D1/missing-"+field+"-400", func(t *testing.T, c *Client) {
			for _, empty := range []bool{false, true} {
				q := url.Values{"service_id": {s.svc.ID}, "plan_id": {s.inst.planID}}
				if s.cfg.Async {
					q.Set("accepts_incomplete", "true")
				}
				if empty {
					q.Set(field, "")
				} else {
					q.Del(field)
				}
				resp, err := c.Do(t.Context(), http.MethodDelete, InstancePath(id), q, nil, nil)
				want(t, resp, err, http.StatusBadRequest)
			}
		})
	}
	if s.cfg.RequireAsync&broker.ActionDeprovision != 0 {
		ready("D5/async-required-422", func(t *testing.T, c *Client) {
			resp, err := c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.inst.planID})
			wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeAsyncRequired)
		})
	}
	req := DeprovisionRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.inst.planID, AcceptsIncomplete: s.cfg.Async}
	var op string
	var accepted bool
	ready("D3/deprovision", func(t *testing.T, c *Client) {
		req.PlanID = s.inst.planID
		resp, err := c.Deprovision(t.Context(), req)
		if !want(t, resp, err, s.doneStatuses()...) {
			return
		}
		accepted = resp.StatusCode == http.StatusAccepted
		s.deleted = !accepted
		op = resp.Value.Operation
	})
	deleting := func(name string, f func(t *testing.T, c *Client)) {
		s.run(name, func(t *testing.T, c *Client) {
			if !accepted {
				t.Skip("the deprovision was not accepted asynchronously")
			}
			f(t, c)
		})
	}
	deleting("D3/repeat-in-progress-202-same-operation", func(t *testing.T, c *Client) {
		resp, err := c.Deprovision(t.Context(), req)
		if !want(t, resp, err, http.StatusAccepted, http.StatusGone) {
			return
		}
		if resp.StatusCode == http.StatusAccepted && resp.Value.Operation != op {
			t.Errorf("answered operation %q; want the first answer's %q", resp.Value.Operation, op)
		}
	})
	deleting("I/provision-while-deprovisioning-422", func(t *testing.T, c *Client) {
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	deleting("FI4/get-while-deprovisioning-422", func(t *testing.T, c *Client) {
		if !s.svc.InstancesRetrievable {
			t.Skip("the service is not instances_retrievable")
		}
		resp, err := c.GetInstance(t.Context(), GetInstanceRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.inst.planID})
		wantError(t, resp, err, http.StatusUnprocessableEntity, broker.CodeConcurrencyError)
	})
	deleting("LI7/poll-delete-until-done", func(t *testing.T, c *Client) {
		s.deleted = s.pollInstance(t, c, id, op, s.inst.planID, true)
	})
	deleting("LI7/after-delete-200-or-410", func(t *testing.T, c *Client) {
		if !s.deleted {
			t.Skip("the instance was not deleted")
		}
		resp, err := c.LastOperation(t.Context(), LastOperationRequest{InstanceID: id, ServiceID: s.svc.ID, PlanID: s.inst.planID, Operation: op})
		if !want(t, resp, err, http.StatusOK, http.StatusGone) {
			return
		}
		if resp.StatusCode == http.StatusOK && resp.Value.State != broker.Succeeded {
			t.Errorf("state %q after the delete succeeded; want %q", resp.Value.State, broker.Succeeded)
		}
	})
	s.run("D4/deprovision-again-410", func(t *testing.T, c *Client) {
		if !s.deleted {
			t.Skip("the instance was not deleted")
		}
		resp, err := c.Deprovision(t.Context(), req)
		want(t, resp, err, http.StatusGone)
	})
	s.run("D4/unknown-instance-410", func(t *testing.T, c *Client) {
		resp, err := c.Deprovision(t.Context(), DeprovisionRequest{InstanceID: NewUUID(), ServiceID: s.svc.ID,
			PlanID: s.plan.ID, AcceptsIncomplete: s.cfg.Async})
		want(t, resp, err, http.StatusGone)
	})
	s.run("I/reuse-after-delete", func(t *testing.T, c *Client) {
		if !s.deleted {
			t.Skip("the instance was not deleted")
		}
		s.inst.planID = s.plan.ID
		resp, err := c.Provision(t.Context(), s.provisionRequest(id))
		if !want(t, resp, err, s.createdStatuses()...) {
			return
		}
		if resp.StatusCode == http.StatusAccepted {
			s.pollInstance(t, c, id, resp.Value.Operation, s.plan.ID, false)
		}
	})
}

// --- every response ---

// route names the endpoint of a request.
type route uint8

const (
	routeOther route = iota
	routeCatalog
	routeProvision
	routeUpdate
	routeDeprovision
	routeGetInstance
	routeLastOperation
	routeBind
	routeUnbind
	routeGetBinding
	routeBindingLastOperation
)

func routeOf(method, path string) route {
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(seg) < 2 || seg[0] != "v2" {
		return routeOther
	}
	switch {
	case len(seg) == 2 && seg[1] == "catalog" && method == http.MethodGet:
		return routeCatalog
	case seg[1] != "service_instances":
		return routeOther
	case len(seg) == 3:
		switch method {
		case http.MethodPut:
			return routeProvision
		case http.MethodPatch:
			return routeUpdate
		case http.MethodDelete:
			return routeDeprovision
		case http.MethodGet:
			return routeGetInstance
		}
	case len(seg) == 4 && seg[3] == "last_operation" && method == http.MethodGet:
		return routeLastOperation
	case len(seg) == 5 && seg[3] == "service_bindings":
		switch method {
		case http.MethodPut:
			return routeBind
		case http.MethodDelete:
			return routeUnbind
		case http.MethodGet:
			return routeGetBinding
		}
	case len(seg) == 6 && seg[3] == "service_bindings" && seg[5] == "last_operation" && method == http.MethodGet:
		return routeBindingLastOperation
	}
	return routeOther
}

// successes lists the 2xx each endpoint may answer.
var successes = map[route][]int{
	routeCatalog:              {200},
	routeProvision:            {200, 201, 202},
	routeUpdate:               {200, 202},
	routeDeprovision:          {200, 202},
	routeGetInstance:          {200},
	routeLastOperation:        {200},
	routeBind:                 {200, 201, 202},
	routeUnbind:               {200, 202},
	routeGetBinding:           {200},
	routeBindingLastOperation: {200},
}

// osbTimeRE is the spec's yyyy-mm-ddThh:mm:ss.sZ (B9), with any number of
// fraction digits.
var osbTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

// checkResponse applies the rules that hold for every response.
func checkResponse(t *testing.T, r *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	where := r.Method + " " + r.URL.EscapedPath()
	st := resp.StatusCode
	errorf := func(id, format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s answered %d: %s", id, where, st, fmt.Sprintf(format, args...))
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		errorf("G11", "Content-Type is %q, not application/json", resp.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		errorf("G11", "the body is not JSON")
		return
	}
	obj, isObj := v.(map[string]any)
	rt := routeOf(r.Method, r.URL.EscapedPath())
	q := r.URL.Query()

	switch {
	case st == http.StatusForbidden || st == http.StatusNoContent:
		errorf("G10", "the spec never uses %d", st)
	case st == http.StatusNotFound && (rt == routeDeprovision || rt == routeUnbind):
		errorf("D4/UB4", "a delete of something that does not exist is 410 Gone, never 404")
	case st >= 200 && st <= 299:
		if ok := successes[rt]; ok != nil && !slices.Contains(ok, st) {
			errorf("P11/G10", "%d is not a success this endpoint may send", st)
		}
		if st == http.StatusAccepted && q.Get("accepts_incomplete") != "true" {
			errorf("G15", "202 is allowed only with accepts_incomplete=true")
		}
		if !isObj {
			errorf("G11", "a 2xx body must be a JSON object")
		}
	}
	if !isObj {
		return
	}
	if st >= 400 {
		for _, f := range []string{"error", "description"} {
			if x, ok := obj[f]; ok {
				if s, _ := x.(string); s == "" {
					errorf("G7", "the error body's %q must be a non-empty string", f)
				}
			}
		}
		if _, ok := obj["instance_usable"]; ok && rt != routeUpdate && rt != routeDeprovision {
			errorf("G8", "instance_usable is only for update and deprovision errors")
		}
		if _, ok := obj["update_repeatable"]; ok && rt != routeUpdate {
			errorf("G8", "update_repeatable is only for update errors")
		}
		return
	}
	if st == http.StatusAccepted {
		if x, ok := obj["operation"]; ok && x != nil {
			op, isStr := x.(string)
			switch {
			case !isStr || op == "":
				errorf("G17", "operation must be a non-empty string")
			case len(op) > 10000:
				errorf("G17", "operation has %d characters; at most 10,000 are allowed", len(op))
			case !unreservedRE.MatchString(op):
				errorf("G14", "operation %q should use only URL-unreserved characters", op)
			}
		}
		if rt == routeBind {
			for _, f := range []string{"credentials", "syslog_drain_url", "route_service_url", "volume_mounts", "endpoints"} {
				if _, ok := obj[f]; ok {
					errorf("B4", "a 202 to a bind carries no %s", f)
				}
			}
		}
	}
	switch rt {
	case routeProvision, routeUpdate:
		if x, ok := obj["dashboard_url"]; ok && x != nil {
			if _, isStr := x.(string); !isStr {
				errorf("P9", "dashboard_url must be a string or null")
			}
		}
	case routeLastOperation, routeBindingLastOperation:
		checkLastOperation(errorf, rt, resp, obj)
	case routeBind, routeGetBinding:
		checkBinding(errorf, obj)
	}
}

func checkLastOperation(errorf func(id, format string, args ...any), rt route, resp *http.Response, obj map[string]any) {
	id := "LI1"
	if rt == routeBindingLastOperation {
		id = "LB1"
	}
	state, _ := obj["state"].(string)
	switch broker.State(state) {
	case broker.InProgress, broker.Succeeded, broker.Failed:
	default:
		errorf(id, "state %q is not in progress, succeeded or failed", state)
	}
	if x, ok := obj["description"]; ok {
		if s, _ := x.(string); s == "" {
			errorf(id, "description must be a non-empty string when present")
		}
	}
	for _, f := range []string{"instance_usable", "update_repeatable"} {
		if _, ok := obj[f]; ok && (rt == routeBindingLastOperation || state != string(broker.Failed)) {
			errorf(id, "%s is only for a failed update or deprovision of an instance", f)
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		raID := "LI6"
		if rt == routeBindingLastOperation {
			raID = "LB4"
		}
		if n, err := strconv.ParseUint(ra, 10, 32); err != nil || n > 86400 {
			errorf(raID, "Retry-After %q should be a whole number of seconds", ra)
		}
	}
}

func checkBinding(errorf func(id, format string, args ...any), obj map[string]any) {
	if x, ok := obj["credentials"]; ok && x != nil {
		if _, isObj := x.(map[string]any); !isObj {
			errorf("B3", "credentials must be an object")
		}
	}
	md, _ := obj["metadata"].(map[string]any)
	var times [2]time.Time
	for i, f := range []string{"expires_at", "renew_before"} {
		x, ok := md[f]
		if !ok {
			continue
		}
		s, _ := x.(string)
		if !osbTimeRE.MatchString(s) {
			errorf("B9", "metadata.%s must be formatted yyyy-mm-ddThh:mm:ss.sZ", f)
			continue
		}
		times[i], _ = time.Parse(time.RFC3339Nano, s)
	}
	if !times[0].IsZero() && !times[1].IsZero() && times[1].After(times[0]) {
		errorf("B9", "metadata.renew_before is after metadata.expires_at")
	}
	if eps, ok := obj["endpoints"].([]any); ok {
		for i, e := range eps {
			eo, _ := e.(map[string]any)
			host, _ := eo["host"].(string)
			ports, _ := eo["ports"].([]any)
			if host == "" || len(ports) == 0 {
				errorf("B10", "endpoints[%d] needs a host and at least one port", i)
			}
			if p, ok := eo["protocol"]; ok && p != "tcp" && p != "udp" && p != "all" {
				errorf("B10", "endpoints[%d].protocol must be tcp, udp or all", i)
			}
		}
	}
}

// jsonValueEqual compares decoded JSON values.
func jsonValueEqual(a, b any) bool {
	return reflect.DeepEqual(canonical(a), canonical(b))
}
