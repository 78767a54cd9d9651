package brokertest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
)

// recorder is a test server that records requests and answers them in
// turn from a script.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	answers  []answer
}

type answer struct {
	status int
	header map[string]string
	body   string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	rec.requests = append(rec.requests, r)
	rec.bodies = append(rec.bodies, string(b))
	a := answer{status: http.StatusOK, body: "{}"}
	if len(rec.answers) > 0 {
		a = rec.answers[0]
		if len(rec.answers) > 1 {
			rec.answers = rec.answers[1:]
		}
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

func serve(t *testing.T, answers ...answer) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{answers: answers}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func TestClientHeaders(t *testing.T) {
	t.Parallel()
	rec, srv := serve(t)
	n := 0
	c := brokertest.NewClient(srv.URL+"/", brokertest.ClientOptions{
		Username: "user", Password: "pass",
		OriginatingIdentity: brokertest.OriginatingIdentity("kubernetes", map[string]any{"username": "jane"}),
		RequestIdentity:     func() string { n++; return fmt.Sprintf("req-%d", n) },
	})
	ctx := t.Context()
	if _, err := c.Catalog(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Provision(ctx, brokertest.ProvisionRequest{InstanceID: "i", ServiceID: "s", PlanID: "p",
		OrganizationGUID: "o", SpaceGUID: "sp", AcceptsIncomplete: true, Parameters: broker.Parameters{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	get, put := rec.requests[0], rec.requests[1]
	if u, p, ok := get.BasicAuth(); !ok || u != "user" || p != "pass" {
		t.Errorf("basic auth = %q, %q, %v; want user, pass", u, p, ok)
	}
	if got := get.Header.Get("X-Broker-API-Version"); got != "2.17" {
		t.Errorf("X-Broker-API-Version = %q; want 2.17", got)
	}
	if got := get.Header.Get("X-Broker-API-Request-Identity") + " " + put.Header.Get("X-Broker-API-Request-Identity"); got != "req-1 req-2" {
		t.Errorf("request identities = %q; want the generator's", got)
	}
	id, ok := broker.ParseOriginatingIdentity(get.Header.Get("X-Broker-API-Originating-Identity"))
	if !ok || id.Platform != "kubernetes" || id.User() != "jane" {
		t.Errorf("originating identity = %+v, %v", id, ok)
	}
	if ct := get.Header.Get("Content-Type"); ct != "" {
		t.Errorf("a GET has Content-Type %q", ct)
	}
	if ct := put.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("a PUT has Content-Type %q; want application/json", ct)
	}
	if put.URL.RawQuery != "accepts_incomplete=true" {
		t.Errorf("query = %q", put.URL.RawQuery)
	}
	want := `{"service_id":"s","plan_id":"p","organization_guid":"o","space_guid":"sp","parameters":{"k":"v"}}`
	if rec.bodies[1] != want {
		t.Errorf("body = %s; want %s", rec.bodies[1], want)
	}
}

func TestClientDefaults(t *testing.T) {
	t.Parallel()
	rec, srv := serve(t)
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{APIVersion: "2.14"})
	if _, err := c.GetInstance(t.Context(), brokertest.GetInstanceRequest{InstanceID: "i"}); err != nil {
		t.Fatal(err)
	}
	r := rec.requests[0]
	if _, _, ok := r.BasicAuth(); ok {
		t.Errorf("sent credentials without a Username")
	}
	if got := r.Header.Get("X-Broker-API-Version"); got != "2.14" {
		t.Errorf("X-Broker-API-Version = %q; want 2.14", got)
	}
	if got := r.Header.Get("X-Broker-API-Request-Identity"); !uuidRE.MatchString(got) {
		t.Errorf("default request identity %q is not a UUID", got)
	}
	if r.Header.Get("X-Broker-API-Originating-Identity") != "" {
		t.Errorf("sent an originating identity without one configured")
	}
}

func TestClientEscaping(t *testing.T) {
	t.Parallel()
	rec, srv := serve(t)
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{})
	const id, bid, op = "a/b c?d%e", "ü#1", "op &=?/+%é"
	if _, err := c.BindingLastOperation(t.Context(), brokertest.BindingLastOperationRequest{
		InstanceID: id, BindingID: bid, ServiceID: "s 1", Operation: op}); err != nil {
		t.Fatal(err)
	}
	r := rec.requests[0]
	if got, want := r.URL.EscapedPath(), "/v2/service_instances/a%2Fb%20c%3Fd%25e/service_bindings/%C3%BC%231/last_operation"; got != want {
		t.Errorf("path = %s; want %s", got, want)
	}
	q := r.URL.Query()
	if q.Get("operation") != op || q.Get("service_id") != "s 1" || q.Has("plan_id") {
		t.Errorf("query %q decodes to %v", r.URL.RawQuery, q)
	}
}

func TestResponse(t *testing.T) {
	t.Parallel()
	_, srv := serve(t,
		answer{status: 201, body: `{"credentials":{"password":"pw"},"metadata":{"expires_at":"2030-01-01T00:00:00.0Z"}}`},
		answer{status: 409, body: `{"description":"Conflict here."}`},
		answer{status: 422, body: `{"error":"ConcurrencyError","description":"Busy."}`},
		answer{status: 500, body: `not json`},
	)
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{})
	ctx := t.Context()
	req := brokertest.BindRequest{InstanceID: "i", BindingID: "b", ServiceID: "s", PlanID: "p"}

	resp, err := c.Bind(ctx, req)
	if err != nil || !resp.OK() || resp.Err() != nil {
		t.Fatalf("Bind: %v, %v", err, resp.Err())
	}
	wantBody := brokertest.BindResponse{Binding: brokertest.Binding{Credentials: broker.Credentials{"password": "pw"},
		Metadata: &brokertest.BindingMetadata{ExpiresAt: "2030-01-01T00:00:00.0Z"}}}
	if diff := cmp.Diff(wantBody, resp.Value); diff != "" {
		t.Errorf("Value (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(resp.Body), `"pw"`) || resp.Error != nil {
		t.Errorf("Body = %s, Error = %v", resp.Body, resp.Error)
	}

	tests := []struct {
		status  int
		errBody *brokertest.ErrorBody
		msg     string
	}{
		{409, &brokertest.ErrorBody{Description: "Conflict here."},
			"brokertest: PUT /v2/service_instances/i/service_bindings/b: 409 Conflict: Conflict here."},
		{422, &brokertest.ErrorBody{Code: "ConcurrencyError", Description: "Busy."},
			"brokertest: PUT /v2/service_instances/i/service_bindings/b: 422 Unprocessable Entity (ConcurrencyError): Busy."},
		{500, nil, "brokertest: PUT /v2/service_instances/i/service_bindings/b: 500 Internal Server Error"},
	}
	for _, tt := range tests {
		resp, err := c.Bind(ctx, req)
		if err != nil {
			t.Fatalf("Bind: %v", err)
		}
		if resp.StatusCode != tt.status || resp.OK() {
			t.Errorf("StatusCode = %d; want %d", resp.StatusCode, tt.status)
		}
		if diff := cmp.Diff(tt.errBody, resp.Error); diff != "" {
			t.Errorf("%d: Error (-want +got):\n%s", tt.status, diff)
		}
		var se *brokertest.StatusError
		if err := resp.Err(); !errors.As(err, &se) || se.StatusCode != tt.status || err.Error() != tt.msg {
			t.Errorf("Err() = %v; want %q", err, tt.msg)
		}
	}
}

// TestClientErrorsHoldNoSecrets checks that neither passwords,
// credentials nor parameters reach an error string.
func TestClientErrorsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-secret"
	tests := []struct {
		name string
		call func(t *testing.T) error
	}{{
		name: "invalid JSON body",
		call: func(t *testing.T) error {
			_, srv := serve(t, answer{status: 201, body: `{"credentials":{"password":"` + secret + `"}`})
			_, err := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Password: secret}).Bind(t.Context(), brokertest.BindRequest{
				InstanceID: "i", BindingID: "b", Parameters: broker.Parameters{"p": secret}})
			return err
		},
	}, {
		name: "wrong JSON type",
		call: func(t *testing.T) error {
			_, srv := serve(t, answer{status: 201, body: `{"credentials":"` + secret + `"}`})
			_, err := brokertest.NewClient(srv.URL, brokertest.ClientOptions{}).Bind(t.Context(), brokertest.BindRequest{InstanceID: "i", BindingID: "b"})
			return err
		},
	}, {
		name: "wrong JSON type in a number",
		call: func(t *testing.T) error {
			_, srv := serve(t, answer{status: 200, body: `{"state":"succeeded","description":{"x":"` + secret + `"}}`})
			_, err := brokertest.NewClient(srv.URL, brokertest.ClientOptions{}).LastOperation(t.Context(), brokertest.LastOperationRequest{InstanceID: "i"})
			return err
		},
	}, {
		name: "no server",
		call: func(t *testing.T) error {
			_, srv := serve(t)
			srv.Close()
			_, err := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "u", Password: secret}).Provision(t.Context(),
				brokertest.ProvisionRequest{InstanceID: "i", Parameters: broker.Parameters{"p": secret}})
			return err
		},
	}, {
		name: "password in the base URL",
		call: func(t *testing.T) error {
			_, srv := serve(t)
			srv.Close()
			u := strings.Replace(srv.URL, "http://", "http://user:"+secret+"@", 1)
			_, err := brokertest.NewClient(u, brokertest.ClientOptions{}).Catalog(t.Context())
			return err
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(t)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error holds the secret: %v", err)
			}
		})
	}

	_, srv := serve(t, answer{status: 201, body: `{"credentials":{"password":"` + secret + `"}}`})
	opts := brokertest.ClientOptions{Username: "u", Password: secret}
	c := brokertest.NewClient(srv.URL, opts)
	resp, err := c.Bind(t.Context(), brokertest.BindRequest{InstanceID: "i", BindingID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	values := []any{opts, &opts, c, *resp, resp, resp.Value,
		brokertest.ProvisionRequest{Parameters: broker.Parameters{"p": secret}},
		brokertest.Binding{Credentials: broker.Credentials{"password": secret}}}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
				t.Errorf("%s of a %T shows the secret: %s", verb, v, s)
			}
		}
	}
}

func TestPollLastOperation(t *testing.T) {
	t.Parallel()
	inProgress := func(retryAfter string) answer {
		a := answer{status: 200, body: `{"state":"in progress"}`}
		if retryAfter != "" {
			a.header = map[string]string{"Retry-After": retryAfter}
		}
		return a
	}
	succeeded := answer{status: 200, body: `{"state":"succeeded","description":"Done."}`}
	tests := []struct {
		name      string
		answers   []answer
		opts      brokertest.PollOptions
		want      brokertest.LastOperation
		wantErr   func(error) bool
		wantPolls int
		minTime   time.Duration
		maxTime   time.Duration
	}{{
		name:    "Retry-After replaces Interval",
		answers: []answer{inProgress("0"), inProgress("0"), succeeded},
		opts:    brokertest.PollOptions{Interval: time.Hour},
		want:    brokertest.LastOperation{State: broker.Succeeded, Description: "Done."}, wantPolls: 3,
		maxTime: 5 * time.Second,
	}, {
		name:    "Interval without Retry-After",
		answers: []answer{inProgress(""), inProgress(""), succeeded},
		opts:    brokertest.PollOptions{Interval: 50 * time.Millisecond},
		want:    brokertest.LastOperation{State: broker.Succeeded, Description: "Done."}, wantPolls: 3,
		minTime: 100 * time.Millisecond,
	}, {
		name:    "Retry-After is waited for",
		answers: []answer{inProgress("1"), succeeded},
		opts:    brokertest.PollOptions{Interval: time.Millisecond},
		want:    brokertest.LastOperation{State: broker.Succeeded, Description: "Done."}, wantPolls: 2,
		minTime: time.Second,
	}, {
		name:    "MaxInterval caps Retry-After",
		answers: []answer{inProgress("3600"), succeeded},
		opts:    brokertest.PollOptions{Interval: time.Hour, MaxInterval: 10 * time.Millisecond},
		want:    brokertest.LastOperation{State: broker.Succeeded, Description: "Done."}, wantPolls: 2,
		maxTime: 5 * time.Second,
	}, {
		name:    "Retry-After as an HTTP date",
		answers: []answer{inProgress(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), succeeded},
		opts:    brokertest.PollOptions{Interval: time.Hour, MaxInterval: 10 * time.Millisecond},
		want:    brokertest.LastOperation{State: broker.Succeeded, Description: "Done."}, wantPolls: 2,
		maxTime: 5 * time.Second,
	}, {
		name:    "failed is a result",
		answers: []answer{{status: 200, body: `{"state":"failed","description":"Boom.","instance_usable":false}`}},
		want:    brokertest.LastOperation{State: broker.Failed, Description: "Boom.", InstanceUsable: broker.Bool(false)}, wantPolls: 1,
	}, {
		name:    "410 Gone",
		answers: []answer{inProgress("0"), {status: 410, body: `{}`}},
		want:    brokertest.LastOperation{State: broker.InProgress}, wantPolls: 2,
		wantErr: func(err error) bool { return errors.Is(err, brokertest.ErrGone) },
	}, {
		name:    "404 stops",
		answers: []answer{{status: 404, body: `{"description":"No such instance."}`}},
		wantErr: func(err error) bool {
			var se *brokertest.StatusError
			return errors.As(err, &se) && se.StatusCode == 404 && se.Body.Description == "No such instance."
		},
		wantPolls: 1,
	}, {
		name:      "an undefined state stops",
		answers:   []answer{{status: 200, body: `{"state":"pending"}`}},
		want:      brokertest.LastOperation{State: "pending"},
		wantErr:   func(err error) bool { return err != nil && strings.Contains(err.Error(), `"pending"`) },
		wantPolls: 1,
	}, {
		name:    "Timeout",
		answers: []answer{inProgress("")},
		opts:    brokertest.PollOptions{Interval: 5 * time.Millisecond, Timeout: 50 * time.Millisecond},
		want:    brokertest.LastOperation{State: broker.InProgress},
		wantErr: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		minTime: 50 * time.Millisecond, maxTime: 5 * time.Second,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, srv := serve(t, tt.answers...)
			c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{})
			tt.opts.ServiceID, tt.opts.PlanID = "svc", "plan"
			start := time.Now()
			got, err := c.PollLastOperation(t.Context(), "inst", "op 1", tt.opts)
			elapsed := time.Since(start)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Errorf("err = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LastOperation (-want +got):\n%s", diff)
			}
			if tt.wantPolls > 0 && rec.count() != tt.wantPolls {
				t.Errorf("%d polls; want %d", rec.count(), tt.wantPolls)
			}
			if elapsed < tt.minTime || tt.maxTime > 0 && elapsed > tt.maxTime {
				t.Errorf("took %v; want between %v and %v", elapsed, tt.minTime, tt.maxTime)
			}
			r := rec.requests[0]
			if q := r.URL.Query(); r.URL.Path != "/v2/service_instances/inst/last_operation" ||
				q.Get("operation") != "op 1" || q.Get("service_id") != "svc" || q.Get("plan_id") != "plan" {
				t.Errorf("polled %s?%s", r.URL.Path, r.URL.RawQuery)
			}
		})
	}
}

func TestPollBindingLastOperation(t *testing.T) {
	t.Parallel()
	rec, srv := serve(t, answer{status: 200, body: `{"state":"in progress"}`}, answer{status: 410, body: `{}`})
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{})
	_, err := c.PollBindingLastOperation(t.Context(), "inst", "bind", "op", brokertest.PollOptions{Interval: time.Millisecond})
	if !errors.Is(err, brokertest.ErrGone) {
		t.Errorf("err = %v; want ErrGone", err)
	}
	if got := rec.requests[1].URL.Path; got != "/v2/service_instances/inst/service_bindings/bind/last_operation" {
		t.Errorf("polled %s", got)
	}
}

func TestPollContextDeadline(t *testing.T) {
	t.Parallel()
	_, srv := serve(t, answer{status: 200, body: `{"state":"in progress"}`, header: map[string]string{"Retry-After": "3600"}})
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	lo, err := c.PollLastOperation(ctx, "inst", "", brokertest.PollOptions{MaxInterval: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) || lo.State != broker.InProgress {
		t.Errorf("PollLastOperation = %+v, %v; want in progress and DeadlineExceeded", lo, err)
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	rec, srv := serve(t, answer{status: 200, body: `{"a":1}`})
	var seen []string
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: "u", Password: "p",
		OnResponse: func(r *http.Request, resp *http.Response, body []byte) {
			seen = append(seen, fmt.Sprintf("%s %d %s", r.Method, resp.StatusCode, body))
		}})
	resp, err := c.Do(t.Context(), http.MethodPatch, brokertest.InstancePath("x"), nil, []byte(`{`), func(r *http.Request) {
		r.Header.Del("X-Broker-API-Version")
		r.Header.Del("Authorization")
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Value) != `{"a":1}` {
		t.Errorf("Value = %s", resp.Value)
	}
	r := rec.requests[0]
	if r.Header.Get("X-Broker-API-Version") != "" || r.Header.Get("Authorization") != "" || rec.bodies[0] != "{" {
		t.Errorf("edit was not applied: %v %q", r.Header, rec.bodies[0])
	}
	if diff := cmp.Diff([]string{`PATCH 200 {"a":1}`}, seen); diff != "" {
		t.Errorf("OnResponse calls (-want +got):\n%s", diff)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewUUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := brokertest.NewUUID()
		if !uuidRE.MatchString(id) || seen[id] {
			t.Fatalf("NewUUID() = %q: not a fresh version 4 UUID", id)
		}
		seen[id] = true
	}
}

func TestOriginatingIdentity(t *testing.T) {
	t.Parallel()
	got := brokertest.OriginatingIdentity("cloudfoundry", map[string]any{"user_id": "abc"})
	want := "cloudfoundry " + base64.StdEncoding.EncodeToString([]byte(`{"user_id":"abc"}`))
	if got != want {
		t.Errorf("OriginatingIdentity = %q; want %q", got, want)
	}
}
