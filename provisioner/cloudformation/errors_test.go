package cloudformation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/provisioner"
)

// class is how an error is judged: retryable, or terminal with a reason.
type class string

const (
	cRetry   class = "retryable"
	cInvalid class = "terminal invalid"
	cRefused class = "terminal refused"
	cStop    class = "not retryable, not terminal"
)

func classOf(err error) class {
	var te *provisioner.TerminalError
	switch {
	case errors.As(err, &te) && te.Reason == provisioner.ReasonInvalid:
		return cInvalid
	case errors.As(err, &te) && te.Reason == provisioner.ReasonRefused:
		return cRefused
	case provisioner.IsRetryable(err):
		return cRetry
	}
	return cStop
}

func TestClassify(t *testing.T) {
	tests := []struct {
		reason string
		err    error
		want   class
	}{
		{"Throttling (CloudFormation's rate error) is retried", apiErr("Throttling", "Rate exceeded", smithy.FaultClient), cRetry},
		{"ThrottlingException is retried", apiErr("ThrottlingException", "x", smithy.FaultClient), cRetry},
		{"RequestLimitExceeded is retried", apiErr("RequestLimitExceeded", "x", smithy.FaultClient), cRetry},
		{"InternalFailure (a server fault) is retried", apiErr("InternalFailure", "x", smithy.FaultServer), cRetry},
		{"HTTP 500 without an API error is retried", httpError(500), cRetry},
		{"HTTP 503 is retried", httpError(503), cRetry},
		{"LimitExceededException (a quota) is refused", &types.LimitExceededException{Message: aws.String("Limit on stacks")}, cRefused},
		{"LimitExceededException as a generic code is refused", apiErr("LimitExceededException", "x", smithy.FaultClient), cRefused},
		{"InsufficientCapabilitiesException is invalid", &types.InsufficientCapabilitiesException{Message: aws.String("Requires capabilities : [CAPABILITY_IAM]")}, cInvalid},
		{"a template error is invalid", validationError("Template format error: unresolved resource dependencies"), cInvalid},
		{"a parameter error is invalid", validationError("Parameters: [Retention] must have values"), cInvalid},
		{"a state refusal is refused", validationError("Stack:arn is in UPDATE_ROLLBACK_FAILED state and can not be updated."), cRefused},
		{"termination protection is refused", validationError("Stack [x] cannot be deleted while TerminationProtection is enabled"), cRefused},
		{"TokenAlreadyExistsException is refused", apiErr("TokenAlreadyExistsException", "x", smithy.FaultClient), cRefused},
		{"AccessDenied (a missing permission: waiting does not grant it) is refused", apiErr("AccessDenied", "User: arn:aws:sts::1:assumed-role/b/s is not authorized to perform: cloudformation:CreateStack", smithy.FaultClient), cRefused},
		{"AccessDeniedException is refused", apiErr("AccessDeniedException", "no", smithy.FaultClient), cRefused},
		{"ExpiredToken (credentials are refreshed) is retried", apiErr("ExpiredToken", "expired", smithy.FaultClient), cRetry},
		{"a network error is retried", errors.New("dial tcp: connection refused"), cRetry},
		{"a cancelled context is not retried", fmt.Errorf("op: %w", context.Canceled), cStop},
	}
	for _, tt := range tests {
		got := classify(tt.err, "create stack x", nil)
		if c := classOf(got); c != tt.want {
			t.Errorf("%s: classify(%v) is %s, want %s", tt.reason, tt.err, c, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%s: the classified error does not wrap the SDK's", tt.reason)
		}
	}
}

func TestClassifyMessage(t *testing.T) {
	err := classify(validationError("Parameter 'Password' value hunter22 must match pattern"), "create stack brokerkit-q-1", []string{"hunter22", "12"})
	got := err.Error()
	want := "cloudformation: create stack brokerkit-q-1: ValidationError: Parameter 'Password' value *** must match pattern"
	if got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Errorf("the redacted error does not unwrap to the API error")
	}
}

func TestRedact(t *testing.T) {
	got := redact("a abcdef abc x", []string{"abc", "abcdef", "x", ""})
	if want := "a *** *** x"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}

func TestNewRetryer(t *testing.T) {
	r := NewRetryer()
	tests := []struct {
		err  error
		want bool
	}{
		{&types.LimitExceededException{Message: aws.String("quota")}, false},
		{apiErr("LimitExceededException", "quota", smithy.FaultClient), false},
		{apiErr("Throttling", "Rate exceeded", smithy.FaultClient), true},
		{apiErr("RequestLimitExceeded", "x", smithy.FaultClient), true},
		{httpError(500), true},
		{validationError("bad template"), false},
	}
	for _, tt := range tests {
		if got := r.IsErrorRetryable(tt.err); got != tt.want {
			t.Errorf("IsErrorRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// queryError writes a Query-protocol error as CloudFormation does.
func queryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, msg)
}

func testConfig(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   awshttp.NewBuildableClient(),
	}
}

// TestNewClientRateLimitsEveryAttempt: with a limiter holding two tokens
// that never refill, a call whose attempts are all throttled reaches the
// server twice: the retries wait on the limiter too.
func TestNewClientRateLimitsEveryAttempt(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		queryError(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
	}))
	defer srv.Close()
	l := rate.NewLimiter(0, 2)
	c := NewClient(testConfig(srv.URL), l, func(o *cfn.Options) {
		o.Retryer = fastRetryer(5)
	})
	// A deadline makes Wait fail at once rather than block forever.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.DescribeStacks(ctx, &cfn.DescribeStacksInput{})
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("err = %v, want the rate limiter's refusal", err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("server saw %d attempts, want 2 (one per limiter token)", n)
	}
}

// TestNewClientDoesNotRetryQuota: LimitExceededException reaches the
// server once; Throttling is retried.
func TestNewClientDoesNotRetryQuota(t *testing.T) {
	for _, tt := range []struct {
		code string
		want int32
	}{{"LimitExceededException", 1}, {"Throttling", 3}} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			queryError(w, http.StatusBadRequest, tt.code, "x")
		}))
		c := NewClient(testConfig(srv.URL), nil, func(o *cfn.Options) { o.Retryer = fastRetryer(3) })
		_, err := c.CreateStack(context.Background(), &cfn.CreateStackInput{StackName: aws.String("s"), TemplateBody: aws.String("{}")})
		srv.Close()
		if err == nil {
			t.Errorf("%s: no error", tt.code)
		}
		if n := hits.Load(); n != tt.want {
			t.Errorf("%s: %d attempts, want %d", tt.code, n, tt.want)
		}
	}
	// And NewRetryer itself, with its default backoff, on the quota:
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		queryError(w, http.StatusBadRequest, "LimitExceededException", "Limit exceeded")
	}))
	defer srv.Close()
	_, err := NewClient(testConfig(srv.URL), nil).CreateStack(context.Background(), &cfn.CreateStackInput{StackName: aws.String("s"), TemplateBody: aws.String("{}")})
	if classOf(classify(err, "create", nil)) != cRefused || hits.Load() != 1 {
		t.Errorf("NewClient on a quota: %d attempts, %v; want 1 attempt, refused", hits.Load(), err)
	}
}
