package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/internal/osbspec"
)

// syncBuffer is a bytes.Buffer safe for the program's goroutines and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnce runs the program to its end with args and env only, and
// returns its exit code, stdout and stderr.
func runOnce(t *testing.T, args []string, env map[string]string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := program{Args: args, Getenv: envOf(env), Stdout: &stdout, Stderr: &stderr}.run(context.Background())
	return code, stdout.String(), stderr.String()
}

func TestPrintCatalog(t *testing.T) {
	t.Parallel()
	code, out, errOut := runOnce(t, []string{"-print-catalog"}, nil)
	if code != exitOK {
		t.Fatalf("-print-catalog exited %d; stderr:\n%s", code, errOut)
	}
	var c catalog.Catalog
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("-print-catalog printed no catalog: %v\n%s", err, out)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the printed catalog does not validate: %v", err)
	}

	// The body of GET /v2/catalog must pass the OSB openapi.yaml.
	spec, err := osbspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/catalog", nil)
	req.Header.Set("X-Broker-API-Version", "2.17")
	if err := spec.ValidateResponse(req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, []byte(out)); err != nil {
		t.Errorf("the printed catalog breaks openapi.yaml: %v", err)
	}

	got := map[string][]string{}
	for _, s := range c.Services {
		if !s.Bindable || !s.InstancesRetrievable || !s.BindingsRetrievable {
			t.Errorf("service %s: bindable %t, instances_retrievable %t, bindings_retrievable %t; want all true",
				s.Name, s.Bindable, s.InstancesRetrievable, s.BindingsRetrievable)
		}
		for _, p := range s.Plans {
			got[s.Name] = append(got[s.Name], p.Name)
		}
	}
	want := map[string][]string{"sqs": {"standard", "fifo"}, "sns": {"topic"}, "s3": {"private"}, "dynamodb": {"ondemand"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services and plans (-want +got):\n%s", diff)
	}

	// IDs depend on the broker ID only: the same twice, others for
	// another broker ID.
	_, again, _ := runOnce(t, []string{"-print-catalog"}, nil)
	if again != out {
		t.Error("two runs printed different catalogs")
	}
	_, other, _ := runOnce(t, []string{"-print-catalog"}, map[string]string{"BROKER_ID": "other"})
	var oc catalog.Catalog
	if err := json.Unmarshal([]byte(other), &oc); err != nil {
		t.Fatal(err)
	}
	if len(oc.Services) == 0 || oc.Services[0].ID == c.Services[0].ID {
		t.Error("another broker ID gives the same service IDs")
	}
}

func TestPrintCatalogDirectory(t *testing.T) {
	t.Parallel()
	// A directory with the SQS template and its binding template only.
	dir := t.TempDir()
	for _, f := range []string{"sqs.yaml", "bindings/sqs.yaml"} {
		body, err := templatesFS.ReadFile("templates/" + f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, filepath.FromSlash(strings.Replace(f, "sqs.yaml", "queue.yaml", 1)))
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if f == "sqs.yaml" {
			body = []byte(strings.Replace(string(body), "bindings/sqs.yaml", "bindings/queue.yaml", 1))
		}
		if err := os.WriteFile(name, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runOnce(t, []string{"-print-catalog", "-templates", dir}, nil)
	if code != exitOK {
		t.Fatalf("-print-catalog -templates %s exited %d; stderr:\n%s", dir, code, errOut)
	}
	var c catalog.Catalog
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"sqs"}) {
		t.Errorf("services = %v, want [sqs]", names)
	}
}

func TestPrintCatalogErrors(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	sqs, err := templatesFS.ReadFile("templates/sqs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sqsBinding, err := templatesFS.ReadFile("templates/bindings/sqs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, []string{"-templates (BROKER_TEMPLATES)"}},
		{"no templates", func(t *testing.T) string { return write(t, map[string]string{"README.md": "hello"}) }, []string{"-templates (BROKER_TEMPLATES)"}},
		{"no specification", func(t *testing.T) string {
			return write(t, map[string]string{"bare.yaml": "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n"})
		}, []string{"-templates (BROKER_TEMPLATES)", "bare.yaml"}},
		{"not YAML", func(t *testing.T) string { return write(t, map[string]string{"broken.yaml": "a: [b\n"}) }, []string{"broken.yaml"}},
		{"two services with one name", func(t *testing.T) string {
			return write(t, map[string]string{"a.yaml": string(sqs), "b.yaml": string(sqs), "bindings/sqs.yaml": string(sqsBinding)})
		}, []string{"-templates (BROKER_TEMPLATES)", "also the name of"}},
		{"no binding template", func(t *testing.T) string {
			return write(t, map[string]string{"sqs.yaml": string(sqs)})
		}, []string{"sqs.yaml", "BindingTemplate", `"bindings/sqs.yaml" does not exist`}},
		{"a binding parameter that is no instance output", func(t *testing.T) string {
			return write(t, map[string]string{"sqs.yaml": string(sqs),
				"bindings/sqs.yaml": strings.ReplaceAll(string(sqsBinding), "QueueARN", "TopicARN")})
		}, []string{"bindings/sqs.yaml", "Parameters.TopicARN", "not an output of sqs.yaml's template"}},
		{"a plan fixing an unknown parameter", func(t *testing.T) string {
			return write(t, map[string]string{"sqs.yaml": strings.Replace(string(sqs), `FifoQueue: "true"`, `Nope: "true"`, 1), "bindings/sqs.yaml": string(sqsBinding)})
		}, []string{"sqs.yaml", "Nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runOnce(t, []string{"-print-catalog", "-templates", tt.dir(t)}, nil)
			if code == exitOK {
				t.Fatalf("exit code 0, want non-zero; stdout:\n%s", out)
			}
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (a bad -templates value)", code, exitUsage)
			}
			if out != "" {
				t.Errorf("stdout is not empty on error:\n%s", out)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not name %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestPrintCatalogOriginalTemplates: the AWS Service Broker's templates,
// as they are, load; without a BindingTemplate their plans are served but
// not bindable, and a warning says why.
func TestPrintCatalogOriginalTemplates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "catalog", "testdata", "templates", "aws-servicebroker")
	code, out, errOut := runOnce(t, []string{"-print-catalog", "-templates", dir}, nil)
	if code != exitOK {
		t.Fatalf("-print-catalog -templates %s exited %d; stderr:\n%s", dir, code, errOut)
	}
	var c catalog.Catalog
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("no catalog: %v\n%s", err, out)
	}
	if len(c.Services) != 6 {
		t.Fatalf("%d services, want the 6 templates", len(c.Services))
	}
	for _, s := range c.Services {
		for _, p := range s.Plans {
			if s.IsBindable(&p) || p.BindingRotatable {
				t.Errorf("%s/%s is bindable (rotatable %v) without a binding template", s.Name, p.Name, p.BindingRotatable)
			}
		}
	}
	if !strings.Contains(errOut, "sqs/standard: the specification has no BindingTemplate, so the plan is not bindable") {
		t.Errorf("no warning for the plans without a binding template; stderr:\n%s", errOut)
	}
}
