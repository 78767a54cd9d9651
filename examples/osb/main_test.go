package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

const (
	testUser     = "platform"
	testPassword = "correct-horse-battery-staple"

	sqsID      = "11111111-0000-4000-8000-000000000001"
	standardID = "11111111-0000-4000-8000-000000000011"
	fifoID     = "11111111-0000-4000-8000-000000000012"
	logsID     = "22222222-0000-4000-8000-000000000002"
	logsPlanID = "22222222-0000-4000-8000-000000000021"
)

// testCatalog has the example broker's service names: "sqs" with plans
// "standard" and "fifo", plus an unbindable "logs" service whose plan is
// also called "standard", so that resolution must go through the service.
func testCatalog() catalog.Catalog {
	schema := catalog.Schema{
		"$schema": "http://json-schema.org/draft-07/schema#",
		"type":    "object",
		"properties": map[string]any{
			"VisibilityTimeout": map[string]any{"type": "integer"},
			"QueueName":         map[string]any{"type": "string"},
			"Tags":              map[string]any{"type": "object"},
			"Token":             map[string]any{"type": "string", "writeOnly": true},
		},
	}
	schemas := &catalog.Schemas{ServiceInstance: &catalog.ServiceInstanceSchemas{
		Create: &catalog.InputParameters{Parameters: schema},
		Update: &catalog.InputParameters{Parameters: schema},
	}}
	return catalog.Catalog{Services: []catalog.Service{
		{ID: sqsID, Name: "sqs", Description: "Amazon SQS", Bindable: true, PlanUpdateable: true,
			InstancesRetrievable: true, BindingsRetrievable: true,
			Plans: []catalog.Plan{
				{ID: standardID, Name: "standard", Description: "A standard queue", Schemas: schemas},
				{ID: fifoID, Name: "fifo", Description: "A FIFO queue", Schemas: schemas},
			}},
		{ID: logsID, Name: "logs", Description: "A log group", InstancesRetrievable: true,
			Plans: []catalog.Plan{{ID: logsPlanID, Name: "standard", Description: "A log group, tab\tand newline\nin it"}}},
	}}
}

// newBroker serves the library's handler over an in-memory backend.
func newBroker(t *testing.T, opts brokertest.MemoryOptions) (*httptest.Server, *brokertest.Memory) {
	t.Helper()
	idx, err := catalog.NewIndex(testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	mem := brokertest.NewMemory(idx, opts)
	h, err := broker.New(idx, mem, broker.Options{
		Authenticator: broker.BasicAuth(broker.Credential{Username: testUser, Password: testPassword}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, mem
}

type result struct {
	code           int
	stdout, stderr string
}

// osb runs the CLI with OSB_URL, OSB_USER and OSB_PASSWORD set for srv.
func osb(t *testing.T, srv *httptest.Server, args ...string) result {
	t.Helper()
	return osbEnv(t, map[string]string{"OSB_URL": srv.URL, "OSB_USER": testUser, "OSB_PASSWORD": testPassword}, args...)
}

func osbEnv(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env{
		stdout: &stdout, stderr: &stderr,
		getenv:       func(k string) string { return environ[k] },
		pollInterval: 10 * time.Millisecond,
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// must fails t unless r exited with want.
func (r result) must(t *testing.T, want int) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	return r
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})

	r := osb(t, srv, "catalog").must(t, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := [][]string{
		{"SERVICE", "PLAN", "SERVICE", "ID", "PLAN", "ID", "BINDABLE", "DESCRIPTION"},
		{"sqs", "standard", sqsID, standardID, "true", "A", "standard", "queue"},
		{"sqs", "fifo", sqsID, fifoID, "true", "A", "FIFO", "queue"},
		{"logs", "standard", logsID, logsPlanID, "false", "A", "log", "group,", "tab", "and", "newline", "in", "it"},
	}
	var got [][]string
	for _, l := range lines {
		got = append(got, strings.Fields(l))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("catalog table (-want +got):\n%s\n%s", diff, r.stdout)
	}

	r = osb(t, srv, "catalog", "-o", "json").must(t, 0)
	var cat catalog.Catalog
	if err := json.Unmarshal([]byte(r.stdout), &cat); err != nil {
		t.Fatalf("catalog -o json is not the catalog: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(testCatalog(), cat); diff != "" {
		t.Errorf("catalog -o json (-want +got):\n%s", diff)
	}
}

// TestConversation runs the walkthrough's platform side, against a
// synchronous and an asynchronous backend.
func TestConversation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   brokertest.MemoryOptions
		status string // of provision, bind, unbind, deprovision
	}{
		{"sync", brokertest.MemoryOptions{}, "201 Created"},
		{"async", brokertest.MemoryOptions{Async: true}, "202 Accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, mem := newBroker(t, tc.opts)
			const inst, bind = "opensource-blog-sqs-demo", "os-blog-sqs-binding"

			r := osb(t, srv, "provision", inst, "sqs", "standard", "-p", "VisibilityTimeout=60", "-wait").must(t, 0)
			contains(t, "provision", r.stdout, "provision "+inst+" (sqs/standard): "+tc.status)
			if tc.opts.Async {
				contains(t, "provision", r.stdout, "last_operation: succeeded")
			}
			if diff := cmp.Diff([]string{inst}, mem.InstanceIDs()); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}

			r = osb(t, srv, "get-instance", inst).must(t, 0)
			contains(t, "get-instance", r.stdout, "sqs ("+sqsID+")", "standard ("+standardID+")")
			if !regexp.MustCompile(`\n  VisibilityTimeout +60\n`).MatchString(r.stdout) {
				t.Errorf("get-instance lacks the parameter:\n%s", r.stdout)
			}

			r = osb(t, srv, "last-operation", inst).must(t, 0)
			contains(t, "last-operation", r.stdout, "STATE")

			r = osb(t, srv, "bind", inst, bind, "-wait").must(t, 0)
			contains(t, "bind", r.stdout, "bind "+bind+" to "+inst+": "+tc.status, "CREDENTIAL", "username", "password")
			creds := credentials(t, srv, inst, bind)
			contains(t, "bind", r.stdout, creds["username"].(string), creds["password"].(string))

			r = osb(t, srv, "get-binding", inst, bind).must(t, 0)
			contains(t, "get-binding", r.stdout, creds["username"].(string), creds["password"].(string))

			r = osb(t, srv, "unbind", inst, bind, "-wait").must(t, 0)
			status := "200 OK"
			if tc.opts.Async {
				status = "202 Accepted"
			}
			contains(t, "unbind", r.stdout, "unbind "+bind+" from "+inst+": "+status)
			r = osb(t, srv, "get-binding", inst, bind).must(t, 1)
			contains(t, "get-binding after unbind", r.stderr, "404 Not Found")

			r = osb(t, srv, "deprovision", inst, "-wait").must(t, 0)
			contains(t, "deprovision", r.stdout, "deprovision "+inst+": "+status)
			if ids := mem.InstanceIDs(); len(ids) != 0 {
				t.Errorf("instances after deprovision: %v", ids)
			}
			// Nothing to fetch the plan from any more: the flags name it.
			r = osb(t, srv, "deprovision", inst, "-service", "sqs", "-plan", "standard").must(t, 1)
			contains(t, "second deprovision", r.stderr, "410 Gone")
		})
	}
}

// credentials fetches a binding's credentials directly.
func credentials(t *testing.T, srv *httptest.Server, inst, bind string) broker.Credentials {
	t.Helper()
	c := brokertest.NewClient(srv.URL, brokertest.ClientOptions{Username: testUser, Password: testPassword})
	resp, err := c.GetBinding(context.Background(), brokertest.GetBindingRequest{InstanceID: inst, BindingID: bind})
	if err != nil || !resp.OK() {
		t.Fatalf("GetBinding: %v %v", resp, err)
	}
	return resp.Value.Credentials
}

func TestAsyncWithoutWait(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 1})

	r := osb(t, srv, "provision", "i", "sqs", "fifo").must(t, 0)
	contains(t, "provision", r.stdout, `202 Accepted, operation "`, "follow it with: osb last-operation i -operation ")
	op := regexp.MustCompile(`-operation (\S+)`).FindStringSubmatch(r.stdout)[1]

	r = osb(t, srv, "last-operation", "i", "-operation", op, "-service", "sqs", "-plan", "fifo").must(t, 0)
	contains(t, "last-operation", r.stdout, "succeeded", "DESCRIPTION  The service instance was provisioned.")
	r = osb(t, srv, "last-operation", "i", "-o", "json").must(t, 0)
	var lo brokertest.LastOperation
	if err := json.Unmarshal([]byte(r.stdout), &lo); err != nil || lo.State != broker.Succeeded {
		t.Errorf("last-operation -o json: %v %+v\n%s", err, lo, r.stdout)
	}

	r = osb(t, srv, "bind", "i", "b").must(t, 0)
	contains(t, "bind", r.stdout, "follow it with: osb last-operation i -binding b -operation ")
	if strings.Contains(r.stdout, "CREDENTIAL") {
		t.Errorf("an asynchronous bind printed credentials before it ended:\n%s", r.stdout)
	}
	r = osb(t, srv, "last-operation", "i", "-binding", "b").must(t, 0)
	contains(t, "binding last-operation", r.stdout, "succeeded")
	r = osb(t, srv, "bind", "i", "b2", "-o", "secret").must(t, 1)
	contains(t, "bind -o secret without -wait", r.stderr, "has no credentials yet")
	if r.stdout != "" {
		t.Errorf("stdout holds more than a manifest:\n%s", r.stdout)
	}
}

// TestWaitHonoursRetryAfter checks that -wait waits what the broker asks
// (1s here) rather than its own 10ms interval.
func TestWaitHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 2, RetryAfter: time.Second})
	start := time.Now()
	osb(t, srv, "provision", "i", "sqs", "standard", "-wait").must(t, 0)
	if d := time.Since(start); d < time.Second {
		t.Errorf("-wait took %v; Retry-After asked for 1s between polls", d)
	}
}

func TestFailedOperation(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{Async: true, Fail: func(a broker.Action, _ string) error {
		if a == broker.ActionProvision {
			return &broker.Error{Description: "CREATE_FAILED: the queue name is taken"}
		}
		return nil
	}})
	r := osb(t, srv, "provision", "i", "sqs", "standard", "-wait").must(t, 1)
	contains(t, "stderr", r.stderr, "osb provision: the operation failed: CREATE_FAILED: the queue name is taken")
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{Async: true})
	osb(t, srv, "provision", "i", "sqs", "standard", "-p", "VisibilityTimeout=30", "-wait").must(t, 0)

	// The service and previous plan come from GET instance.
	r := osb(t, srv, "update", "i", "-plan", "fifo", "-p", "VisibilityTimeout=90", "-wait").must(t, 0)
	contains(t, "update", r.stdout, "update i: 202 Accepted", "last_operation: succeeded")
	r = osb(t, srv, "get-instance", "i").must(t, 0)
	contains(t, "get-instance", r.stdout, "fifo ("+fifoID+")")
	if !regexp.MustCompile(`\n  VisibilityTimeout +90\n`).MatchString(r.stdout) {
		t.Errorf("get-instance lacks the new parameter:\n%s", r.stdout)
	}

	r = osb(t, srv, "update", "i", "-service", "sqs", "-plan", "nope").must(t, 1)
	contains(t, "update to an unknown plan", r.stderr, `service "sqs" has no plan "nope"; its plans: standard, fifo`)
	osb(t, srv, "update", "i").must(t, 2)
}

func TestParameters(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})
	osb(t, srv, "provision", "i", "sqs", "standard",
		"-params", `{"QueueName":"from-params","VisibilityTimeout":1,"Tags":{"a":"b"}}`,
		"-p", "VisibilityTimeout=60", // JSON number, over -params
		"-p", "QueueName=my-queue", // not JSON: a string
		"-p", "Token=s3cr3t-t0ken",
	).must(t, 0)

	r := osb(t, srv, "get-instance", "i", "-o", "json").must(t, 0)
	var got struct {
		Parameters map[string]any `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("get-instance -o json: %v\n%s", err, r.stdout)
	}
	want := map[string]any{"QueueName": "my-queue", "VisibilityTimeout": 60.0, "Tags": map[string]any{"a": "b"}, "Token": "<redacted>"}
	if diff := cmp.Diff(want, got.Parameters); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	// The writeOnly parameter is not printed, whatever the format.
	r = osb(t, srv, "get-instance", "i").must(t, 0)
	for _, re := range []string{`\n  Token +<redacted>\n`, `\n  QueueName +my-queue\n`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("get-instance does not match %s:\n%s", re, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "s3cr3t-t0ken") {
		t.Errorf("a secret parameter was printed:\n%s", r.stdout)
	}
}

// TestNameResolution checks that services and plans are found by name
// through the catalog, a plan within its own service.
func TestNameResolution(t *testing.T) {
	t.Parallel()
	srv, mem := newBroker(t, brokertest.MemoryOptions{})
	for _, tc := range []struct {
		reason             string
		args               []string
		code               int
		stderr, serviceLog string
	}{
		{reason: "names", args: []string{"provision", "a", "sqs", "fifo"}},
		{reason: "the same plan name in another service", args: []string{"provision", "b", "logs", "standard"}},
		{reason: "IDs are accepted too", args: []string{"provision", "c", sqsID, standardID}},
		{reason: "unknown service", args: []string{"provision", "d", "rds", "standard"}, code: 1,
			stderr: `osb provision: the catalog has no service "rds"; it has: sqs, logs`},
		{reason: "unknown plan", args: []string{"provision", "e", "sqs", "large"}, code: 1,
			stderr: `osb provision: service "sqs" has no plan "large"; its plans: standard, fifo`},
		{reason: "a plan of another service", args: []string{"provision", "f", "logs", "fifo"}, code: 1,
			stderr: `service "logs" has no plan "fifo"; its plans: standard`},
	} {
		r := osb(t, srv, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.reason, r.code, r.stderr, tc.code, tc.stderr)
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, mem.InstanceIDs()); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	r := osb(t, srv, "get-instance", "b").must(t, 0)
	contains(t, "get-instance", r.stdout, "logs ("+logsID+")", "standard ("+logsPlanID+")")
}

// TestBrokerErrors checks that the broker's error answers reach stderr
// with their OSB error body, and exit 1.
func TestBrokerErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})
	osb(t, srv, "provision", "i", "sqs", "standard", "-p", "VisibilityTimeout=30").must(t, 0)

	r := osb(t, srv, "provision", "i", "sqs", "standard", "-p", "VisibilityTimeout=31").must(t, 1)
	contains(t, "conflicting provision", r.stderr, "osb provision: brokertest: PUT /v2/service_instances/i: 409 Conflict",
		`broker's answer: {"description":`)
	if r.stdout != "" {
		t.Errorf("stdout after an error: %q", r.stdout)
	}

	r = osb(t, srv, "provision", "j", "sqs", "standard", "-p", `VisibilityTimeout="sixty"`).must(t, 1)
	contains(t, "invalid parameter", r.stderr, "400 Bad Request", "VisibilityTimeout")

	r = osb(t, srv, "get-instance", "nope").must(t, 1)
	contains(t, "unknown instance", r.stderr, "404 Not Found")

	r = osb(t, srv, "bind", "nope", "b").must(t, 1)
	contains(t, "bind to an unknown instance", r.stderr, `cannot tell the service and plan of instance "nope": give -service and -plan`, "404 Not Found")

	r = osb(t, srv, "bind", "i", "b", "-service", "sqs", "-plan", "fifo").must(t, 1)
	contains(t, "bind with the wrong plan", r.stderr, "400 Bad Request", "must be those of the Service Instance")

	r = osbEnv(t, map[string]string{"OSB_URL": srv.URL, "OSB_USER": testUser, "OSB_PASSWORD": "wrong"}, "catalog").must(t, 1)
	contains(t, "wrong password", r.stderr, "osb catalog: brokertest: GET /v2/catalog: 401 Unauthorized")

	r = osb(t, srv, "-api-version", "3.0", "catalog").must(t, 1)
	contains(t, "wrong API version", r.stderr, "412 Precondition Failed")

	r = osbEnv(t, map[string]string{"OSB_URL": "http://127.0.0.1:1"}, "catalog").must(t, 1)
	contains(t, "no broker", r.stderr, "osb catalog: brokertest: GET /v2/catalog: ")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})
	for _, tc := range []struct {
		reason string
		args   []string
		stderr string
	}{
		{"no command", nil, "usage: osb [global flags] <command>"},
		{"unknown command", []string{"get-brokers"}, `unknown command "get-brokers"`},
		{"unknown global flag", []string{"-nope", "catalog"}, "flag provided but not defined: -nope"},
		{"unknown command flag", []string{"catalog", "-wait"}, "flag provided but not defined: -wait"},
		{"too few arguments", []string{"provision", "i", "sqs"}, "want 3 argument(s), got 2\nusage: osb provision <instance-id> <service> <plan>"},
		{"too many arguments", []string{"deprovision", "i", "j"}, "want 1 argument(s), got 2"},
		{"bad output", []string{"catalog", "-o", "yaml"}, `-o must be table, json or secret, not "yaml"`},
		{"secret output elsewhere", []string{"catalog", "-o", "secret"}, "-o secret is only for bind and get-binding"},
		{"bad -p", []string{"provision", "i", "sqs", "standard", "-p", "novalue"}, "want key=value"},
		{"bad -params", []string{"provision", "i", "sqs", "standard", "-params", `["x"]`}, "-params is not a JSON object"},
		{"bad -context", []string{"provision", "i", "sqs", "standard", "-context", `x`}, "-context is not a JSON object"},
		{"half a target", []string{"unbind", "i", "b", "-service", "sqs"}, "give both -service and -plan, or neither"},
		{"nothing to update", []string{"update", "i"}, "nothing to update"},
		{"bad timeout", []string{"catalog", "-timeout", "0s"}, "-timeout must be positive"},
	} {
		r := osb(t, srv, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.reason, r.code, r.stderr, tc.stderr)
		}
	}
	r := osbEnv(t, nil, "catalog").must(t, 2)
	contains(t, "no URL", r.stderr, "no broker URL: give -url or set OSB_URL")

	r = osbEnv(t, nil, "-h").must(t, 0)
	contains(t, "help", r.stdout, "commands:", "provision", "-password")
	r = osbEnv(t, nil, "bind", "-h").must(t, 0)
	contains(t, "bind -h", r.stdout, "usage: osb bind <instance-id> <binding-id>", "-secret-name", "-wait")
}

// TestFlagPlacement checks that flags may come before, between and after
// the positional arguments, global flags after the command too, and that
// "--" ends the flags.
func TestFlagPlacement(t *testing.T) {
	t.Parallel()
	srv, mem := newBroker(t, brokertest.MemoryOptions{})
	osbEnv(t, nil, "provision", "-url", srv.URL, "a", "-user", testUser, "sqs", "-password", testPassword, "standard", "-p", "QueueName=x").must(t, 0)
	osbEnv(t, nil, "-url", srv.URL, "-user", testUser, "-password", testPassword, "provision", "-p", "QueueName=y", "--", "-b", "sqs", "standard").must(t, 0)
	if diff := cmp.Diff([]string{"-b", "a"}, mem.InstanceIDs()); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
}

func TestSecretOutput(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})
	osb(t, srv, "provision", "i", "sqs", "standard").must(t, 0)

	r := osb(t, srv, "bind", "i", "os-blog-sqs-binding", "-o", "secret").must(t, 0)
	creds := credentials(t, srv, "i", "os-blog-sqs-binding")
	want := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: os-blog-sqs-binding\ntype: Opaque\nstringData:\n" +
		`  password: "` + creds["password"].(string) + "\"\n" +
		`  username: "` + creds["username"].(string) + "\"\n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("bind -o secret (-want +got):\n%s", diff)
	}
	contains(t, "progress on stderr", r.stderr, "bind os-blog-sqs-binding to i: 201 Created")

	r = osb(t, srv, "get-binding", "i", "os-blog-sqs-binding", "-o", "secret", "-secret-name", "sqs-creds", "-namespace", "apps").must(t, 0)
	contains(t, "get-binding -o secret", r.stdout, "  name: sqs-creds\n  namespace: apps\n")

	r = osb(t, srv, "get-binding", "i", "os-blog-sqs-binding", "-o", "json").must(t, 0)
	var b brokertest.Binding
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(creds, b.Credentials); diff != "" {
		t.Errorf("get-binding -o json (-want +got):\n%s", diff)
	}
}

// TestWriteSecret checks the manifest for the example broker's keys and
// for values that YAML would misread unquoted.
func TestWriteSecret(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := writeSecret(&buf, "os-blog-sqs-binding", "", map[string]any{
		"QueueURL":              "http://127.0.0.1:5000/123456789012/brokerkit-q",
		"QueueARN":              "arn:aws:sqs:us-east-1:123456789012:brokerkit-q",
		"QueueName":             "brokerkit-q",
		"AWS_ACCESS_KEY_ID":     "AKIAEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "a/b+c: #d\n\"e\"",
		"AWS_REGION":            "us-east-1",
		"Port":                  json.Number("5432"),
		"Enabled":               true,
		"yes":                   "no",
		"weird key":             "<&>",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: v1
kind: Secret
metadata:
  name: os-blog-sqs-binding
type: Opaque
stringData:
  AWS_ACCESS_KEY_ID: "AKIAEXAMPLE"
  AWS_REGION: "us-east-1"
  AWS_SECRET_ACCESS_KEY: "a/b+c: #d\n\"e\""
  Enabled: "true"
  Port: "5432"
  QueueARN: "arn:aws:sqs:us-east-1:123456789012:brokerkit-q"
  QueueName: "brokerkit-q"
  QueueURL: "http://127.0.0.1:5000/123456789012/brokerkit-q"
  "weird key": "<&>"
  "yes": "no"
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
}

// TestPasswordNeverPrinted runs commands that succeed, fail and print
// usage, and checks that the password appears in no output.
func TestPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{})
	flags := []string{"-url", srv.URL, "-user", testUser, "-password", testPassword}
	for _, args := range [][]string{
		{"catalog"},
		{"catalog", "-o", "json"},
		{"provision", "i", "sqs", "standard", "-o", "json"},
		{"provision", "i", "sqs", "fifo"},
		{"bind", "i", "b", "-o", "json"},
		{"get-instance", "i"},
		{"nope"},
		{"-h"},
		{"provision", "-h"},
		{"provision", "x"},
	} {
		r := osbEnv(t, nil, append(append([]string{}, flags...), args...)...)
		if strings.Contains(r.stdout+r.stderr, testPassword) {
			t.Errorf("%v printed the password:\n%s\n%s", args, r.stdout, r.stderr)
		}
	}
	r := osbEnv(t, map[string]string{"OSB_URL": srv.URL, "OSB_USER": testUser, "OSB_PASSWORD": testPassword}, "catalog", "-h")
	if strings.Contains(r.stdout+r.stderr, testPassword) {
		t.Errorf("-h printed the password from the environment:\n%s", r.stdout)
	}
}

// TestContextCancel checks that an interrupted -wait ends with exit 1.
func TestContextCancel(t *testing.T) {
	t.Parallel()
	srv, _ := newBroker(t, brokertest.MemoryOptions{Async: true, PollsToComplete: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-url", srv.URL, "-user", testUser, "-password", testPassword, "provision", "i", "sqs", "standard", "-wait"},
		env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, pollInterval: 10 * time.Millisecond})
	if code != 1 || !strings.Contains(stderr.String(), `state still "in progress"`) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("returned before the interruption")
	}
}
