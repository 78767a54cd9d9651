package mototest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"
)

func TestMain(m *testing.M) { Main(m) }

func TestEndpointAnswersAndIsShared(t *testing.T) {
	e := Endpoint(t)
	if e == "" || strings.HasSuffix(e, "/") {
		t.Fatalf("Endpoint = %q, want a URL without trailing slash", e)
	}
	if again := Endpoint(t); again != e {
		t.Errorf("second Endpoint = %q, want the same server %q", again, e)
	}
	resp, err := http.Get(e + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /moto-api/ = %s", resp.Status)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	t.Setenv(EnvEndpoint, "http://127.0.0.1:1/")
	if got, want := Endpoint(t), "http://127.0.0.1:1"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
}

// TestConfigAndReset creates a stack through Config, resets the server
// and sees the stack gone. It must not run in parallel with other tests
// of this package.
func TestConfigAndReset(t *testing.T) {
	e := Endpoint(t)
	ctx := context.Background()
	c := cfn.NewFromConfig(Config(t, e))
	const body = `{"Resources":{"Q":{"Type":"AWS::SQS::Queue"}}}`
	if _, err := c.CreateStack(ctx, &cfn.CreateStackInput{StackName: aws.String("mototest-reset"), TemplateBody: aws.String(body)}); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	if _, err := c.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String("mototest-reset")}); err != nil {
		t.Fatalf("DescribeStacks before reset: %v", err)
	}
	Reset(t, e)
	_, err := c.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: aws.String("mototest-reset")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" || !strings.Contains(ae.ErrorMessage(), "does not exist") {
		t.Errorf("DescribeStacks after reset: err = %v, want a ValidationError saying the stack does not exist", err)
	}
}

func TestConfigIgnoresEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAREAL")
	cfg := Config(t, "http://127.0.0.1:1")
	if cfg.Region != Region {
		t.Errorf("Region = %q, want %q", cfg.Region, Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID == "AKIAREAL" {
		t.Error("Config took credentials from the environment")
	}
	if got := aws.ToString(cfg.BaseEndpoint); got != "http://127.0.0.1:1" {
		t.Errorf("BaseEndpoint = %q", got)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the goroutine.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestMissingSkipsOrFails(t *testing.T) {
	var r recorder
	missing(&r, false)
	if r.skipped != skipMessage || r.failed != "" {
		t.Errorf("not required: skipped %q, failed %q; want a skip with %q", r.skipped, r.failed, skipMessage)
	}
	if !strings.Contains(skipMessage, "moto_server not found on PATH") || !strings.Contains(skipMessage, "BROKERKIT_REQUIRE_MOTO=1") {
		t.Errorf("skip message %q does not say what is missing and how to require it", skipMessage)
	}
	r = recorder{}
	missing(&r, true)
	if r.failed == "" || r.skipped != "" {
		t.Errorf("required: skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 4}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "abcd" {
		t.Errorf("String = %q, want %q", got, "abcd")
	}
}

func TestStartMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := start(nil)
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("start with empty PATH: %v, want exec.ErrNotFound", err)
	}
}

// TestStartWithEnv starts a server of the test's own with moto's IAM
// checks on from the first call: a call with the dummy credentials of
// Config (no such IAM user) is refused, which the shared server accepts.
func TestStartWithEnv(t *testing.T) {
	e := Start(t, "INITIAL_NO_AUTH_ACTION_COUNT=0")
	if e == Endpoint(t) {
		t.Fatalf("Start returned the shared server %s", e)
	}
	_, err := cfn.NewFromConfig(Config(t, e)).DescribeStacks(context.Background(), &cfn.DescribeStacksInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Errorf("DescribeStacks with unknown credentials on a server checking IAM: %v, want InvalidClientTokenId", err)
	}
	if _, err := cfn.NewFromConfig(Config(t, Endpoint(t))).DescribeStacks(context.Background(), &cfn.DescribeStacksInput{}); err != nil {
		t.Errorf("DescribeStacks on the shared server: %v", err)
	}
}
