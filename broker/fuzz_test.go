package broker_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
)

// Fuzz targets for every request decoder. Each builds one handler over a
// backend that always succeeds, so any 5xx comes from the handler's own
// handling of the input. Every answer must be a JSON object with
// Content-Type application/json and a status the spec defines.
//
// Run one with, for example:
//
//	go test ./broker -run '^$' -fuzz '^FuzzProvision$' -fuzztime 20s
//
// Seeds are inline (f.Add) and in testdata/fuzz/<FuzzName>/.

// fuzzBackend is a fakeBackend that answers every request with success:
// Accepted when the platform allows it, else Done.
func fuzzBackend() *fakeBackend {
	return &fakeBackend{
		provision: func(_ context.Context, r *broker.ProvisionRequest) (broker.ProvisionResponse, error) {
			if r.AcceptsIncomplete {
				return broker.ProvisionResponse{Outcome: broker.Accepted, Operation: "op-provision"}, nil
			}
			return broker.ProvisionResponse{Outcome: broker.Done, DashboardURL: "https://dash.example.com/" + url.PathEscape(r.InstanceID)}, nil
		},
		update: func(_ context.Context, r *broker.UpdateRequest) (broker.UpdateResponse, error) {
			if r.AcceptsIncomplete {
				return broker.UpdateResponse{Outcome: broker.Accepted, Operation: "op-update"}, nil
			}
			return broker.UpdateResponse{Outcome: broker.Done}, nil
		},
		deprovision: func(_ context.Context, r *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
			if r.AcceptsIncomplete {
				return broker.DeprovisionResponse{Outcome: broker.Accepted, Operation: "op-deprovision"}, nil
			}
			return broker.DeprovisionResponse{Outcome: broker.Done}, nil
		},
		lastOperation: func(context.Context, *broker.LastOperationRequest) (broker.LastOperation, error) {
			return broker.LastOperation{State: broker.InProgress, Description: "Working.", RetryAfter: time.Second}, nil
		},
		bind: func(_ context.Context, r *broker.BindRequest) (broker.BindResponse, error) {
			if r.AcceptsIncomplete {
				return broker.BindResponse{Outcome: broker.Accepted, Operation: "op-bind"}, nil
			}
			return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{
				Credentials: broker.Credentials{"uri": "amqps://q"},
				Endpoints:   []broker.Endpoint{{Host: "q", Ports: []string{"5671"}}},
			}}, nil
		},
		unbind: func(_ context.Context, r *broker.UnbindRequest) (broker.UnbindResponse, error) {
			if r.AcceptsIncomplete {
				return broker.UnbindResponse{Outcome: broker.Accepted, Operation: "op-unbind"}, nil
			}
			return broker.UnbindResponse{Outcome: broker.Done}, nil
		},
	}
}

// fuzzStatuses are the statuses the handler may send, to an authenticated
// request, over a backend that always succeeds: those the spec defines for
// the endpoints, plus 404 and 405 for paths and methods outside the API.
// 401 and 409 are missing on purpose: only a failed authentication or the
// backend could cause them.
var fuzzStatuses = map[int]bool{
	http.StatusOK: true, http.StatusCreated: true, http.StatusAccepted: true,
	http.StatusBadRequest: true, http.StatusNotFound: true, http.StatusMethodNotAllowed: true,
	http.StatusPreconditionFailed: true, http.StatusUnprocessableEntity: true,
}

// platformReq is a request as a platform sends it: basic auth, version 2.17,
// and a JSON body when there is one.
func platformReq(method string, u *url.URL, body []byte) *http.Request {
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	r.URL, r.RequestURI = u, u.RequestURI()
	r.SetBasicAuth(testUser, testPass)
	r.Header.Set("X-Broker-API-Version", "2.17")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// serveFuzz serves r and checks the answer.
func serveFuzz(t *testing.T, h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !fuzzStatuses[rec.Code] {
		t.Fatalf("%s %q: status %d, which the spec does not define for this; body %s", r.Method, r.URL.RequestURI(), rec.Code, rec.Body.Bytes())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: Content-Type %q, want application/json", r.Method, r.URL.RequestURI(), ct)
	}
	if r.Method == http.MethodHead {
		if rec.Body.Len() != 0 {
			t.Fatalf("HEAD %q: body %q, want none", r.URL.RequestURI(), rec.Body.Bytes())
		}
		return rec
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body == nil {
		t.Fatalf("%s %q: body %q is not a JSON object: %v", r.Method, r.URL.RequestURI(), rec.Body.Bytes(), err)
	}
	if rec.Code >= 400 {
		for _, k := range []string{"error", "description"} {
			if v, ok := body[k]; ok {
				if s, isStr := v.(string); !isStr || s == "" {
					t.Fatalf("%s %q: error field %q = %v, want a non-empty string (G7)", r.Method, r.URL.RequestURI(), k, v)
				}
			}
		}
	}
	return rec
}

// serveCounted is serveFuzz that also checks the handler's part in the
// answer: a 2xx comes from exactly one call of the backend's method, and
// a 4xx from the handler's own checks, before the backend is called (the
// backend here never fails).
func serveCounted(t *testing.T, h http.Handler, f *fakeBackend, method string, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	before := f.called(method)
	rec := serveFuzz(t, h, r)
	n := f.called(method) - before
	if rec.Code < 300 && n != 1 || rec.Code >= 400 && n != 0 {
		t.Fatalf("%s %q: status %d after %d calls of the backend's %s", r.Method, r.URL.RequestURI(), rec.Code, n, method)
	}
	return rec
}

// fuzzSeedBody is valid for provision, update and bind of planSmall.
func fuzzSeedBody(extra string) []byte {
	return []byte(`{"service_id":"` + svcBindable + `","plan_id":"` + planSmall + `","organization_guid":"o","space_guid":"s"` + extra + `}`)
}

// addBodySeeds adds the body seeds every body decoder gets.
func addBodySeeds(f *testing.F) {
	for _, b := range [][]byte{
		fuzzSeedBody(``),
		fuzzSeedBody(`,"parameters":{"name":"abc","size":3,"role":"reader"}`),
		fuzzSeedBody(`,"parameters":{"name":"ABC","size":0,"role":"admin"}`),
		fuzzSeedBody(`,"parameters":{"name":"abc","size":1e999}`),
		fuzzSeedBody(`,"parameters":null,"context":null,"bind_resource":null`),
		fuzzSeedBody(`,"parameters":[],"context":"x","bind_resource":1`),
		fuzzSeedBody(`,"context":{"platform":"kubernetes","namespace":"ns","a":{"b":[1,2,{"c":null}]}}`),
		fuzzSeedBody(`,"maintenance_info":{"version":"1.0.0"}`),
		fuzzSeedBody(`,"maintenance_info":{"version":"9.9.9"}`),
		fuzzSeedBody(`,"maintenance_info":{}`),
		fuzzSeedBody(`,"x-vendor":{"unknown":true}`),
		[]byte(`{"service_id":"` + svcBindable + `","plan_id":"` + planLarge + `","previous_values":{"plan_id":"` + planSmall + `"}}`),
		[]byte(`{"service_id":"` + svcPlain + `","plan_id":"` + planSmall + `","organization_guid":"o","space_guid":"s"}`),
		[]byte(`{"service_id":"` + svcBindable + `"}`),
		[]byte(`{"service_id":"` + svcBindable + `","plan_id":""}`),
		[]byte(`{"service_id":1,"plan_id":true}`),
		[]byte(`{"service_id":"`),
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(`"x"`),
		[]byte(``),
		[]byte("{\"service_id\":\"\xff\xfe\"}"),
		[]byte(strings.Repeat("[", 20000)),
		[]byte(`{"a":1}{"b":2}`),
	} {
		for _, ai := range []string{"", "true", "false", "maybe", "1", "TRUE"} {
			f.Add(b, ai)
		}
	}
}

// fuzzBody is the shared body of FuzzProvision, FuzzUpdate and FuzzBind.
func fuzzBody(f *testing.F, method, path, backendMethod string, extraSeeds ...[]byte) {
	fb, fbAsync := fuzzBackend(), fuzzBackend()
	h := newHandler(f, fb)
	hAsync := newHandler(f, fbAsync, func(o *broker.Options) {
		o.RequireAsync = broker.ActionProvision | broker.ActionUpdate | broker.ActionBind
	})
	addBodySeeds(f)
	for _, b := range extraSeeds {
		f.Add(b, "true")
		f.Add(b, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, acceptsIncomplete string) {
		u := &url.URL{Path: path, RawQuery: "accepts_incomplete=" + url.QueryEscape(acceptsIncomplete)}
		rec := serveCounted(t, h, fb, backendMethod, platformReq(method, u, body))
		if rec.Code == http.StatusAccepted && acceptsIncomplete != "true" {
			t.Fatalf("202 although accepts_incomplete=%q (G15: only true allows 202)", acceptsIncomplete)
		}
		serveCounted(t, hAsync, fbAsync, backendMethod, platformReq(method, u, body))
	})
}

func FuzzProvision(f *testing.F) {
	fuzzBody(f, http.MethodPut, "/v2/service_instances/"+instanceID, "Provision",
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","organization_guid":"","space_guid":"s"}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","organization_guid":"o"}`))
}

func FuzzUpdate(f *testing.F) {
	fuzzBody(f, http.MethodPatch, "/v2/service_instances/"+instanceID, "Update",
		[]byte(`{"service_id":"`+svcBindable+`","context":{"platform":"cloudfoundry","instance_name":"n"}}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","previous_values":{"plan_id":"`+planLarge+`","maintenance_info":{"version":"2.0.0"}}}`),
		[]byte(`{"service_id":"`+svcBindable+`","parameters":{"size":0}}`),
		[]byte(`{"service_id":"`+svcBindable+`","previous_values":{"plan_id":"`+planSmall+`"},"parameters":{"size":"big"}}`),
		[]byte(`{"service_id":"`+svcBindable+`","maintenance_info":{"version":"3.0.0"}}`),
		[]byte(`{"service_id":"`+svcBindable+`","previous_values":null,"plan_id":null}`))
}

func FuzzBind(f *testing.F) {
	fuzzBody(f, http.MethodPut, bindingPath, "Bind",
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","app_guid":"a","bind_resource":{"app_guid":"b","route":"r"}}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","app_guid":""}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planLarge+`","predecessor_binding_id":"old"}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","predecessor_binding_id":"old"}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planLarge+`","predecessor_binding_id":""}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planNoBind+`"}`),
		[]byte(`{"service_id":"`+svcPlain+`","plan_id":"`+planPlain+`"}`),
		[]byte(`{"service_id":"`+svcBindable+`","plan_id":"`+planSmall+`","parameters":{"role":"writer"}}`))
}

// fuzzQuery is the shared body of the query-string fuzz targets: every
// path (mapped to the backend method it calls) gets the same raw query.
func fuzzQuery(f *testing.F, method string, paths map[string]string, seeds []string) {
	fb, fbAsync := fuzzBackend(), fuzzBackend()
	h := newHandler(f, fb)
	hAsync := newHandler(f, fbAsync, func(o *broker.Options) {
		o.RequireAsync = broker.ActionDeprovision | broker.ActionUnbind
	})
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		for p, backendMethod := range paths {
			u := &url.URL{Path: p, RawQuery: rawQuery}
			serveCounted(t, h, fb, backendMethod, platformReq(method, u, nil))
			serveCounted(t, hAsync, fbAsync, backendMethod, platformReq(method, u, nil))
		}
	})
}

func FuzzDeprovisionQuery(f *testing.F) {
	ids := "service_id=" + svcBindable + "&plan_id=" + planSmall
	fuzzQuery(f, http.MethodDelete, map[string]string{"/v2/service_instances/" + instanceID: "Deprovision", bindingPath: "Unbind"}, []string{
		ids,
		ids + "&accepts_incomplete=true",
		ids + "&accepts_incomplete=false",
		ids + "&accepts_incomplete=yes",
		ids + "&accepts_incomplete=",
		"",
		"service_id=&plan_id=",
		"service_id=" + svcBindable,
		"plan_id=" + planSmall,
		"service_id=" + svcBindable + "&plan_id=" + planPlain,
		"service_id=gone&plan_id=gone",
		"service_id=a;plan_id=b",
		"service_id=%zz&plan_id=x",
		"service_id=%41&plan_id=%42&service_id=c",
		"&&&==&",
		"accepts_incomplete=true&accepts_incomplete=false&" + ids,
	})
}

func FuzzLastOperationQuery(f *testing.F) {
	fuzzQuery(f, http.MethodGet, map[string]string{"/v2/service_instances/" + instanceID + "/last_operation": "LastOperation", bindingLastOpPath: "BindingLastOperation"}, []string{
		"",
		"operation=op-1",
		"operation=provision",
		"service_id=" + svcBindable + "&plan_id=" + planSmall + "&operation=op%2F1",
		"operation=%zz",
		"operation=" + strings.Repeat("o", 10000),
		"operation=" + strings.Repeat("o", 10001),
		"operation=a;b",
		"operation=&operation=x",
		"plan_id=" + planPlain,
		"%",
		"=",
	})
}

// validMethod reports whether m is an HTTP token, as a server accepts it.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func FuzzPath(f *testing.F) {
	h := newHandler(f, fuzzBackend())
	body := fuzzSeedBody(``)
	for _, s := range [][2]string{
		{"GET", "/v2/catalog"},
		{"HEAD", "/v2/catalog"},
		{"POST", "/v2/catalog"},
		{"OPTIONS", "/v2/catalog"},
		{"get", "/v2/catalog"},
		{"BREW", "/"},
		{"CONNECT", "/v2/catalog"},
		{"GET", "/v2/catalog/"},
		{"GET", "/v2//catalog"},
		{"GET", "/v2/./catalog"},
		{"GET", "/../v2/catalog"},
		{"GET", "*"},
		{"GET", "/"},
		{"GET", "/v2"},
		{"GET", "/v3/catalog"},
		{"PUT", "/v2/service_instances/x"},
		{"PATCH", "/v2/service_instances/x?accepts_incomplete=true"},
		{"DELETE", "/v2/service_instances/x?service_id=a&plan_id=b"},
		{"GET", "/v2/service_instances/x"},
		{"GET", "/v2/service_instances/"},
		{"GET", "/v2/service_instances/x/last_operation?operation=o"},
		{"PUT", "/v2/service_instances/x/service_bindings/y"},
		{"DELETE", "/v2/service_instances/x/service_bindings/y?service_id=a&plan_id=b"},
		{"GET", "/v2/service_instances/x/service_bindings/y"},
		{"GET", "/v2/service_instances/x/service_bindings/y/last_operation"},
		{"GET", "/v2/service_instances/x/service_bindings/last_operation"},
		{"GET", "/v2/service_instances/x/service_bindings/y/z"},
		{"GET", "/v2/service_instances/a%2Fb/last_operation"},
		{"GET", "/v2/service_instances/%2F"},
		{"GET", "/v2/service_instances/%2e%2e"},
		{"GET", "/v2/service_instances/a%20b%00c"},
		{"PUT", "/v2/service_instances/%E2%9C%93"},
		{"GET", "/v2/service_instances/%zz"},
		{"GET", "//v2/catalog"},
		{"GET", "http://other.example/v2/catalog"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		if !validMethod(method) {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // a server refuses it before any handler runs
		}
		serveFuzz(t, h, platformReq(method, u, body))
	})
}

// validHeaderValue reports whether v can arrive as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func FuzzHeaders(f *testing.F) {
	h := newHandler(f, fuzzBackend())
	body := fuzzSeedBody(``)
	k8s := "kubernetes " + base64.StdEncoding.EncodeToString([]byte(`{"username":"duke","uid":"u","groups":["g"],"extra":{"k":["v"]}}`))
	cf := "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"u"}`))
	for _, s := range [][4]string{
		{"2.17", "", "", "application/json"},
		{"2.17", k8s, "req-1", "application/json; charset=utf-8"},
		{"2.17", cf, "req-2", ""},
		{"2.0", "kubernetes !!!", "", "application/json"},
		{"2.18", "cloudfoundry", "", "Application/JSON"},
		{"", "", "", "application/json"},
		{"3.0", "", "", "application/json"},
		{"1.13", "", "", "application/json"},
		{"2", "", "", "application/json"},
		{"2.", "", "", "application/json"},
		{".17", "", "", "application/json"},
		{"+2.17", "", "", "application/json"},
		{"2.-1", "", "", "application/json"},
		{"2.99999999999999999999", "", "", "application/json"},
		{" 2.17 ", "  " + k8s + "  ", " id with spaces ", "text/plain"},
		{"2.17", "x " + strings.Repeat("A", 4096), strings.Repeat("r", 4096), "application/json;;"},
		{"2.17", "", "", "application/json; charset="},
		{"2.17", "", "", "multipart/form-data; boundary=x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, version, identity, requestID, contentType string) {
		for _, v := range []string{version, identity, requestID, contentType} {
			if !validHeaderValue(v) {
				return
			}
		}
		set := func(r *http.Request) *http.Request {
			for k, v := range map[string]string{
				"X-Broker-API-Version":              version,
				"X-Broker-API-Originating-Identity": identity,
				"X-Broker-API-Request-Identity":     requestID,
				"Content-Type":                      contentType,
			} {
				if v == "" {
					r.Header.Del(k)
				} else {
					r.Header.Set(k, v)
				}
			}
			return r
		}
		for _, r := range []*http.Request{
			set(platformReq(http.MethodPut, &url.URL{Path: "/v2/service_instances/" + instanceID}, body)),
			set(platformReq(http.MethodGet, &url.URL{Path: "/v2/catalog"}, nil)),
		} {
			rec := serveFuzz(t, h, r)
			if got := rec.Header().Get("X-Broker-API-Request-Identity"); got != requestID {
				t.Fatalf("request identity %q echoed as %q (G6)", requestID, got)
			}
			if version == "2.17" && rec.Code >= 300 && r.Method == http.MethodGet {
				t.Fatalf("catalog with version 2.17: status %d; body %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}

func FuzzParseOriginatingIdentity(f *testing.F) {
	for _, s := range []string{
		profileK8sHeader,
		profileCFHeader,
		strings.TrimRight(profileCFHeader, "="),
		"cloudfoundry " + base64.RawURLEncoding.EncodeToString([]byte(`{"user_id":"???>>>"}`)),
		"nomad " + base64.StdEncoding.EncodeToString([]byte(`{"n":1e400,"s":"\u00e9"}`)),
		"kubernetes " + base64.StdEncoding.EncodeToString([]byte(`{"username":5,"groups":"g","extra":{"k":"v"}}`)),
		"kubernetes " + base64.StdEncoding.EncodeToString([]byte(`[1]`)),
		"kubernetes " + base64.StdEncoding.EncodeToString([]byte(`null`)),
		"kubernetes " + base64.StdEncoding.EncodeToString([]byte(`{} x`)),
		"kubernetes",
		"kubernetes ",
		" x",
		"",
		"a b c",
		"a\tb",
		"  kubernetes   e30  ",
		"k e30=",
		"k e3\n0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, ok := broker.ParseOriginatingIdentity(header)
		if ok != (id != nil) {
			t.Fatalf("ok = %v with identity %v", ok, id)
		}
		_ = id.User()
		_ = id.LogValue().Resolve()
		if !ok {
			return
		}
		if id.Platform == "" || strings.Contains(id.Platform, " ") || id.Value == nil {
			t.Fatalf("Platform %q, Value %v: want a non-empty platform without spaces and a value", id.Platform, id.Value)
		}
		// The value is exactly one JSON object: decode it as the parser
		// does (the first alphabet that works) and check it is valid JSON.
		_, encoded, _ := strings.Cut(strings.TrimSpace(header), " ")
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(strings.TrimSpace(encoded)); err == nil {
				if !json.Valid(b) {
					t.Fatalf("accepted %q, whose value %q is not valid JSON", header, b)
				}
				break
			}
		}
		if id.Kubernetes != nil && id.Platform != broker.PlatformKubernetes || id.CloudFoundry != nil && id.Platform != broker.PlatformCloudFoundry {
			t.Fatalf("platform %q with a typed user of another platform", id.Platform)
		}
		// What was accepted, encoded again in the canonical form, parses
		// to the same identity.
		raw, err := json.Marshal(id.Value)
		if err != nil {
			t.Fatalf("the decoded Value does not encode: %v", err)
		}
		again, ok := broker.ParseOriginatingIdentity(id.Platform + " " + base64.StdEncoding.EncodeToString(raw))
		if !ok {
			t.Fatalf("the canonical form of %q does not parse", header)
		}
		if diff := cmp.Diff(id.Value, again.Value); diff != "" {
			t.Fatalf("round trip of %q changed the value (-first +again):\n%s", header, diff)
		}
	})
}
