package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// EnvRequireMoto set to 1 turns a missing moto_server from a skip into a
// failure, as for the library's tests against moto.
const EnvRequireMoto = "BROKERKIT_REQUIRE_MOTO"

// TestDemo runs the whole demo: moto_server, the example broker, and the
// walkthrough over HTTP. It needs moto_server on PATH (or
// BROKERKIT_MOTO_ENDPOINT) and the go command.
func TestDemo(t *testing.T) {
	opts := options{MotoEndpoint: os.Getenv(EnvMotoEndpoint), Timeout: 4 * time.Minute}
	if opts.MotoEndpoint == "" {
		if _, err := exec.LookPath("moto_server"); err != nil {
			if os.Getenv(EnvRequireMoto) == "1" {
				t.Fatalf("moto_server not found on PATH and %s=1: install moto (pip install 'moto[server]') or set %s", EnvRequireMoto, EnvMotoEndpoint)
			}
			t.Skipf("moto_server not found on PATH; the demo is skipped (set %s=1 to make this a failure)", EnvRequireMoto)
		}
	}
	if testing.Short() {
		t.Skip("the demo takes about 15 seconds; skipped with -short")
	}
	// logs is written by the copy goroutines of both children (moto and
	// the broker), each through a prefixWriter of its own: it needs its
	// own lock.
	var out bytes.Buffer
	var logs lockedBuffer
	if testing.Verbose() {
		opts.Logs = &logs
	}
	err := run(context.Background(), &out, opts)
	if err != nil {
		t.Fatalf("demo: %v\noutput:\n%s\nlogs:\n%s", err, out.String(), logs.String())
	}
	got := out.String()
	for _, want := range []string{
		"GET /v2/catalog: 200 OK",
		"PUT /v2/service_instances/opensource-blog-sqs-demo?accepts_incomplete=true: 202 Accepted",
		"GET .../last_operation: succeeded",
		"aws cloudformation describe-stacks: brokerkit",
		"PUT /v2/service_instances/opensource-blog-sqs-demo/service_bindings/os-blog-sqs-binding: 202 Accepted",
		"GET .../service_bindings/os-blog-sqs-binding/last_operation: succeeded",
		"GET /v2/service_instances/opensource-blog-sqs-demo/service_bindings/os-blog-sqs-binding: 200 OK",
		"kind: Secret",
		"name: os-blog-sqs-binding",
		`QueueURL: "<redacted>"`,
		`QueueARN: "<redacted>"`,
		`SecretAccessKey: "<redacted>"`,
		`AccessKeyId: "<redacted>"`,
		": the body matches",
		"DELETE /v2/service_instances/opensource-blog-sqs-demo/service_bindings/os-blog-sqs-binding: 202 Accepted",
		"no live stack named brokerkit* left",
		"every step succeeded",
		"stopped the broker",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, got)
		}
	}
	// The Secret's values are printed redacted: no access key, and no
	// stringData line with anything but <redacted>.
	for _, line := range regexp.MustCompile(`(?m)^ +(AWS_\w+|Queue\w+|AccessKeyId|SecretAccessKey|User\w+|Region): .*$`).FindAllString(got, -1) {
		if !strings.HasSuffix(line, `: "<redacted>"`) {
			t.Errorf("a Secret value is printed: %q", line)
		}
	}
	if regexp.MustCompile(`AKIA[A-Z0-9]{12,}`).MatchString(got) {
		t.Errorf("an access key ID is printed:\n%s", got)
	}
}

// TestMissingMoto checks the message and that nothing is left behind when
// moto_server is not on PATH.
func TestMissingMoto(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), &out, options{MotoServer: "brokerkit-no-such-moto-server"})
	if err == nil {
		t.Fatal("run succeeded without moto_server")
	}
	for _, want := range []string{"brokerkit-no-such-moto-server not found on PATH", "pip install 'moto[server]'", EnvMotoEndpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestBuildFailure checks that a module without the example broker gives
// the go command's message and says what is missing.
func TestBuildFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/go.mod", []byte("module example.com/notbrokerkit\n\ngo 1.26\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := buildBroker(context.Background(), "go", dir, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "go build ./examples/awsbroker") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("buildBroker in a module without the example: %v", err)
	}
}

func TestRedactedSecret(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	writeRedactedSecret(&b, "os-blog-sqs-binding", "default", map[string]any{
		"QueueURL": "http://127.0.0.1:5000/123456789012/q", "QueueARN": "arn:aws:sqs:us-east-1:123456789012:q",
		"AWS_SECRET_ACCESS_KEY": "s3cr3t", "yes": "x", "odd key": 1,
	})
	want := `apiVersion: v1
kind: Secret
metadata:
  name: os-blog-sqs-binding
  namespace: default
type: Opaque
stringData:
  AWS_SECRET_ACCESS_KEY: "<redacted>"
  QueueARN: "<redacted>"
  QueueURL: "<redacted>"
  "odd key": "<redacted>"
  "yes": "<redacted>"
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
}

// lockedBuffer is a bytes.Buffer for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPrefixWriter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := &prefixWriter{w: &out, prefix: "moto| "}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		_, _ = w.Write([]byte(s))
	}
	if diff := cmp.Diff("moto| one\nmoto| two\n", out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
