package broker_test

// Tests for the rules every endpoint obeys (CHECKLIST.md §G) and for the
// catalog endpoint (§C). Each test or case names the checklist item it
// covers. The harness (harness_test.go) checks G7, G11 and the OpenAPI
// schema of every response these tests receive.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/canary"
)

// --- helpers shared by common_test.go and instance_test.go ---

// reply is what most tests compare: the status and the decoded body.
type reply struct {
	Status int
	Body   map[string]any
}

func replyOf(r response) reply { return reply{Status: r.status, Body: r.json} }

// errReply is an error answer with the given code ("" for none) and
// description.
func errReply(status int, code, description string) reply {
	b := map[string]any{"description": description}
	if code != "" {
		b["error"] = code
	}
	return reply{Status: status, Body: b}
}

// sentinelReply is the answer a handler gives for one of the package's
// Err* sentinels, which carry the spec's descriptions.
func sentinelReply(e *broker.Error) reply { return errReply(e.Status, e.Code, e.Description) }

// checkReply fails t with a -want +got diff unless res is want.
func checkReply(t testing.TB, want reply, res response) {
	t.Helper()
	if diff := cmp.Diff(want, replyOf(res)); diff != "" {
		t.Errorf("answer mismatch (-want +got):\n%s\nraw body: %s", diff, res.body)
	}
}

// checkRejected asserts an error answer with status and code whose
// description mentions each of mentions. Used where the description is
// ours, not the spec's, and pinning all of it would make the test brittle.
func checkRejected(t testing.TB, res response, status int, code string, mentions ...string) {
	t.Helper()
	gotCode, _ := res.json["error"].(string)
	if res.status != status || gotCode != code {
		t.Errorf("got %d %q, want %d %q; body %s", res.status, gotCode, status, code, res.body)
	}
	desc, _ := res.json["description"].(string)
	if desc == "" {
		t.Errorf("error body %s has no description", res.body)
	}
	for _, m := range mentions {
		if !strings.Contains(desc, m) {
			t.Errorf("description %q does not mention %q", desc, m)
		}
	}
}

// checkNotCalled fails t if the backend method ran: the handler must answer
// on its own.
func checkNotCalled(t testing.TB, f *fakeBackend, method string) {
	t.Helper()
	if n := f.called(method); n != 0 {
		t.Errorf("backend %s was called %d times, want 0: the handler must reject the request itself", method, n)
	}
}

// backendGot returns the last request the backend method received, failing
// t if it never ran.
func backendGot[T any](t testing.TB, f *fakeBackend, method string) T {
	t.Helper()
	r, ok := f.lastRequest(method).(T)
	if !ok {
		t.Fatalf("backend %s was not called (last request %#v)", method, f.lastRequest(method))
	}
	return r
}

// metaOf returns the Meta embedded in any request type of the package.
func metaOf(t testing.TB, req any) broker.Meta {
	t.Helper()
	switch r := req.(type) {
	case *broker.ProvisionRequest:
		return r.Meta
	case *broker.UpdateRequest:
		return r.Meta
	case *broker.DeprovisionRequest:
		return r.Meta
	case *broker.GetInstanceRequest:
		return r.Meta
	case *broker.LastOperationRequest:
		return r.Meta
	case *broker.BindRequest:
		return r.Meta
	case *broker.UnbindRequest:
		return r.Meta
	case *broker.GetBindingRequest:
		return r.Meta
	case *broker.BindingLastOperationRequest:
		return r.Meta
	}
	t.Fatalf("no request recorded (got %T)", req)
	return broker.Meta{}
}

// withQuery appends q to p with ? or &.
func withQuery(p, q string) string {
	if strings.Contains(p, "?") {
		return p + "&" + q
	}
	return p + "?" + q
}

func basicHeader(user, pass string) *string {
	return str("Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
}

// newHandlerFor builds a handler like newHandler, over catalog c.
func newHandlerFor(t testing.TB, c catalog.Catalog, f *fakeBackend, optFns ...func(*broker.Options)) (*broker.Handler, *catalog.Index) {
	t.Helper()
	idx, err := catalog.NewIndex(c)
	if err != nil {
		t.Fatalf("NewIndex: %v", err)
	}
	h, err := broker.New(idx, f, broker.Options{Authenticator: broker.BasicAuth(broker.Credential{Username: testUser, Password: testPass})}, optFns...)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	return h, idx
}

// endpointCase is one of the ten OSB endpoints, called validly.
type endpointCase struct {
	name string
	// backend is the fakeBackend method the endpoint calls, or "".
	backend string
	call    call
	// async is true for the endpoints that take accepts_incomplete.
	async bool
}

const (
	bindPath     = "/v2/service_instances/" + instanceID + "/service_bindings/" + bindingID
	deleteIDs    = "service_id=" + svcBindable + "&plan_id=" + planSmall
	instancePath = "/v2/service_instances/" + instanceID
)

// tenEndpoints returns valid calls to the ten endpoints of the API.
func tenEndpoints(t testing.TB) []endpointCase {
	bindJSON := jsonBody(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall})
	return []endpointCase{
		{name: "catalog", call: call{method: "GET", path: "/v2/catalog"}},
		{name: "provision", backend: "Provision", async: true,
			call: call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil))}},
		{name: "update", backend: "Update", async: true,
			call: call{method: "PATCH", path: instancePath, body: jsonBody(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall})}},
		{name: "deprovision", backend: "Deprovision", async: true,
			call: call{method: "DELETE", path: instancePath + "?" + deleteIDs}},
		{name: "get_instance", backend: "GetInstance", call: call{method: "GET", path: instancePath}},
		{name: "instance_last_operation", backend: "LastOperation", call: call{method: "GET", path: instancePath + "/last_operation"}},
		{name: "bind", backend: "Bind", async: true, call: call{method: "PUT", path: bindPath, body: bindJSON}},
		{name: "unbind", backend: "Unbind", async: true, call: call{method: "DELETE", path: bindPath + "?" + deleteIDs}},
		{name: "get_binding", backend: "GetBinding", call: call{method: "GET", path: bindPath}},
		{name: "binding_last_operation", backend: "BindingLastOperation", call: call{method: "GET", path: bindPath + "/last_operation"}},
	}
}

// asyncEndpoints are the five endpoints that take accepts_incomplete.
func asyncEndpoints(t testing.TB) []endpointCase {
	var out []endpointCase
	for _, e := range tenEndpoints(t) {
		if e.async {
			out = append(out, e)
		}
	}
	return out
}

// failingBackend answers every method with err.
func failingBackend(err error) *fakeBackend {
	return &fakeBackend{
		provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
			return broker.ProvisionResponse{}, err
		},
		update: func(context.Context, *broker.UpdateRequest) (broker.UpdateResponse, error) {
			return broker.UpdateResponse{}, err
		},
		deprovision: func(context.Context, *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
			return broker.DeprovisionResponse{}, err
		},
		lastOperation: func(context.Context, *broker.LastOperationRequest) (broker.LastOperation, error) {
			return broker.LastOperation{}, err
		},
		getInstance: func(context.Context, *broker.GetInstanceRequest) (broker.Instance, error) {
			return broker.Instance{}, err
		},
		bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
			return broker.BindResponse{}, err
		},
		unbind: func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error) {
			return broker.UnbindResponse{}, err
		},
		bindingLastOp: func(context.Context, *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
			return broker.LastOperation{}, err
		},
		getBinding: func(context.Context, *broker.GetBindingRequest) (broker.Binding, error) {
			return broker.Binding{}, err
		},
	}
}

// acceptingBackend answers the five asynchronous methods with Accepted and
// operation op.
func acceptingBackend(op string) *fakeBackend {
	return &fakeBackend{
		provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
			return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: op}, nil
		},
		update: func(context.Context, *broker.UpdateRequest) (broker.UpdateResponse, error) {
			return broker.UpdateResponse{Outcome: broker.Accepted, Operation: op}, nil
		},
		deprovision: func(context.Context, *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
			return broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: op}, nil
		},
		bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
			return broker.BindResponse{Outcome: broker.Accepted, Operation: op}, nil
		},
		unbind: func(context.Context, *broker.UnbindRequest) (broker.UnbindResponse, error) {
			return broker.UnbindResponse{Outcome: broker.Accepted, Operation: op}, nil
		},
	}
}

// --- G1: authentication ---

func TestG1_EveryEndpointRequiresCredentials(t *testing.T) {
	t.Parallel()
	auths := []struct {
		name   string
		value  *string // the Authorization header; nil removes it
		reason string
	}{
		{"none", nil, "a request without credentials is refused"},
		{"wrong password", basicHeader(testUser, "wrong-password"), "the password must match"},
		{"wrong user", basicHeader("intruder", testPass), "the username must match"},
		{"empty", basicHeader("", ""), "empty credentials are not a credential"},
		{"not basic", str("Bearer " + testPass), "another scheme is not Basic"},
		{"garbage", str("Basic !!!not-base64"), "an undecodable Basic header is refused"},
	}
	for _, ep := range tenEndpoints(t) {
		for _, a := range auths {
			t.Run("G1/"+ep.name+"/"+a.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				h := newHandler(t, f)
				c := ep.call
				c.header = map[string]*string{"Authorization": a.value}
				res := do(t, h, c)
				checkReply(t, errReply(http.StatusUnauthorized, "", "Missing or invalid credentials."), res)
				if got, want := res.header.Get("WWW-Authenticate"), `Basic realm="Open Service Broker"`; got != want {
					t.Errorf("WWW-Authenticate = %q, want %q (%s)", got, want, a.reason)
				}
				if ep.backend != "" {
					checkNotCalled(t, f, ep.backend)
				}
			})
		}
	}
}

func TestG1_ValidCredentialsReachEveryEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range tenEndpoints(t) {
		t.Run("G1/"+ep.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), ep.call)
			if res.status >= 300 {
				t.Fatalf("status %d, want 2xx; body %s", res.status, res.body)
			}
			if ep.backend != "" && f.called(ep.backend) != 1 {
				t.Errorf("backend %s called %d times, want 1", ep.backend, f.called(ep.backend))
			}
		})
	}
}

func TestG1_SeveralCredentials(t *testing.T) {
	t.Parallel()
	creds := func(o *broker.Options) {
		o.Authenticator = broker.BasicAuth(
			broker.Credential{Username: "cf", Password: "cf-pass"},
			broker.Credential{Username: "k8s", Password: "k8s-pass"},
		)
	}
	tests := []struct {
		id, name   string
		user, pass string
		want       int
		reason     string
	}{
		{"G1", "first", "cf", "cf-pass", http.StatusOK, "the first credential is accepted"},
		{"G1", "second", "k8s", "k8s-pass", http.StatusOK, "any other credential is accepted too"},
		{"G1", "crossed", "cf", "k8s-pass", http.StatusUnauthorized, "a password is valid only with its own username"},
		{"G1", "harness default", testUser, testPass, http.StatusUnauthorized, "credentials not configured are refused"},
		{"G1", "prefix", "cf", "cf-pas", http.StatusUnauthorized, "a prefix of the password is not the password"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, &fakeBackend{}, creds)
			res := do(t, h, call{method: "GET", path: "/v2/catalog", header: map[string]*string{"Authorization": basicHeader(tc.user, tc.pass)}})
			if res.status != tc.want {
				t.Errorf("status %d, want %d: %s", res.status, tc.want, tc.reason)
			}
		})
	}
}

func TestG1_CustomAuthenticator(t *testing.T) {
	t.Parallel()
	bearer := func(o *broker.Options) {
		o.Authenticator = broker.AuthenticatorFunc(func(r *http.Request) error {
			if r.Header.Get("Authorization") != "Bearer token-1" {
				return errors.New("bad token")
			}
			return nil
		})
	}
	tests := []struct {
		id, name string
		auth     *string
		want     int
		reason   string
	}{
		{"G1", "accepted", str("Bearer token-1"), http.StatusOK, "the custom Authenticator decides"},
		{"G1", "refused", str("Bearer token-2"), http.StatusUnauthorized, "its error becomes 401"},
		{"G1", "basic refused", basicHeader(testUser, testPass), http.StatusUnauthorized, "Basic auth is not consulted when another Authenticator is set"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			h := newHandler(t, f, bearer)
			res := do(t, h, call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil)),
				header: map[string]*string{"Authorization": tc.auth}})
			if tc.want == http.StatusOK {
				tc.want = http.StatusCreated
			}
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			if res.status == http.StatusUnauthorized {
				if strings.Contains(string(res.body), "bad token") {
					t.Errorf("body %s shows the Authenticator's error; it must only be logged", res.body)
				}
				if got := res.header.Get("WWW-Authenticate"); got != "" {
					t.Errorf("WWW-Authenticate = %q, want none for a non-Basic Authenticator", got)
				}
				checkNotCalled(t, f, "Provision")
			}
		})
	}
}

func TestG1_Unauthenticated(t *testing.T) {
	t.Parallel()
	h := newHandler(t, &fakeBackend{}, func(o *broker.Options) { o.Authenticator, o.Unauthenticated = nil, true })
	res := do(t, h, call{method: "GET", path: "/v2/catalog", header: map[string]*string{"Authorization": nil}})
	if res.status != http.StatusOK {
		t.Errorf("status %d, want 200: Options.Unauthenticated serves without credentials", res.status)
	}
}

func TestG1_NewRefusesNoAuthenticator(t *testing.T) {
	t.Parallel()
	idx, err := catalog.NewIndex(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.New(idx, &fakeBackend{}, broker.Options{}); !errors.Is(err, broker.ErrNoAuthenticator) {
		t.Errorf("New without an Authenticator: err = %v, want ErrNoAuthenticator (G1: authenticate every request)", err)
	}
}

// The Authenticator "runs before anything else, on every request" (auth.go),
// and G1 requires authenticating every request: a path that is not clean
// must not be answered before the credentials are checked.
func TestG1_UncleanPathRequiresCredentials(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/v2//catalog", "/v2/catalog/", "/v2/./catalog"} {
		t.Run("G1/"+p, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, &fakeBackend{}), call{method: "GET", path: p, header: map[string]*string{"Authorization": nil}})
			if res.status != http.StatusUnauthorized {
				t.Errorf("GET %s without credentials: status %d, want 401 (G1: every request is authenticated first)", p, res.status)
			}
		})
	}
}

// --- G3: X-Broker-API-Version ---

func TestG3_APIVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		version  *string // nil removes the header
		opts     func(*broker.Options)
		want     int
		mentions string // in the description of a refusal
		reason   string
	}{
		{id: "G3", name: "missing", version: nil, want: 412, mentions: "X-Broker-API-Version",
			reason: "a missing header is 412 by default, as conformance suites expect"},
		{id: "G3", name: "empty", version: str(""), want: 412, mentions: "required",
			reason: "an empty header is a missing header"},
		{id: "G3", name: "missing with 400 option", version: nil, want: 400, mentions: "required",
			opts:   func(o *broker.Options) { o.MissingVersionStatus = http.StatusBadRequest },
			reason: "Options.MissingVersionStatus=400 chooses the spec's other answer"},
		{id: "G3", name: "1.0", version: str("1.0"), want: 412, mentions: "2.17", reason: "major version 1 is refused, naming the supported version"},
		{id: "G3", name: "3.0", version: str("3.0"), want: 412, mentions: "2.17", reason: "major version 3 is refused"},
		{id: "G3", name: "2", version: str("2"), want: 412, mentions: "2.17", reason: "MAJOR.MINOR is required"},
		{id: "G3", name: "abc", version: str("abc"), want: 412, mentions: "2.17", reason: "garbage is refused"},
		{id: "G3", name: "2.x", version: str("2.x"), want: 412, mentions: "2.17", reason: "the minor version must be a number"},
		{id: "G3", name: "2.", version: str("2."), want: 412, mentions: "2.17", reason: "the minor version must be present"},
		{id: "G3", name: "version of another status option", version: str("1.0"), want: 412, mentions: "2.17",
			opts:   func(o *broker.Options) { o.MissingVersionStatus = http.StatusBadRequest },
			reason: "MissingVersionStatus changes only the missing case; a wrong version stays 412"},
		{id: "G3", name: "2.17", version: str("2.17"), want: 200, reason: "the version implemented"},
		{id: "G3", name: "2.13", version: str("2.13"), want: 200, reason: "older 2.x minors are accepted by default"},
		{id: "G3", name: "2.0", version: str("2.0"), want: 200, reason: "the default minimum is 2.0"},
		{id: "G3", name: "2.13 below minimum", version: str("2.13"), want: 412, mentions: "2.14",
			opts:   func(o *broker.Options) { o.MinAPIVersion = broker.APIVersion{Major: 2, Minor: 14} },
			reason: "Options.MinAPIVersion refuses older minors, naming the minimum"},
		{id: "G3", name: "2.14 at minimum", version: str("2.14"), want: 200,
			opts:   func(o *broker.Options) { o.MinAPIVersion = broker.APIVersion{Major: 2, Minor: 14} },
			reason: "the minimum itself is accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*broker.Options)
			if tc.opts != nil {
				opts = append(opts, tc.opts)
			}
			f := &fakeBackend{}
			h := newHandler(t, f, opts...)
			// The catalog needs no body; last_operation shows the backend is
			// (not) reached.
			for _, p := range []string{"/v2/catalog", instancePath + "/last_operation"} {
				res := do(t, h, call{method: "GET", path: p, header: map[string]*string{"X-Broker-API-Version": tc.version}})
				if tc.want == 200 {
					if res.status != 200 {
						t.Errorf("GET %s: status %d, want 200: %s; body %s", p, res.status, tc.reason, res.body)
					}
					continue
				}
				checkRejected(t, res, tc.want, "", tc.mentions)
			}
			if tc.want != 200 {
				checkNotCalled(t, f, "LastOperation")
			}
		})
	}
}

func TestG3_VersionReachesBackend(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	h := newHandler(t, f)
	do(t, h, call{method: "GET", path: instancePath + "/last_operation", header: map[string]*string{"X-Broker-API-Version": str("2.13")}})
	got := metaOf(t, f.lastRequest("LastOperation")).APIVersion
	if diff := cmp.Diff(broker.APIVersion{Major: 2, Minor: 13}, got); diff != "" {
		t.Errorf("Meta.APIVersion (-want +got):\n%s", diff)
	}
}

func TestG3_NewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		opts     func(*broker.Options)
		reason   string
	}{
		{"G3", "MissingVersionStatus 404", func(o *broker.Options) { o.MissingVersionStatus = 404 }, "only 412 and 400 are allowed"},
		{"G3", "MinAPIVersion 3.0", func(o *broker.Options) { o.MinAPIVersion = broker.APIVersion{Major: 3} }, "only major version 2 exists"},
		{"G3", "MinAPIVersion 2.18", func(o *broker.Options) { o.MinAPIVersion = broker.APIVersion{Major: 2, Minor: 18} }, "newer than the implemented version"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			idx, err := catalog.NewIndex(testCatalog())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := broker.New(idx, &fakeBackend{}, broker.Options{Unauthenticated: true}, tc.opts); err == nil {
				t.Errorf("New succeeded, want an error: %s", tc.reason)
			}
		})
	}
}

// --- G4: check order ---

func TestG4_CheckOrder(t *testing.T) {
	t.Parallel()
	const garbage = "{{{ not json"
	tests := []struct {
		id, name string
		auth     *string
		version  *string
		body     string
		want     int
		reason   string
	}{
		{"G4", "bad creds, bad version, garbage", basicHeader(testUser, "nope"), str("abc"), garbage, 401, "authentication comes first"},
		{"G4", "no creds, no version, garbage", nil, nil, garbage, 401, "authentication comes first, also without any header"},
		{"G4", "good creds, bad version, garbage", basicHeader(testUser, testPass), str("abc"), garbage, 412, "the version comes before the body"},
		{"G4", "good creds, no version, garbage", basicHeader(testUser, testPass), nil, garbage, 412, "a missing version comes before the body"},
		{"G4", "good creds, good version, garbage", basicHeader(testUser, testPass), str("2.17"), garbage, 400, "the body is checked last"},
	}
	for _, ep := range tenEndpoints(t) {
		for _, tc := range tests {
			if tc.want == 400 && ep.call.body == "" {
				continue // nothing to parse
			}
			t.Run(tc.id+"/"+ep.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				c := ep.call
				if c.body != "" {
					c.body = garbage
				}
				c.header = map[string]*string{"Authorization": tc.auth, "X-Broker-API-Version": tc.version}
				res := do(t, newHandler(t, f), c)
				if res.status != tc.want {
					t.Errorf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
				}
				if ep.backend != "" {
					checkNotCalled(t, f, ep.backend)
				}
			})
		}
	}
}

// --- G5: originating identity ---

func originatingHeader(platform string, v any) *string {
	b, _ := json.Marshal(v)
	return str(platform + " " + base64.StdEncoding.EncodeToString(b))
}

func TestG5_OriginatingIdentity(t *testing.T) {
	t.Parallel()
	k8s := map[string]any{"username": "alice", "uid": "u-1", "groups": []any{"admins", "dev"}, "extra": map[string]any{"scopes": []any{"a", "b"}}}
	cf := map[string]any{"user_id": "683ea748-3092-4ff4-b656-39cacc4d5360"}
	tests := []struct {
		id, name string
		header   *string
		want     *broker.OriginatingIdentity
		reason   string
	}{
		{id: "G5", name: "kubernetes", header: originatingHeader("kubernetes", k8s),
			want: &broker.OriginatingIdentity{Platform: "kubernetes", Value: k8s,
				Kubernetes: &broker.KubernetesUser{Username: "alice", UID: "u-1", Groups: []string{"admins", "dev"}, Extra: map[string][]string{"scopes": {"a", "b"}}}},
			reason: "the Kubernetes user.info object is parsed into the typed value"},
		{id: "G5", name: "cloudfoundry", header: originatingHeader("cloudfoundry", cf),
			want:   &broker.OriginatingIdentity{Platform: "cloudfoundry", Value: cf, CloudFoundry: &broker.CloudFoundryUser{UserID: "683ea748-3092-4ff4-b656-39cacc4d5360"}},
			reason: "the Cloud Foundry user_id is parsed into the typed value"},
		{id: "G5", name: "other platform", header: originatingHeader("myplatform", map[string]any{"who": "bob"}),
			want:   &broker.OriginatingIdentity{Platform: "myplatform", Value: map[string]any{"who": "bob"}},
			reason: "any platform is accepted, with the decoded object"},
		{id: "G5", name: "unpadded base64", header: str("cloudfoundry " + base64.RawStdEncoding.EncodeToString([]byte(`{"user_id":"u"}`))),
			want:   &broker.OriginatingIdentity{Platform: "cloudfoundry", Value: map[string]any{"user_id": "u"}, CloudFoundry: &broker.CloudFoundryUser{UserID: "u"}},
			reason: "parsing is lenient about padding"},
		{id: "G5", name: "absent", header: nil, want: nil, reason: "the header is optional"},
		{id: "G5", name: "not base64", header: str("kubernetes !!!not-base64!!!"), want: nil, reason: "a malformed header is treated as absent"},
		{id: "G5", name: "no value", header: str("kubernetes"), want: nil, reason: "a platform alone is malformed"},
		{id: "G5", name: "not json", header: str("kubernetes " + base64.StdEncoding.EncodeToString([]byte("not json"))), want: nil, reason: "the value must be JSON"},
		{id: "G5", name: "json array", header: str("kubernetes " + base64.StdEncoding.EncodeToString([]byte("[1]"))), want: nil, reason: "the value must be a JSON object"},
		{id: "G5", name: "empty", header: str(""), want: nil, reason: "an empty header is absent"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			h := newHandler(t, f)
			res := do(t, h, call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil)),
				header: map[string]*string{"X-Broker-API-Originating-Identity": tc.header}})
			if res.status != http.StatusCreated {
				t.Fatalf("status %d, want 201 (%s); body %s", res.status, tc.reason, res.body)
			}
			got := backendGot[*broker.ProvisionRequest](t, f, "Provision").OriginatingIdentity
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: OriginatingIdentity (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestG5_OriginatingIdentityOnEveryEndpoint(t *testing.T) {
	t.Parallel()
	for _, ep := range tenEndpoints(t) {
		if ep.backend == "" {
			continue
		}
		t.Run("G5/"+ep.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			c := ep.call
			c.header = map[string]*string{"X-Broker-API-Originating-Identity": originatingHeader("cloudfoundry", map[string]any{"user_id": "u-9"})}
			if res := do(t, newHandler(t, f), c); res.status >= 300 {
				t.Fatalf("status %d; body %s", res.status, res.body)
			}
			if got := metaOf(t, f.lastRequest(ep.backend)).OriginatingIdentity.User(); got != "u-9" {
				t.Errorf("OriginatingIdentity.User() = %q, want u-9", got)
			}
		})
	}
}

// --- G6: request identity ---

func TestG6_RequestIdentity(t *testing.T) {
	t.Parallel()
	const id = "e26cea33-9f35-4d36-9f7d-5b7b5a0d8e63"
	for _, ep := range tenEndpoints(t) {
		t.Run("G6/"+ep.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			c := ep.call
			c.header = map[string]*string{"X-Broker-API-Request-Identity": str(id)}
			res := do(t, newHandler(t, f), c)
			if got := res.header.Get("X-Broker-API-Request-Identity"); got != id {
				t.Errorf("response X-Broker-API-Request-Identity = %q, want %q", got, id)
			}
			if ep.backend != "" {
				if got := metaOf(t, f.lastRequest(ep.backend)).RequestIdentity; got != id {
					t.Errorf("Meta.RequestIdentity = %q, want %q", got, id)
				}
			}
		})
	}
}

func TestG6_RequestIdentityOnErrors(t *testing.T) {
	t.Parallel()
	const id = "req-err-1"
	tests := []struct {
		id, name string
		c        call
		want     int
		reason   string
	}{
		{"G6", "401", call{method: "GET", path: "/v2/catalog", header: map[string]*string{"Authorization": nil}}, 401, "echoed on an auth failure"},
		{"G6", "412", call{method: "GET", path: "/v2/catalog", header: map[string]*string{"X-Broker-API-Version": str("1.0")}}, 412, "echoed on a version failure"},
		{"G6", "400", call{method: "PUT", path: instancePath, body: "[]"}, 400, "echoed on a bad request"},
		{"G6", "404 route", call{method: "GET", path: "/v2/nothing"}, 404, "echoed on an unknown route"},
		{"G6", "404 unclean path", call{method: "GET", path: "/v2//catalog"}, 404, "echoed on an unclean path too"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.c.header == nil {
				tc.c.header = map[string]*string{}
			}
			tc.c.header["X-Broker-API-Request-Identity"] = str(id)
			res := do(t, newHandler(t, &fakeBackend{}), tc.c)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			if got := res.header.Get("X-Broker-API-Request-Identity"); got != id {
				t.Errorf("X-Broker-API-Request-Identity = %q, want %q: %s", got, id, tc.reason)
			}
		})
	}
}

func TestG6_NoRequestIdentityNoHeader(t *testing.T) {
	t.Parallel()
	res := do(t, newHandler(t, &fakeBackend{}), call{method: "GET", path: "/v2/catalog"})
	if v, ok := res.header["X-Broker-Api-Request-Identity"]; ok {
		t.Errorf("X-Broker-API-Request-Identity = %q sent without one in the request", v)
	}
}

// --- G7, G8, G9, G10: error bodies and the error mapping ---

func TestG7_ErrorBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		err      error
		want     reply
		reason   string
	}{
		{"G7", "code and description", &broker.Error{Status: 422, Code: "ConcurrencyError", Description: "Busy."},
			reply{422, map[string]any{"error": "ConcurrencyError", "description": "Busy."}}, "both fields, as strings"},
		{"G7", "code only", &broker.Error{Status: 422, Code: "RequiresApp"},
			reply{422, map[string]any{"error": "RequiresApp"}}, "an absent description is left out, never sent empty"},
		{"G7", "description only", &broker.Error{Status: 409, Description: "Exists."},
			reply{409, map[string]any{"description": "Exists."}}, "an absent code is left out, never sent empty"},
		{"G7", "neither", &broker.Error{Status: 400},
			reply{400, map[string]any{"description": "Bad Request"}}, "an error body always says something"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, failingBackend(tc.err)), call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil))})
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestG8_UsableAndRepeatableOnlyOnUpdateAndDeprovision(t *testing.T) {
	t.Parallel()
	backendErr := &broker.Error{Status: http.StatusUnprocessableEntity, Description: "Quota exceeded.",
		InstanceUsable: broker.Bool(false), UpdateRepeatable: broker.Bool(false)}
	plain := map[string]any{"description": "Quota exceeded."}
	tests := []struct {
		id, endpoint string
		want         map[string]any
		reason       string
	}{
		{"G8", "provision", plain, "never on a provision error"},
		{"G8", "update", map[string]any{"description": "Quota exceeded.", "instance_usable": false, "update_repeatable": false},
			"both on an update error"},
		{"G8", "deprovision", map[string]any{"description": "Quota exceeded.", "instance_usable": false},
			"instance_usable only on a deprovision error"},
		{"G8", "get_instance", plain, "never on a fetch"},
		{"G8", "instance_last_operation", plain, "never on a last_operation error"},
		{"G8", "bind", plain, "never on a bind error"},
		{"G8", "unbind", plain, "never on an unbind error"},
		{"G8", "get_binding", plain, "never on a binding fetch"},
		{"G8", "binding_last_operation", plain, "never on a binding last_operation error"},
	}
	eps := map[string]endpointCase{}
	for _, ep := range tenEndpoints(t) {
		eps[ep.name] = ep
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.endpoint, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, failingBackend(backendErr)), eps[tc.endpoint].call)
			if diff := cmp.Diff(reply{422, tc.want}, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func TestG9_ErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		endpoint string
		err      error
		want     reply
		reason   string
	}{
		{"G9", "AsyncRequired", "provision", broker.ErrAsyncRequired,
			reply{422, map[string]any{"error": "AsyncRequired", "description": broker.ErrAsyncRequired.Description}}, "the spec's code, with 422"},
		{"G9", "ConcurrencyError", "update", broker.ErrConcurrency,
			reply{422, map[string]any{"error": "ConcurrencyError", "description": broker.ErrConcurrency.Description}}, "the spec's code, with 422"},
		{"G9", "RequiresApp", "bind", broker.ErrRequiresApp,
			reply{422, map[string]any{"error": "RequiresApp", "description": broker.ErrRequiresApp.Description}}, "the spec's code, with 422"},
		{"G9", "MaintenanceInfoConflict", "update", broker.ErrMaintenanceInfoConflict,
			reply{422, map[string]any{"error": "MaintenanceInfoConflict", "description": broker.ErrMaintenanceInfoConflict.Description}}, "the spec's code, with 422"},
		{"G9", "built by hand", "deprovision", broker.NewError(422, broker.CodeConcurrencyError, "Stack busy."),
			reply{422, map[string]any{"error": "ConcurrencyError", "description": "Stack busy."}}, "NewError with a code constant"},
	}
	eps := map[string]endpointCase{}
	for _, ep := range tenEndpoints(t) {
		eps[ep.name] = ep
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, failingBackend(tc.err)), eps[tc.endpoint].call)
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
	t.Run("G9/constants", func(t *testing.T) {
		got := []string{broker.CodeAsyncRequired, broker.CodeConcurrencyError, broker.CodeRequiresApp, broker.CodeMaintenanceInfoConflict}
		want := []string{"AsyncRequired", "ConcurrencyError", "RequiresApp", "MaintenanceInfoConflict"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("error code constants (-want +got):\n%s", diff)
		}
		for _, e := range []*broker.Error{broker.ErrAsyncRequired, broker.ErrConcurrency, broker.ErrRequiresApp, broker.ErrMaintenanceInfoConflict} {
			if e.Status != 422 {
				t.Errorf("%s has status %d, want 422", e.Code, e.Status)
			}
		}
	})
}

func TestG10_ErrorMapping(t *testing.T) {
	t.Parallel()
	const secretish = "arn:aws:cloudformation:eu-west-1:123456789012:stack/secret-stack"
	internal := errReply(500, "", "Internal error; the broker's log has the details.")
	tests := []struct {
		id, name string
		err      error
		want     reply
		reason   string
	}{
		{"G10", "wrapped sentinel", fmt.Errorf("stack busy: %w", broker.ErrConcurrency),
			sentinelReply(broker.ErrConcurrency), "errors.As finds a wrapped Error"},
		{"G10", "doubly wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", broker.ErrInstanceConflict)),
			sentinelReply(broker.ErrInstanceConflict), "any depth of wrapping"},
		{"G10", "joined", errors.Join(errors.New("x"), broker.ErrConcurrency),
			sentinelReply(broker.ErrConcurrency), "errors.Join is unwrapped too"},
		{"G10", "Error wrapping a cause", &broker.Error{Status: 422, Code: "ConcurrencyError", Description: "Busy.", Err: errors.New(secretish)},
			errReply(422, "ConcurrencyError", "Busy."), "Err is logged, never sent"},
		{"G10", "plain error", errors.New("describe stacks: " + secretish), internal, "any other error is a 500 that never shows its text"},
		{"G10", "status 200", &broker.Error{Status: 200, Description: "fine?"}, internal, "an Error without an error status is internal"},
		{"G10", "status 0", &broker.Error{Description: "no status"}, internal, "an Error without a status is internal"},
		{"G10", "status 302", &broker.Error{Status: 302, Description: "redirect"}, internal, "a redirect is not an error status"},
		{"G10", "status 503", &broker.Error{Status: 503, Description: "Try later."}, errReply(503, "", "Try later."), "a backend may choose a 5xx"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, failingBackend(tc.err)), call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil))})
			if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
			if strings.Contains(string(res.body), "secret-stack") {
				t.Errorf("body %s shows the error's text", res.body)
			}
		})
	}
}

func TestG10_BackendPanic(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
		panic("boom: secret-panic-value")
	}}
	h := newHandler(t, f)
	res := do(t, h, call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil))})
	checkReply(t, errReply(500, "", "Internal error; the broker's log has the details."), res)
	if strings.Contains(string(res.body), "secret-panic-value") {
		t.Errorf("body %s shows the panic value", res.body)
	}
	// The handler stays usable.
	if res := do(t, h, call{method: "GET", path: "/v2/catalog"}); res.status != 200 {
		t.Errorf("catalog after a panic: status %d, want 200", res.status)
	}
}

func TestG10_AbortHandlerPanicPropagates(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{provision: func(context.Context, *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
		panic(http.ErrAbortHandler)
	}}
	h := newHandler(t, f)
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to propagate so the server aborts the response", p)
		}
	}()
	do(t, h, call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(nil))})
}

// --- G12, G13: bodies ---

func TestG12_ContentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name    string
		contentType *string // nil removes the header
		want        int     // for a provision; 2xx means accepted
		reason      string
	}{
		{"G12", "text/plain", str("text/plain"), 400, "a body with another type is refused"},
		{"G12", "form", str("application/x-www-form-urlencoded"), 400, "a form is not JSON"},
		{"G12", "unparsable", str(";;;"), 400, "an unparsable Content-Type is refused"},
		{"G12", "missing", nil, 201, "a missing Content-Type is accepted when the body parses"},
		{"G12", "json", str("application/json"), 201, "the right type"},
		{"G12", "json with charset", str("application/json; charset=utf-8"), 201, "parameters are allowed"},
		{"G12", "json upper case", str("Application/JSON"), 201, "media types are case-insensitive"},
	}
	for _, tc := range tests {
		for _, ep := range tenEndpoints(t) {
			if ep.call.body == "" {
				continue
			}
			t.Run(tc.id+"/"+ep.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				c := ep.call
				c.header = map[string]*string{"Content-Type": tc.contentType}
				res := do(t, newHandler(t, f), c)
				if tc.want == 400 {
					checkRejected(t, res, 400, "", "application/json")
					checkNotCalled(t, f, ep.backend)
					return
				}
				if res.status >= 300 {
					t.Errorf("status %d, want 2xx: %s; body %s", res.status, tc.reason, res.body)
				}
			})
		}
	}
}

func TestG12_MaxBodyBytes(t *testing.T) {
	t.Parallel()
	body := jsonBody(t, provisionBody(nil))
	limit := func(o *broker.Options) { o.MaxBodyBytes = int64(len(body)) }
	tests := []struct {
		id, name string
		body     string
		want     int
		reason   string
	}{
		{"G12", "at limit", body, 201, "a body of exactly MaxBodyBytes is read"},
		{"G12", "over limit", body + " ", 400, "one byte more is refused"},
		{"G12", "far over limit", body + strings.Repeat(" ", 1<<16), 400, "a large body is refused"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f, limit), call{method: "PUT", path: instancePath, body: tc.body})
			if res.status != tc.want {
				t.Errorf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			if tc.want == 400 {
				checkRejected(t, res, 400, "", fmt.Sprint(len(body)))
				checkNotCalled(t, f, "Provision")
			}
		})
	}
}

func TestG12_DefaultMaxBodyBytes(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	b := provisionBody(map[string]any{"x-pad": strings.Repeat("a", 1<<20)})
	res := do(t, newHandler(t, f), call{method: "PUT", path: instancePath, body: jsonBody(t, b)})
	checkRejected(t, res, 400, "", "1048576")
	checkNotCalled(t, f, "Provision")
}

func TestG13_UnknownFieldsIgnored(t *testing.T) {
	t.Parallel()
	ext := map[string]any{"nested": true, "n": 1}
	tests := []struct {
		id, name string
		c        call
		backend  string
		want     int
		reason   string
	}{
		{id: "G13", name: "provision top level", backend: "Provision", want: 201,
			c:      call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(map[string]any{"x-vendor-extension": ext, "unknown": []any{1}}))},
			reason: "vendor extension fields at the top level are ignored"},
		{id: "G13", name: "provision maintenance_info", backend: "Provision", want: 201,
			c:      call{method: "PUT", path: instancePath, body: jsonBody(t, provisionBody(map[string]any{"maintenance_info": map[string]any{"version": "1.0.0", "description": "d", "x-extra": ext}}))},
			reason: "fields beside maintenance_info.version are ignored"},
		{id: "G13", name: "update previous_values", backend: "Update", want: 200,
			c: call{method: "PATCH", path: instancePath, body: jsonBody(t, map[string]any{"service_id": svcBindable, "x-ext": "y",
				"previous_values": map[string]any{"plan_id": planSmall, "x-ext": ext}})},
			reason: "unknown fields in previous_values are ignored"},
		{id: "G13", name: "bind", backend: "Bind", want: 201,
			c:      call{method: "PUT", path: bindPath, body: jsonBody(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall, "x-ext": ext, "bind_resource": map[string]any{"x-ext": 1}})},
			reason: "unknown fields in a bind are ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), tc.c)
			if res.status != tc.want {
				t.Errorf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			if f.called(tc.backend) != 1 {
				t.Errorf("backend %s not called", tc.backend)
			}
		})
	}
}

// --- G14: percent-encoding ---

func TestG14_PercentDecodedIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		c        call
		backend  string
		check    func(t *testing.T, f *fakeBackend)
		reason   string
	}{
		{id: "G14", name: "provision instance id", backend: "Provision",
			c: call{method: "PUT", path: "/v2/service_instances/a%20b", body: jsonBody(t, provisionBody(nil))},
			check: func(t *testing.T, f *fakeBackend) {
				if got := backendGot[*broker.ProvisionRequest](t, f, "Provision").InstanceID; got != "a b" {
					t.Errorf("InstanceID = %q, want %q", got, "a b")
				}
			}, reason: "%20 arrives as a space"},
		{id: "G14", name: "encoded slash", backend: "Deprovision",
			c: call{method: "DELETE", path: "/v2/service_instances/a%2Fb?" + deleteIDs},
			check: func(t *testing.T, f *fakeBackend) {
				if got := backendGot[*broker.DeprovisionRequest](t, f, "Deprovision").InstanceID; got != "a/b" {
					t.Errorf("InstanceID = %q, want %q", got, "a/b")
				}
			}, reason: "%2F is part of the ID, not a path separator"},
		{id: "G14", name: "binding id", backend: "Bind",
			c: call{method: "PUT", path: "/v2/service_instances/i%3A1/service_bindings/b%C3%A9", body: jsonBody(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall})},
			check: func(t *testing.T, f *fakeBackend) {
				got := backendGot[*broker.BindRequest](t, f, "Bind")
				if diff := cmp.Diff([]string{"i:1", "bé"}, []string{got.InstanceID, got.BindingID}); diff != "" {
					t.Errorf("IDs (-want +got):\n%s", diff)
				}
			}, reason: "both path IDs are decoded"},
		{id: "G14", name: "query ids", backend: "Deprovision",
			c: call{method: "DELETE", path: instancePath + "?service_id=svc%20gone&plan_id=plan%2Bgone"},
			check: func(t *testing.T, f *fakeBackend) {
				got := backendGot[*broker.DeprovisionRequest](t, f, "Deprovision")
				if diff := cmp.Diff([]string{"svc gone", "plan+gone"}, []string{got.ServiceID, got.PlanID}); diff != "" {
					t.Errorf("query IDs (-want +got):\n%s", diff)
				}
			}, reason: "query IDs are decoded"},
		{id: "G14", name: "last_operation query", backend: "LastOperation",
			c: call{method: "GET", path: instancePath + "/last_operation?operation=op%2F1%3Fx%3D1&plan_id=p%201"},
			check: func(t *testing.T, f *fakeBackend) {
				got := backendGot[*broker.LastOperationRequest](t, f, "LastOperation")
				if diff := cmp.Diff([]string{"op/1?x=1", "p 1"}, []string{got.Operation, got.PlanID}); diff != "" {
					t.Errorf("query values (-want +got):\n%s", diff)
				}
			}, reason: "the operation token arrives decoded"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), tc.c)
			if res.status >= 300 {
				t.Fatalf("status %d, want 2xx (%s); body %s", res.status, tc.reason, res.body)
			}
			tc.check(t, f)
		})
	}
}

// --- G15: accepts_incomplete ---

func TestG15_AsyncRequiredWithoutAcceptsIncomplete(t *testing.T) {
	t.Parallel()
	all := broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind
	queries := []struct {
		name, query string
		reason      string
	}{
		{"absent", "", "no accepts_incomplete does not allow 202"},
		{"false", "accepts_incomplete=false", "false does not allow 202"},
		{"empty", "accepts_incomplete=", "an empty value does not allow 202"},
	}
	for _, ep := range asyncEndpoints(t) {
		for _, q := range queries {
			t.Run("G15/"+ep.name+"/"+q.name, func(t *testing.T) {
				t.Parallel()
				f := acceptingBackend("op-1")
				c := ep.call
				if q.query != "" {
					c.path = withQuery(c.path, q.query)
				}
				res := do(t, newHandler(t, f, func(o *broker.Options) { o.RequireAsync = all }), c)
				checkReply(t, sentinelReply(broker.ErrAsyncRequired), res)
				checkNotCalled(t, f, ep.backend)
			})
		}
		t.Run("G15/"+ep.name+"/true", func(t *testing.T) {
			t.Parallel()
			f := acceptingBackend("op-1")
			c := ep.call
			c.path = withQuery(c.path, "accepts_incomplete=true")
			res := do(t, newHandler(t, f, func(o *broker.Options) { o.RequireAsync = all }), c)
			checkReply(t, reply{202, map[string]any{"operation": "op-1"}}, res)
		})
	}
}

func TestG15_RequireAsyncIsPerAction(t *testing.T) {
	t.Parallel()
	for _, ep := range asyncEndpoints(t) {
		t.Run("G15/"+ep.name, func(t *testing.T) {
			t.Parallel()
			// Every action but this one requires async: this one still runs
			// synchronously.
			all := broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind
			own := map[string]broker.Action{"provision": broker.ActionProvision, "update": broker.ActionUpdate,
				"deprovision": broker.ActionDeprovision, "bind": broker.ActionBind, "unbind": broker.ActionUnbind}[ep.name]
			f := &fakeBackend{}
			res := do(t, newHandler(t, f, func(o *broker.Options) { o.RequireAsync = all &^ own }), ep.call)
			if res.status >= 300 {
				t.Errorf("status %d, want 2xx: RequireAsync without %s must not affect it; body %s", res.status, ep.name, res.body)
			}
		})
	}
}

func TestG15_AcceptedNeedsAcceptsIncomplete(t *testing.T) {
	t.Parallel()
	queries := []struct {
		name, query string
		want        reply
		reason      string
	}{
		{"absent", "", errReply(500, "", "Internal error; the broker's log has the details."), "a 202 the platform did not allow is the backend's bug: 500"},
		{"false", "accepts_incomplete=false", errReply(500, "", "Internal error; the broker's log has the details."), "false does not allow 202"},
		{"true", "accepts_incomplete=true", reply{202, map[string]any{"operation": "op-7"}}, "true allows 202"},
	}
	for _, ep := range asyncEndpoints(t) {
		for _, q := range queries {
			t.Run("G15/"+ep.name+"/"+q.name, func(t *testing.T) {
				t.Parallel()
				f := acceptingBackend("op-7")
				c := ep.call
				if q.query != "" {
					c.path = withQuery(c.path, q.query)
				}
				res := do(t, newHandler(t, f), c)
				if diff := cmp.Diff(q.want, replyOf(res)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", q.reason, diff)
				}
				if got := metaAsync(t, f, ep.backend); got != (q.want.Status == 202) {
					t.Errorf("request AcceptsIncomplete = %v", got)
				}
			})
		}
	}
}

// metaAsync returns AcceptsIncomplete of the backend's last request.
func metaAsync(t testing.TB, f *fakeBackend, method string) bool {
	t.Helper()
	switch r := f.lastRequest(method).(type) {
	case *broker.ProvisionRequest:
		return r.AcceptsIncomplete
	case *broker.UpdateRequest:
		return r.AcceptsIncomplete
	case *broker.DeprovisionRequest:
		return r.AcceptsIncomplete
	case *broker.BindRequest:
		return r.AcceptsIncomplete
	case *broker.UnbindRequest:
		return r.AcceptsIncomplete
	}
	t.Fatalf("backend %s not called", method)
	return false
}

func TestG15_MalformedAcceptsIncomplete(t *testing.T) {
	t.Parallel()
	for _, ep := range asyncEndpoints(t) {
		for _, v := range []string{"maybe", "yes", "2"} {
			t.Run("G15/"+ep.name+"/"+v, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				c := ep.call
				c.path = withQuery(c.path, "accepts_incomplete="+v)
				res := do(t, newHandler(t, f), c)
				checkRejected(t, res, 400, "", "accepts_incomplete")
				checkNotCalled(t, f, ep.backend)
			})
		}
	}
}

// --- G16: blocking operations ---

func TestG16_ConcurrencyError(t *testing.T) {
	t.Parallel()
	for _, ep := range tenEndpoints(t) {
		if ep.backend == "" || ep.name == "instance_last_operation" || ep.name == "binding_last_operation" {
			continue
		}
		t.Run("G16/"+ep.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, newHandler(t, failingBackend(fmt.Errorf("stack UPDATE_IN_PROGRESS: %w", broker.ErrConcurrency))), ep.call)
			checkReply(t, sentinelReply(broker.ErrConcurrency), res)
		})
	}
}

// --- G17: operation tokens ---

func TestG17_OperationLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		op       string
		want     reply
		reason   string
	}{
		{"G17", "10000", strings.Repeat("o", 10000), reply{202, map[string]any{"operation": strings.Repeat("o", 10000)}}, "exactly 10,000 characters is allowed"},
		{"G17", "10001", strings.Repeat("o", 10001), errReply(500, "", "Internal error; the broker's log has the details."), "a longer token would be a malformed 202"},
		{"G17", "empty", "", reply{202, map[string]any{}}, "an empty token is left out, never sent empty"},
	}
	for _, ep := range asyncEndpoints(t) {
		for _, tc := range tests {
			t.Run(tc.id+"/"+ep.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := ep.call
				c.path = withQuery(c.path, "accepts_incomplete=true")
				res := do(t, newHandler(t, acceptingBackend(tc.op)), c)
				if diff := cmp.Diff(tc.want, replyOf(res)); diff != "" {
					t.Errorf("%s (-want +got):\n%.2000s", tc.reason, diff)
				}
			})
		}
	}
}

// --- Routing ---

func TestG11_UnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		method   string
		path     string
		want     int
		reason   string
	}{
		{"G11", "unknown path", "GET", "/v2/nothing", 404, "an unknown path answers JSON 404"},
		{"G11", "root", "GET", "/", 404, "the root is not an endpoint"},
		{"G11", "v1", "GET", "/v1/catalog", 404, "only /v2 exists"},
		{"G11", "bindings collection", "GET", instancePath + "/service_bindings", 404, "there is no bindings collection"},
		{"G11", "too deep", "GET", bindPath + "/last_operation/x", 404, "nothing below last_operation"},
		{"G11", "POST catalog", "POST", "/v2/catalog", 405, "a wrong method on a known path answers JSON 405"},
		{"G11", "POST instance", "POST", instancePath, 405, "instances take PUT, PATCH, GET and DELETE only"},
		{"G11", "PUT last_operation", "PUT", instancePath + "/last_operation", 405, "last_operation is GET only"},
		{"G11", "PATCH binding", "PATCH", bindPath, 405, "bindings cannot be updated"},
		{"G11", "DELETE binding last_operation", "DELETE", bindPath + "/last_operation", 405, "binding last_operation is GET only"},
		{"G11", "double slash", "GET", "/v2//catalog", 404, "an unclean path answers JSON, not a redirect"},
		{"G11", "trailing slash", "GET", "/v2/catalog/", 404, "a trailing slash is another path"},
		{"G11", "dot segment", "GET", "/v2/./catalog", 404, "dot segments are not cleaned into a redirect"},
		{"G11", "dot-dot segment", "GET", "/v2/service_instances/../catalog", 404, "dot-dot segments are not cleaned into a redirect"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeBackend{}
			res := do(t, newHandler(t, f), call{method: tc.method, path: tc.path})
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s; body %s", res.status, tc.want, tc.reason, res.body)
			}
			if res.header.Get("Location") != "" {
				t.Errorf("Location %q: a broker does not redirect", res.header.Get("Location"))
			}
			if desc, _ := res.json["description"].(string); desc == "" {
				t.Errorf("body %s has no description", res.body)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.calls) != 0 {
				t.Errorf("backend called: %v", f.calls)
			}
		})
	}
}

// --- Logging: no secrets ---

func TestG_LogHasNoSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&buf, canary.Writer(t)), &slog.HandlerOptions{Level: slog.LevelDebug}))
	canary.Plant(t)
	const (
		paramSecret   = canary.Secret + "-param"
		shortSecret   = "tiny-S" // too short for the schema's minLength
		credSecret    = canary.Secret + "-cred"
		wrongPassword = "WRONG-PASS-XYZ"
		instance      = "inst-log-1"
		requestID     = "req-LOG-1"
		backendFault  = "backend exploded"
	)
	f := &fakeBackend{
		bind: func(context.Context, *broker.BindRequest) (broker.BindResponse, error) {
			return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{Credentials: broker.Credentials{"secret": credSecret}}}, nil
		},
		update: func(context.Context, *broker.UpdateRequest) (broker.UpdateResponse, error) {
			return broker.UpdateResponse{}, errors.New(backendFault)
		},
	}
	h := newHandler(t, f, func(o *broker.Options) { o.Logger = logger })
	hdr := func() map[string]*string {
		return map[string]*string{"X-Broker-API-Request-Identity": str(requestID),
			"X-Broker-API-Originating-Identity": originatingHeader("kubernetes", map[string]any{"username": "alice", "uid": "uid-SECRETISH"})}
	}
	path := "/v2/service_instances/" + instance
	calls := []struct {
		c    call
		want int
	}{
		{call{method: "PUT", path: path, header: hdr(), body: jsonBody(t, provisionBody(map[string]any{
			"parameters": map[string]any{"name": "abc", "password": paramSecret}}))}, 201},
		{call{method: "PUT", path: path, header: hdr(), body: jsonBody(t, provisionBody(map[string]any{
			"parameters": map[string]any{"name": "abc", "password": shortSecret}}))}, 400},
		{call{method: "PUT", path: path + "/service_bindings/b-1", header: hdr(),
			body: jsonBody(t, map[string]any{"service_id": svcBindable, "plan_id": planSmall, "parameters": map[string]any{"role": "reader"}})}, 201},
		{call{method: "PATCH", path: path, header: hdr(), body: jsonBody(t, map[string]any{"service_id": svcBindable,
			"parameters": map[string]any{"password": paramSecret}})}, 500},
		{call{method: "GET", path: "/v2/catalog", header: map[string]*string{"Authorization": basicHeader(testUser, wrongPassword)}}, 401},
	}
	for _, c := range calls {
		if res := do(t, h, c.c); res.status != c.want {
			t.Fatalf("%s %s: status %d, want %d; body %s", c.c.method, c.c.path, res.status, c.want, res.body)
		}
	}
	log := buf.String()
	for _, secret := range []string{paramSecret, shortSecret, credSecret, testPass, wrongPassword,
		base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPass))} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains the secret %q:\n%s", secret, log)
		}
	}
	for _, want := range []string{requestID, instance, "b-1", backendFault, "alice"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if n := strings.Count(log, "\n"); n != len(calls) {
		t.Errorf("%d log lines for %d requests, want one each:\n%s", n, len(calls), log)
	}
}

// --- C: the catalog ---

func TestC1_Catalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name string
		catalog  catalog.Catalog
		reason   string
	}{
		{"C1", "test catalog", testCatalog(), "the body is the index's catalog, encoded"},
		{"C1", "empty", catalog.Catalog{}, "an empty catalog is {\"services\":[]}, not null"},
		{"C1", "empty slice", catalog.Catalog{Services: []catalog.Service{}}, "an empty catalog is {\"services\":[]}"},
	}
	for _, tc := range tests {
		t.Run(tc.id+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			h, idx := newHandlerFor(t, tc.catalog, &fakeBackend{})
			res := do(t, h, call{method: "GET", path: "/v2/catalog"})
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200", res.status)
			}
			wantBytes, err := json.Marshal(idx.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(wantBytes, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
			}
			services, ok := res.json["services"].([]any)
			if !ok {
				t.Fatalf("services = %#v, want an array: %s", res.json["services"], tc.reason)
			}
			if len(services) != len(tc.catalog.Services) {
				t.Errorf("%d services, want %d", len(services), len(tc.catalog.Services))
			}
		})
	}
}

func TestC1_CatalogBodyStable(t *testing.T) {
	t.Parallel()
	h := newHandler(t, &fakeBackend{})
	first := do(t, h, call{method: "GET", path: "/v2/catalog"})
	for i := range 3 {
		again := do(t, h, call{method: "GET", path: "/v2/catalog", header: map[string]*string{"X-Broker-API-Version": str("2.13")}})
		if !bytes.Equal(first.body, again.body) {
			t.Fatalf("request %d: catalog body differs from the first; it must be encoded once", i+2)
		}
	}
}

func TestC1_CatalogIgnoresQuery(t *testing.T) {
	t.Parallel()
	h := newHandler(t, &fakeBackend{})
	plain := do(t, h, call{method: "GET", path: "/v2/catalog"})
	queried := do(t, h, call{method: "GET", path: "/v2/catalog?service_id=x&accepts_incomplete=maybe"})
	if queried.status != 200 || !bytes.Equal(plain.body, queried.body) {
		t.Errorf("GET /v2/catalog?…: status %d, body differs: %v; the catalog takes no query parameters", queried.status, !bytes.Equal(plain.body, queried.body))
	}
}

// TestLongIDsRefused: IDs longer than MaxIDLength are a 400 before any
// backend sees them (stores and resource names cannot hold them).
func TestLongIDsRefused(t *testing.T) {
	f := &fakeBackend{}
	h := newHandler(t, f)
	long := strings.Repeat("a", broker.MaxIDLength+1)
	for _, c := range []call{
		{method: "PUT", path: "/v2/service_instances/" + long, body: jsonBody(t, provisionBody(nil))},
		{method: "PUT", path: "/v2/service_instances/i/service_bindings/" + long, body: `{"service_id":"` + svcBindable + `","plan_id":"` + planSmall + `"}`},
		{method: "GET", path: "/v2/service_instances/" + long + "/last_operation"},
	} {
		if r := do(t, h, c); r.status != http.StatusBadRequest {
			t.Errorf("%s %s…: %d, want 400", c.method, c.path[:40], r.status)
		}
	}
	if n := f.called("Provision") + f.called("Bind") + f.called("LastOperation"); n != 0 {
		t.Errorf("the backend was called %d times", n)
	}
	ok := strings.Repeat("a", broker.MaxIDLength)
	if r := do(t, h, call{method: "PUT", path: "/v2/service_instances/" + ok, body: jsonBody(t, provisionBody(nil))}); r.status != http.StatusCreated {
		t.Errorf("an ID of exactly MaxIDLength: %d, want 201", r.status)
	}
}
