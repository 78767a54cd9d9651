package cloudformation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/provisioner"
)

// fakeAPI is an API whose methods call the function fields; a nil field
// fails the call with errUnexpected. It records the calls' inputs.
type fakeAPI struct {
	create   func(*cfn.CreateStackInput) (*cfn.CreateStackOutput, error)
	update   func(*cfn.UpdateStackInput) (*cfn.UpdateStackOutput, error)
	delete   func(*cfn.DeleteStackInput) (*cfn.DeleteStackOutput, error)
	describe func(*cfn.DescribeStacksInput) (*cfn.DescribeStacksOutput, error)
	events   func(*cfn.DescribeStackEventsInput) (*cfn.DescribeStackEventsOutput, error)

	mu    sync.Mutex
	calls []any
}

var errUnexpected = errors.New("fakeAPI: unexpected call")

func (f *fakeAPI) record(in any) {
	f.mu.Lock()
	f.calls = append(f.calls, in)
	f.mu.Unlock()
}

func (f *fakeAPI) CreateStack(_ context.Context, in *cfn.CreateStackInput, _ ...func(*cfn.Options)) (*cfn.CreateStackOutput, error) {
	f.record(in)
	if f.create == nil {
		return nil, errUnexpected
	}
	return f.create(in)
}

func (f *fakeAPI) UpdateStack(_ context.Context, in *cfn.UpdateStackInput, _ ...func(*cfn.Options)) (*cfn.UpdateStackOutput, error) {
	f.record(in)
	if f.update == nil {
		return nil, errUnexpected
	}
	return f.update(in)
}

func (f *fakeAPI) DeleteStack(_ context.Context, in *cfn.DeleteStackInput, _ ...func(*cfn.Options)) (*cfn.DeleteStackOutput, error) {
	f.record(in)
	if f.delete == nil {
		return nil, errUnexpected
	}
	return f.delete(in)
}

func (f *fakeAPI) DescribeStacks(_ context.Context, in *cfn.DescribeStacksInput, _ ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error) {
	f.record(in)
	if f.describe == nil {
		return nil, errUnexpected
	}
	return f.describe(in)
}

func (f *fakeAPI) DescribeStackEvents(_ context.Context, in *cfn.DescribeStackEventsInput, _ ...func(*cfn.Options)) (*cfn.DescribeStackEventsOutput, error) {
	f.record(in)
	if f.events == nil {
		return nil, errUnexpected
	}
	return f.events(in)
}

// callsOf returns the recorded inputs of type T.
func callsOf[T any](f *fakeAPI) []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []T
	for _, c := range f.calls {
		if t, ok := c.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// API errors as the SDK's deserializers produce them.
func validationError(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationError", Message: msg, Fault: smithy.FaultClient}
}

func apiErr(code, msg string, fault smithy.ErrorFault) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault}
}

func httpError(status int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      errors.New("unexpected EOF"),
	}}
}

func notFound(name string) error { return validationError("Stack with id " + name + " does not exist") }

// Fixtures.
const (
	testServiceID = "svc-1"
	testPlanID    = "plan-small"
	testPlan2ID   = "plan-large"
	testStackID   = "arn:aws:cloudformation:us-east-1:123456789012:stack/brokerkit-queue-inst-1/0000"
	testBody      = `{"Resources":{}}`
	testBody2     = `{"Resources":{},"Description":"v2"}`
)

func testCatalog() *catalog.Index {
	x, err := catalog.NewIndex(catalog.Catalog{Services: []catalog.Service{{
		ID: testServiceID, Name: "queue", Description: "a queue", Bindable: true,
		Plans: []catalog.Plan{
			{ID: testPlanID, Name: "small", Description: "small"},
			{ID: testPlan2ID, Name: "large", Description: "large"},
		},
	}}})
	if err != nil {
		panic(err)
	}
	return x
}

func testTemplates() StaticTemplates {
	return StaticTemplates{
		testPlanID: {
			Body: testBody,
			Parameters: map[string]ParameterSpec{
				"Retention": {Type: "Number"},
				"Label":     {Type: "String"},
				"Password":  {Type: "String", NoEcho: true},
				"Subnets":   {Type: "List<AWS::EC2::Subnet::Id>"},
				"Size":      {Type: "String"},
			},
			FixedParameters: map[string]string{"Size": "small"},
			Capabilities:    []string{"CAPABILITY_IAM"},
		},
		testPlan2ID: {
			ID:   "large-v2",
			Body: testBody2,
			Parameters: map[string]ParameterSpec{
				"Retention": {Type: "Number"},
				"Label":     {Type: "String"},
				"Size":      {Type: "String"},
				"Replicas":  {Type: "Number"},
			},
			FixedParameters: map[string]string{"Size": "large"},
		},
	}
}

func newTestStacks(f *fakeAPI, optFns ...func(*Options)) *Stacks {
	s, err := New(Options{Client: f, Catalog: testCatalog(), Templates: testTemplates(), BrokerID: "broker-1"}, optFns...)
	if err != nil {
		panic(err)
	}
	return s
}

var opCreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testOp(kind provisioner.Kind) *provisioner.Operation {
	return &provisioner.Operation{ID: "op-" + string(kind), Kind: kind, State: provisioner.InProgress, CreatedAt: opCreatedAt}
}

func testInstance() *provisioner.Instance {
	return &provisioner.Instance{ID: "inst-1", ServiceID: testServiceID, PlanID: testPlanID, Resource: testStackID}
}

func stackOf(status types.StackStatus, mods ...func(*types.Stack)) *cfn.DescribeStacksOutput {
	st := types.Stack{
		StackId:      aws.String(testStackID),
		StackName:    aws.String("brokerkit-queue-inst-1"),
		StackStatus:  status,
		CreationTime: aws.Time(opCreatedAt.Add(-time.Hour)),
		Tags: []types.Tag{
			{Key: aws.String(TagInstanceID), Value: aws.String("inst-1")},
			{Key: aws.String(TagTemplateID), Value: aws.String("tmpl-old")},
		},
	}
	for _, m := range mods {
		m(&st)
	}
	return &cfn.DescribeStacksOutput{Stacks: []types.Stack{st}}
}

func withParams(kv ...string) func(*types.Stack) {
	return func(st *types.Stack) {
		for i := 0; i < len(kv); i += 2 {
			st.Parameters = append(st.Parameters, types.Parameter{ParameterKey: aws.String(kv[i]), ParameterValue: aws.String(kv[i+1])})
		}
	}
}

// fastRetryer is NewRetryer with n attempts, no backoff and no retry-token
// bucket.
func fastRetryer(n int) aws.Retryer {
	return newRetryer(func(o *retry.StandardOptions) {
		o.MaxAttempts = n
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
