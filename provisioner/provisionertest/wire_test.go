package provisionertest_test

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// post sends one Query protocol call to h and returns the recorded answer.
func post(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	if form.Get("Version") == "" {
		form.Set("Version", "2010-05-15")
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestWire pins the exact bytes of a conversation, so a change to the wire
// format shows in review. Run with -update to accept a change.
func TestWire(t *testing.T) {
	clk := newClock()
	f := provisionertest.New(provisionertest.Options{
		Clock: clk.Now,
		Script: func(op provisionertest.Op) provisionertest.Script {
			if op.Action == "CreateStack" {
				return provisionertest.Script{Delay: time.Minute, Fail: true,
					FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "a <b> & 'c'"}}}
			}
			return provisionertest.Script{}
		},
		Fault: func(c provisionertest.Call) *provisionertest.Fault {
			if c.Action == "ListStacks" {
				return provisionertest.Throttling()
			}
			return nil
		},
	})
	calls := []url.Values{
		{"Action": {"CreateStack"}, "StackName": {"wire"}, "TemplateBody": {template}, "ClientRequestToken": {"tok-1"},
			"Parameters.member.1.ParameterKey": {"Name"}, "Parameters.member.1.ParameterValue": {"x&y"},
			"Tags.member.1.Key": {"team"}, "Tags.member.1.Value": {"blue"}, "Capabilities.member.1": {"CAPABILITY_IAM"}},
		{"Action": {"CreateStack"}, "StackName": {"wire"}, "TemplateBody": {template}},
		{"Action": {"DescribeStacks"}, "StackName": {"wire"}},
		{"Action": {"DescribeStackEvents"}, "StackName": {"wire"}},
		{"Action": {"UpdateStack"}, "StackName": {"wire"}, "UsePreviousTemplate": {"true"}},
		{"Action": {"DeleteStack"}, "StackName": {"wire"}},
		{"Action": {"DescribeStacks"}, "StackName": {"wire"}},
		{"Action": {"ListStacks"}},
		{"Action": {"CreateChangeSet"}},
	}
	var got strings.Builder
	for i, form := range calls {
		if i == 3 {
			clk.Advance(time.Minute)
		}
		rec := post(f, form)
		fmt.Fprintf(&got, "=> %s\n<= %d %s x-amzn-RequestId=%s\n%s\n\n", form.Encode(), rec.Code,
			rec.Header().Get("Content-Type"), rec.Header().Get("x-amzn-RequestId"), rec.Body)
	}
	golden := filepath.Join("testdata", "wire.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("wire conversation (-want +got):\n%s", diff)
	}
}

func TestMalformedCalls(t *testing.T) {
	t.Parallel()
	f := provisionertest.New(provisionertest.Options{})
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"unknown action", url.Values{"Action": {"DetectStackDrift"}}, 400, "<Code>InvalidAction</Code>"},
		{"no action", url.Values{}, 400, "<Code>MissingAction</Code>"},
		{"no stack name", url.Values{"Action": {"DescribeStackEvents"}}, 400, "<Code>ValidationError</Code>"},
		{"bad status filter", url.Values{"Action": {"ListStacks"}, "StackStatusFilter.member.1": {"DONE"}}, 400, "<Code>ValidationError</Code>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(f, tt.form)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.code) || !strings.Contains(rec.Body.String(), "<Type>Sender</Type>") {
				t.Errorf("%d %s; want %d with %s", rec.Code, rec.Body, tt.status, tt.code)
			}
		})
	}
	if got := f.Calls(); got["DetectStackDrift"] != 1 || got[""] != 1 {
		t.Errorf("calls %v", got)
	}
}

// BenchmarkDescribeStacks10kHandler is BenchmarkDescribeStacks10k without
// the SDK and HTTP: the fake's own cost of a 100-stack page.
func BenchmarkDescribeStacks10kHandler(b *testing.B) {
	f := provisionertest.New(provisionertest.Options{DefaultDelay: time.Hour})
	for i := range 10000 {
		if rec := post(f, url.Values{"Action": {"CreateStack"}, "StackName": {fmt.Sprintf("stack-%05d", i)}, "TemplateBody": {template}}); rec.Code != 200 {
			b.Fatal(rec.Body)
		}
	}
	var token string
	b.ReportAllocs()
	for b.Loop() {
		form := url.Values{"Action": {"DescribeStacks"}}
		if token != "" {
			form.Set("NextToken", token)
		}
		rec := post(f, form)
		body := rec.Body.String()
		token = ""
		if i := strings.Index(body, "<NextToken>"); i >= 0 {
			token = body[i+len("<NextToken>") : strings.Index(body, "</NextToken>")]
		}
	}
}
