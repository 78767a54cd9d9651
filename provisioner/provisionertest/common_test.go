package provisionertest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

const template = `{"Resources":{"Queue":{"Type":"AWS::SQS::Queue"}}}`

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fake starts a fake and returns it with a real SDK client for it.
func fake(t testing.TB, opts provisionertest.Options) (*provisionertest.CloudFormation, *cloudformation.Client) {
	t.Helper()
	f, srv := provisionertest.NewServer(t, opts)
	return f, cloudformation.NewFromConfig(f.Config(srv.URL))
}

func create(t *testing.T, c *cloudformation.Client, name string, mod ...func(*cloudformation.CreateStackInput)) string {
	t.Helper()
	in := &cloudformation.CreateStackInput{StackName: aws.String(name), TemplateBody: aws.String(template)}
	for _, m := range mod {
		m(in)
	}
	out, err := c.CreateStack(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateStack %s: %v", name, err)
	}
	return aws.ToString(out.StackId)
}

func describe(t *testing.T, c *cloudformation.Client, nameOrID string) types.Stack {
	t.Helper()
	out, err := c.DescribeStacks(context.Background(), &cloudformation.DescribeStacksInput{StackName: aws.String(nameOrID)})
	if err != nil {
		t.Fatalf("DescribeStacks %s: %v", nameOrID, err)
	}
	if len(out.Stacks) != 1 {
		t.Fatalf("DescribeStacks %s: %d stacks; want 1", nameOrID, len(out.Stacks))
	}
	return out.Stacks[0]
}

// wantStatus fails t unless the stack has status and reason.
func wantStatus(t *testing.T, c *cloudformation.Client, nameOrID string, status types.StackStatus, reason string) types.Stack {
	t.Helper()
	s := describe(t, c, nameOrID)
	if s.StackStatus != status || aws.ToString(s.StackStatusReason) != reason {
		t.Fatalf("stack %s: status %s (%q); want %s (%q)", nameOrID, s.StackStatus, aws.ToString(s.StackStatusReason), status, reason)
	}
	return s
}

// events returns all of a stack's events through the SDK paginator, as
// returned (newest first).
func events(t *testing.T, c *cloudformation.Client, nameOrID string) []types.StackEvent {
	t.Helper()
	var all []types.StackEvent
	p := cloudformation.NewDescribeStackEventsPaginator(c, &cloudformation.DescribeStackEventsInput{StackName: aws.String(nameOrID)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("DescribeStackEvents %s: %v", nameOrID, err)
		}
		all = append(all, out.StackEvents...)
	}
	return all
}

// apiError fails t unless err is a smithy.APIError with code and message.
func apiError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T); want an API error %s", err, err, code)
	}
	if ae.ErrorCode() != code || (message != "" && ae.ErrorMessage() != message) {
		t.Fatalf("error %s %q; want %s %q", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
}

// eventLine is an event without its IDs and timestamp, for diffs.
type eventLine struct{ Logical, Type, Status, Reason, Token string }

func lines(evs []types.StackEvent) []eventLine {
	out := make([]eventLine, len(evs))
	for i, e := range evs {
		out[i] = eventLine{aws.ToString(e.LogicalResourceId), aws.ToString(e.ResourceType), string(e.ResourceStatus),
			aws.ToString(e.ResourceStatusReason), aws.ToString(e.ClientRequestToken)}
	}
	return out
}
