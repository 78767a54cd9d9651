package provisionertest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"

	"github.com/brokerkit/brokerkit/provisioner/provisionertest"
)

// A stack that takes ten minutes by a fake clock, and one whose queue
// fails, driven with the real SDK client.
func Example() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f := provisionertest.New(provisionertest.Options{
		Clock: func() time.Time { return now },
		Script: func(op provisionertest.Op) provisionertest.Script {
			switch {
			case op.Action == "DeleteStack":
				return provisionertest.Script{} // deletes finish at once
			case op.StackName == "broken":
				return provisionertest.Script{Delay: time.Minute, RollbackDelay: 2 * time.Minute, Fail: true, FailedResources: []provisionertest.ResourceFailure{
					{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "Access denied for sqs:CreateQueue"},
					{LogicalID: "Topic", Type: "AWS::SNS::Topic"},
				}}
			}
			return provisionertest.Script{Delay: 10 * time.Minute, Outputs: map[string]string{"QueueURL": "https://sqs.example/q"}}
		},
	})
	srv := httptest.NewServer(f) // or provisionertest.NewServer(t, opts) in a test
	defer srv.Close()
	client := cloudformation.NewFromConfig(f.Config(srv.URL))
	ctx := context.Background()

	status := func(name string) string {
		out, err := client.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode() + ": " + ae.ErrorMessage()
		} else if err != nil {
			panic(err)
		}
		s := out.Stacks[0]
		return strings.TrimSpace(fmt.Sprintf("%s %s", s.StackStatus, aws.ToString(s.StackStatusReason)))
	}

	for _, name := range []string{"db", "broken"} {
		if _, err := client.CreateStack(ctx, &cloudformation.CreateStackInput{
			StackName: aws.String(name), TemplateBody: aws.String(`{"Resources":{}}`),
		}); err != nil {
			panic(err)
		}
	}
	fmt.Println("db:", status("db"))
	now = now.Add(time.Minute)
	fmt.Println("broken:", status("broken"))
	now = now.Add(9 * time.Minute)
	fmt.Println("db:", status("db"))
	fmt.Println("broken:", status("broken"))

	// The root cause of a finished rollback is in the events only.
	events, err := client.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String("broken")})
	if err != nil {
		panic(err)
	}
	for i := len(events.StackEvents) - 1; i >= 0; i-- { // oldest first
		e := events.StackEvents[i]
		if strings.HasSuffix(string(e.ResourceStatus), "_FAILED") {
			fmt.Printf("root cause: %s %s: %s\n", aws.ToString(e.LogicalResourceId), e.ResourceStatus, aws.ToString(e.ResourceStatusReason))
			break
		}
	}

	_, err = client.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("db")})
	fmt.Println("delete:", err)
	fmt.Println("db:", status("db"))
	fmt.Println("calls:", f.CallsTotal())

	// Output:
	// db: CREATE_IN_PROGRESS User Initiated
	// broken: ROLLBACK_IN_PROGRESS The following resource(s) failed to create: [Queue, Topic]. Rollback requested by user.
	// db: CREATE_COMPLETE
	// broken: ROLLBACK_COMPLETE
	// root cause: Queue CREATE_FAILED: Access denied for sqs:CreateQueue
	// delete: <nil>
	// db: ValidationError: Stack with id db does not exist
	// calls: 9
}
