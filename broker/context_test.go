package broker_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
)

// Tests for the context object (CHECKLIST.md §X), the originating
// identity parser (G5), and the redaction of parameters and credentials
// (STYLE.md habit 15).

// The profile's example headers (profile.md, Originating Identity Header).
const (
	profileK8sHeader = "kubernetes ew0KICAidXNlcm5hbWUiOiAiZHVrZSIsDQogICJ1aWQiOiAiYzJkZGUyNDItNWNlNC0xMWU3LTk4OGMtMDAwYzI5NDZmMTRmIiwNCiAgImdyb3VwcyI6IFsgImFkbWluIiwgImRldiIgXSwNCiAgImV4dHJhIjogew0KICAgICJteWRhdGEiOiBbICJkYXRhMSIsICJkYXRhMyIgXQ0KICB9DQp9"
	profileCFHeader  = "cloudfoundry eyANCiAgInVzZXJfaWQiOiAiNjgzZWE3NDgtMzA5Mi00ZmY0LWI2NTYtMzljYWNjNGQ1MzYwIg0KfQ=="
	profileCFUserID  = "683ea748-3092-4ff4-b656-39cacc4d5360"
)

// contextCall is one request that carries a context, and how to find the
// context the backend got.
type contextCall struct {
	endpoint string // the fakeBackend method
	method   string
	path     string
	// body builds the request body around ctx (nil: no context key).
	body func(ctx any) map[string]any
}

func contextCalls() []contextCall {
	with := func(b map[string]any, ctx any) map[string]any {
		if ctx != nil {
			b["context"] = ctx
		} else {
			delete(b, "context")
		}
		return b
	}
	return []contextCall{
		{endpoint: "Provision", method: http.MethodPut, path: "/v2/service_instances/" + instanceID,
			body: func(ctx any) map[string]any { return with(provisionBody(nil), ctx) }},
		{endpoint: "Update", method: http.MethodPatch, path: "/v2/service_instances/" + instanceID,
			body: func(ctx any) map[string]any {
				return with(map[string]any{"service_id": svcBindable, "plan_id": planSmall, "parameters": map[string]any{"size": 2}}, ctx)
			}},
		{endpoint: "Bind", method: http.MethodPut, path: bindingPath,
			body: func(ctx any) map[string]any { return with(bindReqBody(nil), ctx) }},
	}
}

// contextOf returns the Context and Meta of the backend's last request.
func contextOf(t *testing.T, f *fakeBackend, endpoint string) (broker.Context, broker.Meta) {
	t.Helper()
	switch req := f.lastRequest(endpoint).(type) {
	case *broker.ProvisionRequest:
		return req.Context, req.Meta
	case *broker.UpdateRequest:
		return req.Context, req.Meta
	case *broker.BindRequest:
		return req.Context, req.Meta
	case nil:
		t.Fatalf("backend %s was not called", endpoint)
	default:
		t.Fatalf("backend %s got a %T", endpoint, req)
	}
	return nil, broker.Meta{}
}

// TestX_ContextReachesBackend: the context object reaches the backend on
// provision, update and bind, whatever the platform and whatever keys it
// has, with numbers kept exact; and no context at all is fine.
func TestX_ContextReachesBackend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		context          any // sent as the body's context; nil: absent
		raw              string
		want             broker.Context
		wantPlatform     string
	}{
		{id: "X3", name: "kubernetes", reason: "the profile's Kubernetes fields, with annotations",
			context: map[string]any{
				"platform": "kubernetes", "namespace": "ns-1", "clusterid": "cluster-1", "instance_name": "db",
				"namespace_annotations": map[string]any{"example.com/owner": "team-a"},
				"instance_annotations":  map[string]any{"example.com/tier": "gold"},
			},
			want: broker.Context{
				"platform": "kubernetes", "namespace": "ns-1", "clusterid": "cluster-1", "instance_name": "db",
				"namespace_annotations": map[string]any{"example.com/owner": "team-a"},
				"instance_annotations":  map[string]any{"example.com/tier": "gold"},
			},
			wantPlatform: broker.PlatformKubernetes},
		{id: "X2", name: "cloudfoundry", reason: "the profile's Cloud Foundry fields, with annotations",
			context: map[string]any{
				"platform": "cloudfoundry", "organization_guid": "org-1", "organization_name": "org",
				"space_guid": "space-1", "space_name": "dev", "instance_name": "db",
				"organization_annotations": map[string]any{"example.com/cost-center": "42"},
				"space_annotations":        map[string]any{},
			},
			want: broker.Context{
				"platform": "cloudfoundry", "organization_guid": "org-1", "organization_name": "org",
				"space_guid": "space-1", "space_name": "dev", "instance_name": "db",
				"organization_annotations": map[string]any{"example.com/cost-center": "42"},
				"space_annotations":        map[string]any{},
			},
			wantPlatform: broker.PlatformCloudFoundry},
		{id: "X4", name: "other platform, extra and nested keys", reason: "any platform and any keys are accepted, numbers stay exact",
			raw: `{"platform":"nomad","region":"eu","labels":{"a":{"b":[1,2.5,{"c":null}]}},"big":12345678901234567890,"flag":true}`,
			want: broker.Context{"platform": "nomad", "region": "eu",
				"labels": map[string]any{"a": map[string]any{"b": []any{json.Number("1"), json.Number("2.5"), map[string]any{"c": nil}}}},
				"big":    json.Number("12345678901234567890"), "flag": true},
			wantPlatform: "nomad"},
		{id: "X4", name: "no platform", reason: "a context without platform is still passed on",
			context: map[string]any{"namespace": "ns"}, want: broker.Context{"namespace": "ns"}, wantPlatform: ""},
		{id: "X4", name: "platform not a string", reason: "Platform() is empty for a non-string platform",
			raw: `{"platform":7}`, want: broker.Context{"platform": json.Number("7")}, wantPlatform: ""},
		{id: "X4", name: "empty context", reason: "an empty object is a context with nothing in it",
			context: map[string]any{}, want: broker.Context{}, wantPlatform: ""},
		{id: "X4", name: "no context", reason: "context is never required",
			want: nil, wantPlatform: ""},
		{id: "X4", name: "null context", reason: "null is the same as absent",
			raw: `null`, want: nil, wantPlatform: ""},
	}
	for _, ep := range contextCalls() {
		for _, tt := range tests {
			t.Run(tt.id+"/"+ep.endpoint+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				body := ep.body(tt.context)
				if tt.raw != "" {
					body["context"] = json.RawMessage(tt.raw)
				}
				res := do(t, newHandler(t, f), call{method: ep.method, path: ep.path, body: jsonBody(t, body)})
				if res.status >= 300 {
					t.Fatalf("status %d, want 2xx (%s); body %s", res.status, tt.reason, res.body)
				}
				got, _ := contextOf(t, f, ep.endpoint)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("X5: Context mismatch (-want +got):\n%s", diff)
				}
				if p := got.Platform(); p != tt.wantPlatform {
					t.Errorf("Platform() %q, want %q", p, tt.wantPlatform)
				}
			})
		}
	}
}

// TestX1_ContextAndOriginatingIdentity: with both present, the backend
// gets both, and their platforms agree as the platform sent them.
func TestX1_ContextAndOriginatingIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id, name, reason string
		header           string
		context          map[string]any
		wantPlatform     string
		wantUser         string
	}{
		{id: "X1", name: "kubernetes", reason: "the profile's Kubernetes header with a Kubernetes context",
			header: profileK8sHeader, context: map[string]any{"platform": "kubernetes", "namespace": "ns", "clusterid": "c"},
			wantPlatform: "kubernetes", wantUser: "duke"},
		{id: "X1", name: "cloudfoundry", reason: "the profile's Cloud Foundry header with a Cloud Foundry context",
			header: profileCFHeader, context: map[string]any{"platform": "cloudfoundry", "organization_guid": "o", "space_guid": "s"},
			wantPlatform: "cloudfoundry", wantUser: profileCFUserID},
	}
	for _, ep := range contextCalls() {
		for _, tt := range tests {
			t.Run(tt.id+"/"+ep.endpoint+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := &fakeBackend{}
				res := do(t, newHandler(t, f), call{method: ep.method, path: ep.path, body: jsonBody(t, ep.body(tt.context)),
					header: map[string]*string{"X-Broker-API-Originating-Identity": str(tt.header)}})
				if res.status >= 300 {
					t.Fatalf("status %d, want 2xx (%s); body %s", res.status, tt.reason, res.body)
				}
				ctx, meta := contextOf(t, f, ep.endpoint)
				if meta.OriginatingIdentity == nil {
					t.Fatal("OriginatingIdentity is nil")
				}
				got := [3]string{ctx.Platform(), meta.OriginatingIdentity.Platform, meta.OriginatingIdentity.User()}
				if diff := cmp.Diff([3]string{tt.wantPlatform, tt.wantPlatform, tt.wantUser}, got); diff != "" {
					t.Errorf("[context platform, identity platform, user] mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestX5_ContextOnlyUpdate: a PATCH with only service_id and context (the
// service allows context updates) reaches the backend with no plan and no
// parameters.
func TestX5_ContextOnlyUpdate(t *testing.T) {
	t.Parallel()
	f := &fakeBackend{}
	body := map[string]any{"service_id": svcBindable,
		"context": map[string]any{"platform": "cloudfoundry", "instance_name": "renamed", "space_name": "prod"}}
	res := do(t, newHandler(t, f), call{method: http.MethodPatch, path: "/v2/service_instances/" + instanceID, body: jsonBody(t, body)})
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.status, res.body)
	}
	req, _ := f.lastRequest("Update").(*broker.UpdateRequest)
	if req == nil {
		t.Fatal("Update not called")
	}
	want := broker.Context{"platform": "cloudfoundry", "instance_name": "renamed", "space_name": "prod"}
	if diff := cmp.Diff(want, req.Context); diff != "" {
		t.Errorf("Context mismatch (-want +got):\n%s", diff)
	}
	if req.Plan != nil || req.Parameters != nil || req.MaintenanceInfo != nil {
		t.Errorf("Plan %v, Parameters %v, MaintenanceInfo %v; want all nil for a context-only update", req.Plan, req.Parameters, req.MaintenanceInfo)
	}
	if got := req.Context.String("instance_name"); got != "renamed" {
		t.Errorf(`Context.String("instance_name") = %q, want "renamed"`, got)
	}
}

// b64 encodes s with enc.
func b64(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }

// TestG5_ParseOriginatingIdentity: the header parser, case by case.
func TestG5_ParseOriginatingIdentity(t *testing.T) {
	t.Parallel()
	profileK8sValue := map[string]any{
		"username": "duke", "uid": "c2dde242-5ce4-11e7-988c-000c2946f14f",
		"groups": []any{"admin", "dev"}, "extra": map[string]any{"mydata": []any{"data1", "data3"}},
	}
	profileK8sUser := &broker.KubernetesUser{Username: "duke", UID: "c2dde242-5ce4-11e7-988c-000c2946f14f",
		Groups: []string{"admin", "dev"}, Extra: map[string][]string{"mydata": {"data1", "data3"}}}
	profileCF := &broker.OriginatingIdentity{Platform: "cloudfoundry", Value: map[string]any{"user_id": profileCFUserID},
		CloudFoundry: &broker.CloudFoundryUser{UserID: profileCFUserID}}

	// A value whose standard encoding has '+' and '/', so that its
	// URL-safe encoding has '-' and '_'.
	const urlValue = `{"user_id":"???>>>"}`
	urlSafe := b64(base64.RawURLEncoding, urlValue)
	if !strings.ContainsAny(urlSafe, "-_") {
		t.Fatalf("test bug: %q has no URL-safe characters", urlSafe)
	}
	urlUser := &broker.OriginatingIdentity{Platform: "cloudfoundry", Value: map[string]any{"user_id": "???>>>"},
		CloudFoundry: &broker.CloudFoundryUser{UserID: "???>>>"}}

	tests := []struct {
		id, name, reason string
		header           string
		want             *broker.OriginatingIdentity
		wantOK           bool
	}{
		{id: "G5", name: "kubernetes profile example", reason: "username, uid, groups and extra are typed",
			header: profileK8sHeader, wantOK: true,
			want: &broker.OriginatingIdentity{Platform: "kubernetes", Value: profileK8sValue, Kubernetes: profileK8sUser}},
		{id: "G5", name: "cloudfoundry profile example", reason: "user_id is typed",
			header: profileCFHeader, wantOK: true, want: profileCF},
		{id: "G5", name: "unknown platform", reason: "any platform is kept with its decoded Value, numbers exact",
			header: "nomad " + b64(base64.StdEncoding, `{"user":"x","n":1.50}`), wantOK: true,
			want: &broker.OriginatingIdentity{Platform: "nomad", Value: map[string]any{"user": "x", "n": json.Number("1.50")}}},
		{id: "G5", name: "kubernetes with extra properties", reason: "platforms MAY add properties",
			header: "kubernetes " + b64(base64.StdEncoding, `{"username":"u","scopes":["s"]}`), wantOK: true,
			want: &broker.OriginatingIdentity{Platform: "kubernetes", Value: map[string]any{"username": "u", "scopes": []any{"s"}},
				Kubernetes: &broker.KubernetesUser{Username: "u"}}},
		{id: "G5", name: "kubernetes with wrong field types", reason: "lenient: the Value is kept, the typed user is not",
			header: "kubernetes " + b64(base64.StdEncoding, `{"username":5}`), wantOK: true,
			want: &broker.OriginatingIdentity{Platform: "kubernetes", Value: map[string]any{"username": json.Number("5")}}},
		{id: "G5", name: "padding missing", reason: "lenient about padding",
			header: strings.TrimRight(profileCFHeader, "="), wantOK: true, want: profileCF},
		{id: "G5", name: "URL-safe alphabet", reason: "lenient about the alphabet",
			header: "cloudfoundry " + urlSafe, wantOK: true, want: urlUser},
		{id: "G5", name: "URL-safe alphabet with padding", reason: "lenient about the alphabet",
			header: "cloudfoundry " + b64(base64.URLEncoding, urlValue), wantOK: true, want: urlUser},
		{id: "G5", name: "extra spaces", reason: "white space around and between the parts is ignored",
			header: "  " + strings.Replace(profileCFHeader, " ", "   ", 1) + "  ", wantOK: true, want: profileCF},
		{id: "G5", name: "no space", reason: "platform and value are separated by a space",
			header: strings.Replace(profileCFHeader, " ", "", 1)},
		{id: "G5", name: "empty platform", reason: "a value alone names no platform",
			header: " " + b64(base64.StdEncoding, `{"user_id":"u"}`)},
		{id: "G5", name: "platform only", reason: "no value", header: "cloudfoundry"},
		{id: "G5", name: "platform and space only", reason: "an empty value", header: "cloudfoundry "},
		{id: "G5", name: "empty header", reason: "nothing to parse", header: ""},
		{id: "G5", name: "bad base64", reason: "not base64 in any alphabet", header: "cloudfoundry !!!not-base64!!!"},
		{id: "G5", name: "two values", reason: "a space inside the value breaks the base64",
			header: profileCFHeader + " " + b64(base64.StdEncoding, `{}`)},
		{id: "G5", name: "not JSON", reason: "the value must be JSON", header: "cloudfoundry " + b64(base64.StdEncoding, "user")},
		{id: "G5", name: "JSON array", reason: "the value must be a JSON object", header: "cloudfoundry " + b64(base64.StdEncoding, `[{"user_id":"u"}]`)},
		{id: "G5", name: "JSON string", reason: "the value must be a JSON object", header: "cloudfoundry " + b64(base64.StdEncoding, `"u"`)},
		{id: "G5", name: "JSON null", reason: "null is no object", header: "cloudfoundry " + b64(base64.StdEncoding, `null`)},
		{id: "G5", name: "trailing word", reason: "one object and nothing after it",
			header: "cloudfoundry " + b64(base64.StdEncoding, `{"user_id":"u"} x`)},
		{id: "G5", name: "trailing object", reason: "one object and nothing after it",
			header: "cloudfoundry " + b64(base64.StdEncoding, `{"user_id":"u"}{"user_id":"v"}`)},
		{id: "G5", name: "trailing closing brace", reason: "one object and nothing after it: `}}` is not JSON",
			header: "cloudfoundry " + b64(base64.StdEncoding, `{"user_id":"u"}}`)},
		{id: "G5", name: "trailing closing bracket", reason: "one object and nothing after it: `}]` is not JSON",
			header: "cloudfoundry " + b64(base64.StdEncoding, `{"user_id":"u"}]`)},
		{id: "G5", name: "truncated object", reason: "the object must be complete",
			header: "cloudfoundry " + b64(base64.StdEncoding, `{"user_id":"u"`)},
		{id: "G5", name: "trailing white space in the JSON", reason: "white space after the object is fine",
			header: "cloudfoundry " + b64(base64.StdEncoding, "{\"user_id\":\"u\"}\r\n"), wantOK: true,
			want: &broker.OriginatingIdentity{Platform: "cloudfoundry", Value: map[string]any{"user_id": "u"}, CloudFoundry: &broker.CloudFoundryUser{UserID: "u"}}},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := broker.ParseOriginatingIdentity(tt.header)
			if ok != tt.wantOK {
				t.Errorf("ParseOriginatingIdentity(%q) ok = %v, want %v (%s)", tt.header, ok, tt.wantOK, tt.reason)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseOriginatingIdentity(%q) mismatch (-want +got):\n%s", tt.header, diff)
			}
		})
	}
}

// logJSON logs one line with attrs through a JSON handler and returns it.
func logJSON(t *testing.T, attrs ...any) string {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info("msg", attrs...)
	return buf.String()
}

// TestG5_OriginatingIdentityLogValue: a logged identity shows the platform
// and the user only, never the rest of the decoded value.
func TestG5_OriginatingIdentityLogValue(t *testing.T) {
	t.Parallel()
	other, ok := broker.ParseOriginatingIdentity("nomad " + b64(base64.StdEncoding, `{"user":"x","token":"t0ken"}`))
	if !ok {
		t.Fatal("test bug: the nomad header does not parse")
	}
	k8s, _ := broker.ParseOriginatingIdentity(profileK8sHeader)
	cf, _ := broker.ParseOriginatingIdentity(profileCFHeader)
	tests := []struct {
		id, name, reason string
		oi               *broker.OriginatingIdentity
		want             any
	}{
		{id: "G5", name: "kubernetes", reason: "the username, not uid, groups or extra",
			oi: k8s, want: map[string]any{"platform": "kubernetes", "user": "duke"}},
		{id: "G5", name: "cloudfoundry", reason: "the user_id",
			oi: cf, want: map[string]any{"platform": "cloudfoundry", "user": profileCFUserID}},
		{id: "G5", name: "other platform", reason: "no known user field: nothing of the value",
			oi: other, want: map[string]any{"platform": "nomad", "user": ""}},
		{id: "G5", name: "nil", reason: "an absent identity logs as null",
			oi: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.id+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			line := logJSON(t, slog.Any("oi", tt.oi))
			var got struct {
				OI any `json:"oi"`
			}
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if diff := cmp.Diff(tt.want, got.OI); diff != "" {
				t.Errorf("logged identity mismatch (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"c2dde242", "admin", "mydata", "t0ken"} {
				if strings.Contains(line, secret) {
					t.Errorf("log line %s shows %q (%s)", line, secret, tt.reason)
				}
			}
		})
	}
}

// TestRedaction_ParametersAndCredentials: printing or logging parameters
// and credentials shows their keys and never a value (STYLE.md habit 15).
func TestRedaction_ParametersAndCredentials(t *testing.T) {
	t.Parallel()
	values := map[string]any{
		"password": "hunter2-secret",
		"nested":   map[string]any{"token": "tok-secret"},
		"port":     json.Number("424242"),
		"list":     []any{"list-secret"},
	}
	secrets := []string{"hunter2", "tok-secret", "token", "424242", "list-secret"}
	keys := []string{"password", "nested", "port", "list"}
	params, creds := broker.Parameters(values), broker.Credentials(values)

	type printer struct {
		name string
		out  func() string
	}
	var printers []printer
	for _, v := range []struct {
		name string
		val  any
	}{{"Parameters", params}, {"Credentials", creds}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			printers = append(printers, printer{name: v.name + " " + verb, out: func() string { return fmt.Sprintf(verb, v.val) }})
		}
		printers = append(printers,
			printer{name: v.name + " Sprint", out: func() string { return fmt.Sprint(v.val) }},
			printer{name: v.name + " slog JSON", out: func() string { return logJSON(t, "v", v.val) }},
			printer{name: v.name + " slog JSON in a group", out: func() string { return logJSON(t, slog.Group("g", "v", v.val)) }},
			printer{name: v.name + " slog text", out: func() string {
				var buf bytes.Buffer
				slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "v", v.val)
				return buf.String()
			}},
		)
	}
	// Inside the request and response types, as a backend might log them.
	printers = append(printers,
		printer{name: "BindRequest %+v", out: func() string { return fmt.Sprintf("%+v", &broker.BindRequest{Parameters: params}) }},
		printer{name: "BindResponse %+v", out: func() string {
			return fmt.Sprintf("%+v", broker.BindResponse{Binding: broker.Binding{Credentials: creds}})
		}},
		printer{name: "ProvisionRequest %v", out: func() string { return fmt.Sprintf("%v", broker.ProvisionRequest{Parameters: params}) }},
	)
	for _, p := range printers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			out := p.out()
			var shown []string
			for _, s := range secrets {
				if strings.Contains(out, s) {
					shown = append(shown, s)
				}
			}
			if shown != nil {
				t.Errorf("output %q shows the values %q", out, shown)
			}
			for _, k := range keys {
				if !strings.Contains(out, k) {
					t.Errorf("output %q lacks the key %q", out, k)
				}
			}
		})
	}
}
